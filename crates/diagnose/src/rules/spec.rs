//! The controller rejected the workflow itself: an invalid spec or parameter, a
//! container whose command it cannot learn, or an error no other rule recognises.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Ctx, Detection, earliest, event_first, message, push_unique};
use crate::parse;
use crate::reasons::wording::Fact;
use crate::snapshot::NodeView;
use kit_argo_types::Phase;

/// The controller rejected the spec: failed validation, unresolved `{{variable}}`, bad
/// or missing parameter.
pub(super) fn invalid(ctx: &Ctx<'_>) -> Vec<Detection> {
    let wf = &ctx.s.workflow;
    let mut evidence = Vec::new();
    let mut step = None;
    let mut since = None;
    if wf.phase.as_ref().is_some_and(Phase::is_failed)
        && let Some(m) = wf.message.as_deref().filter(|m| parse::is_spec_error(m))
    {
        push_unique(&mut evidence, m);
    }
    for n in &wf.nodes {
        let Some(m) = n.message.as_deref() else {
            continue;
        };
        if n.failed() && parse::is_spec_error(m) && !(n.is_pod() && ctx.has_pod(n)) {
            push_unique(&mut evidence, m);
            if step.is_none() && n.name != wf.name {
                step = Some(n.display_name.clone());
            }
            since = earliest([since, n.finished_at.or(n.started_at)]);
        }
    }
    if evidence.is_empty() {
        return vec![];
    }
    for e in &ctx.workflow_events {
        if parse::is_spec_error(message(e)) {
            push_unique(&mut evidence, message(e));
            since = earliest([since, event_first(e)]);
        }
    }
    let unresolved = evidence.iter().find_map(|m| {
        let start = m.find("{{")?;
        let end = m[start..].find("}}")? + start + 2;
        Some(m[start..end].to_string())
    });
    vec![rejected(
        ctx,
        Fact::InvalidSpec { unresolved },
        step,
        evidence,
        since,
    )]
}

/// A finding about the whole workflow, which only a change of the workflow mends.
fn rejected(
    ctx: &Ctx<'_>,
    fact: Fact,
    step: Option<String>,
    evidence: Vec<String>,
    since: Option<DateTime<Utc>>,
) -> Detection {
    Detection {
        fact,
        step,
        pod: None,
        evidence,
        since: since.or(Some(ctx.s.workflow.created)),
        grace: TimeDelta::zero(),
        definitive: true,
    }
}

/// The controller ended the workflow because its status grew past MAX_WORKFLOW_SIZE
/// and could not be offloaded: a sweep of thousands of items in one workflow.
pub(super) fn too_large(ctx: &Ctx<'_>) -> Vec<Detection> {
    let wf = &ctx.s.workflow;
    let Some(message) = wf.message.as_deref() else {
        return vec![];
    };
    let Some((size, max)) = parse::parse_workflow_too_large(message) else {
        return vec![];
    };
    let fact = Fact::WorkflowTooLarge {
        workflow: wf.name.clone(),
        nodes: wf.nodes.len(),
        size,
        max,
    };
    vec![rejected(ctx, fact, None, vec![message.to_string()], None)]
}

/// Argo's emissary executor must know each container's command; without `command:` in
/// the template it asks the image's registry, and fails the step when it cannot reach it
/// (a private registry, no credentials, or no network from the controller).
pub(super) fn image_command_unknown(ctx: &Ctx<'_>) -> Vec<Detection> {
    let mut out = Vec::new();
    const SIGN: &str = "failed to look-up entrypoint/cmd for image";
    for n in &ctx.s.workflow.nodes {
        let Some(m) = n.message.as_deref().filter(|m| m.contains(SIGN)) else {
            continue;
        };
        if !n.failed() {
            continue;
        }
        let image = parse::image_in(m).unwrap_or("(unknown image)");
        out.push(Detection {
            fact: Fact::ImageCommandUnknown {
                step: n.display_name.clone(),
                image: image.to_string(),
            },
            step: Some(n.display_name.clone()),
            pod: None,
            evidence: vec![m.to_string()],
            since: n.finished_at.or(n.started_at),
            grace: TimeDelta::zero(),
            definitive: true,
        });
    }
    out
}

/// A finished, failed workflow: the failed leaf steps' messages verbatim, so the user
/// at least reads what the controller said. Kept by [`crate::suppress`] only when no
/// other finding explains the failure.
pub(super) fn step_error(ctx: &Ctx<'_>) -> Vec<Detection> {
    let wf = &ctx.s.workflow;
    if !wf.phase.as_ref().is_some_and(Phase::is_failed) {
        return vec![];
    }
    let mut evidence = Vec::new();
    let mut step = None;
    let mut since = None;
    let leaf = |n: &&NodeView| n.is_pod() || n.children.is_empty();
    for n in wf.nodes.iter().filter(|n| n.failed() && leaf(n)) {
        if let Some(m) = n.message.as_deref() {
            push_unique(&mut evidence, format!("{}: {m}", n.display_name));
            step.get_or_insert_with(|| n.display_name.clone());
            since = earliest([since, n.finished_at]);
        }
    }
    if let Some(m) = wf.message.as_deref() {
        push_unique(&mut evidence, m);
    }
    if evidence.is_empty() {
        return vec![];
    }
    let fact = Fact::StepError {
        workflow: wf.name.clone(),
        phase: wf.phase_text().to_string(),
    };
    vec![rejected(ctx, fact, step, evidence, since)]
}

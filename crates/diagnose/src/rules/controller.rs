//! Signals that the workflow controller is not doing its job: it never picked the
//! workflow up, it does not create a step's pod, or it does not record a pod's failure.

use chrono::TimeDelta;

use super::{Ctx, Detection, ago, push_unique, utc};
use crate::parse;
use crate::reasons::wording::Fact;
use crate::snapshot::NodeView;
use kit_argo_types::{LABEL_INSTANCE_ID, Phase};

/// No phase after `controller_grace`: nobody is reconciling the workflow.
pub(super) fn not_acting(ctx: &Ctx<'_>) -> Vec<Detection> {
    let wf = &ctx.s.workflow;
    // A live controller answers within a second or two: saying "watching" before that
    // would greet every healthy submission with a false alarm. Its first pass over a
    // wide loop creates every pod before it writes any status (300 pods: 13 s on the
    // stack), so pods of the workflow prove it is at work.
    if !wf.untouched() || ctx.s.now - wf.created < TimeDelta::seconds(5) || !ctx.pods.is_empty() {
        return vec![];
    }
    let age = ago(ctx.s.now - wf.created);
    let mut evidence = vec![format!(
        "workflow {} created {age} ago (creationTimestamp {}), status.phase still empty",
        wf.name,
        wf.created.to_rfc3339()
    )];
    let instance_id = wf.labels.get(LABEL_INSTANCE_ID).cloned();
    if let Some(id) = &instance_id {
        evidence.push(format!("label {LABEL_INSTANCE_ID}={id}"));
    }
    vec![Detection {
        fact: Fact::ControllerNotActing {
            workflow: wf.name.clone(),
            age,
            instance_id,
        },
        step: None,
        pod: None,
        evidence,
        since: Some(wf.created),
        grace: ctx.grace(ctx.s.config.controller_grace),
        definitive: true,
    }]
}

/// A pod failed but its workflow node is still Pending/Running, or missing: the
/// controller is not taking pod updates into account.
pub(super) fn silent_failure(ctx: &Ctx<'_>) -> Vec<Detection> {
    if ctx.s.workflow.untouched() {
        return vec![];
    }
    let mut out = Vec::new();
    for p in &ctx.pods {
        if p.node.is_some_and(|n| !n.active()) {
            continue;
        }
        let ends = p.terminations();
        let still_running = p.statuses().any(|(c, _)| {
            c.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.waiting.is_some())
        });
        let wait_running = p.statuses().any(|(c, _)| {
            c.name == "wait" && c.state.as_ref().is_some_and(|s| s.running.is_some())
        });
        let main_failed = ends.iter().any(|(c, t)| {
            p.is_main(&c.name)
                && t.exit_code != 0
                && c.state.as_ref().is_some_and(|s| s.terminated.is_some())
        });
        if !(p.phase() == "Failed" || main_failed) {
            continue;
        }
        // After main fails, Argo's wait container normally ends within seconds; one
        // that keeps the pod Running is how a failure stays invisible to the workflow,
        // so it gets twice the grace before it is called silent.
        let grace_factor = if p.phase() != "Failed" && still_running {
            2
        } else {
            1
        };
        let finished = ends
            .iter()
            .filter_map(|(_, t)| t.finished_at.as_ref().and_then(|f| utc(&f.0)))
            .max();
        let since = finished
            .or_else(|| {
                p.condition("Ready")
                    .and_then(|c| c.last_transition_time.as_ref())
                    .and_then(|t| utc(&t.0))
            })
            .or_else(|| p.created());
        // Argo records a pod's end a moment after it happens: only a lasting gap counts.
        let grace = ctx.grace(ctx.s.config.silent_grace) * grace_factor;
        if since.is_some_and(|t| ctx.s.now - t < grace) {
            continue;
        }

        let mut evidence = Vec::new();
        let status = p.pod.status.as_ref();
        let mut line = format!("pod {} phase {}", p.name, p.phase());
        if let Some(r) = status.and_then(|s| s.reason.as_deref()) {
            line.push_str(&format!(", reason {r}"));
        }
        if let Some(m) = status.and_then(|s| s.message.as_deref()) {
            line.push_str(&format!(": {m}"));
        }
        evidence.push(line);
        for (c, t) in &ends {
            let mut l = format!(
                "{}: {} (exit code {})",
                c.name,
                t.reason.as_deref().unwrap_or("Terminated"),
                t.exit_code
            );
            if let Some(m) = t.message.as_deref() {
                l.push_str(&format!(": {}", m.trim_end()));
            }
            push_unique(&mut evidence, l);
        }
        let recorded = node_state(p.node);
        evidence.push(recorded.clone());
        evidence.extend(ctx.log_tail(p.name));
        out.push(Detection::on_pod(
            p,
            Fact::PodErrorWorkflowSilent {
                pod: p.name.to_string(),
                ago: since.map(|t| ago(ctx.s.now - t)),
                recorded,
                wait_running: p.phase() != "Failed" && wait_running,
                workflow: ctx.s.workflow.name.clone(),
            },
            evidence,
            since,
            TimeDelta::zero(),
            true,
        ));
    }
    out
}

fn node_state(node: Option<&NodeView>) -> String {
    match node {
        Some(n) => format!(
            "the workflow still shows step {} as {}",
            n.display_name,
            n.phase.as_ref().map_or("(no phase)", Phase::as_str)
        ),
        None => "the workflow has no node for it".to_string(),
    }
}

/// A Pod node Pending with no pod long after it started.
pub(super) fn pod_not_created(ctx: &Ctx<'_>) -> Vec<Detection> {
    let wf = &ctx.s.workflow;
    if wf.completed() {
        return vec![];
    }
    let ns = ctx.namespace();
    let mut out = Vec::new();
    for n in &wf.nodes {
        if !n.is_pod() || n.phase != Some(Phase::Pending) || ctx.has_pod(n) {
            continue;
        }
        let msg = n.message.as_deref().unwrap_or("");
        // Waiting for a lock, a semaphore or parallelism is normal; refusals are reported;
        // a scheduler's verdict means the pod was created.
        if msg.starts_with("Waiting for")
            || msg.starts_with("Unschedulable")
            || parse::parse_forbidden(msg).is_some()
            || parse::parse_quota(msg).is_some()
            || parse::parse_missing_service_account(msg).is_some()
        {
            continue;
        }
        // The pod normally follows the node within seconds: only a lasting gap counts.
        let grace = ctx.grace(ctx.s.config.pending_grace);
        if n.started_at.is_none_or(|t| ctx.s.now - t < grace) {
            continue;
        }
        let mut evidence = Vec::new();
        push_unique(&mut evidence, msg);
        evidence.push(format!(
            "step {} Pending since {}, no pod {} in namespace {ns}",
            n.display_name,
            n.started_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "(unknown)".into()),
            n.pod_name.as_deref().unwrap_or(&n.id)
        ));
        out.push(Detection {
            fact: Fact::PodNotCreated {
                step: n.display_name.clone(),
            },
            step: Some(n.display_name.clone()),
            pod: n.pod_name.clone(),
            evidence,
            since: n.started_at,
            grace: TimeDelta::zero(),
            definitive: false,
        });
    }
    out
}

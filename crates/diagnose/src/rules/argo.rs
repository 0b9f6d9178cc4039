//! Argo-server-level rules: the controller does not act, lacks rights, or does not
//! record what its pods did.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Ctx, PodInfo, Raw, ago, event_first, push_unique, utc};
use crate::finding::Reason;
use crate::parse;
use crate::snapshot::NodeView;
use kit_argo_types::{LABEL_INSTANCE_ID, Phase};

/// No phase after `controller_grace`: nobody is reconciling the workflow.
pub(super) fn controller_not_acting(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    let wf = &ctx.s.workflow;
    // A live controller answers within a second or two: saying "watching" before that
    // would greet every healthy submission with a false alarm.
    if !wf.untouched() || ctx.s.now - wf.created < TimeDelta::seconds(5) {
        return;
    }
    let ns = ctx.namespace();
    let age = ago(ctx.s.now - wf.created);
    let mut evidence = vec![format!(
        "workflow {} created {age} ago (creationTimestamp {}), status.phase still empty",
        wf.name,
        wf.created.to_rfc3339()
    )];
    let mut fix = format!(
        "check that the Argo workflow controller runs and watches namespace {ns} (`kubectl -n {ns} get pods -l app=workflow-controller`, or ask the cluster admins): a controller started with --namespaced only sees its own namespace, and one with an instanceID only takes workflows labelled {LABEL_INSTANCE_ID}=<its id>."
    );
    if let Some(id) = wf.labels.get(LABEL_INSTANCE_ID) {
        evidence.push(format!("label {LABEL_INSTANCE_ID}={id}"));
        fix.push_str(&format!(
            " This workflow asks for instance id \"{id}\": it must be the controller's."
        ));
    }
    out.push(Raw {
        reason: Reason::ControllerNotActing,
        key: String::new(),
        step: None,
        pod: None,
        summary: format!(
            "no workflow controller has acted on workflow {} in {age}.",
            wf.name
        ),
        evidence,
        fix,
        since: Some(wf.created),
        grace: ctx.grace(ctx.s.config.controller_grace),
        definitive: true,
    });
}

/// A status or event text, with where it came from.
struct Text<'a> {
    text: &'a str,
    step: Option<String>,
    pod: Option<String>,
    at: Option<DateTime<Utc>>,
    /// Still pending or running: a waiting condition (quota) still applies.
    active: bool,
}

fn texts<'a>(ctx: &'a Ctx<'a>) -> Vec<Text<'a>> {
    let wf = &ctx.s.workflow;
    let mut v = Vec::new();
    if let Some(m) = wf.message.as_deref() {
        v.push(Text {
            text: m,
            step: None,
            pod: None,
            at: None,
            active: !wf.completed(),
        });
    }
    for e in &ctx.workflow_events {
        v.push(Text {
            text: super::message(e),
            step: None,
            pod: None,
            at: event_first(e),
            active: !wf.completed(),
        });
    }
    for n in &wf.nodes {
        if let Some(m) = n.message.as_deref() {
            let pod = ctx
                .pod_of(n)
                .map(|p| p.name.to_string())
                .or_else(|| n.pod_name.clone());
            v.push(Text {
                text: m,
                step: (n.name != wf.name).then(|| n.display_name.clone()),
                pod,
                at: n.started_at,
                active: n.active(),
            });
        }
    }
    for p in &ctx.pods {
        let at = p.created();
        let active = !p.done();
        let mut add = |text: &'a str, at: Option<DateTime<Utc>>| {
            v.push(Text {
                text,
                step: p.step.clone(),
                pod: Some(p.name.to_string()),
                at,
                active,
            });
        };
        if let Some(m) = p.pod.status.as_ref().and_then(|s| s.message.as_deref()) {
            add(m, at);
        }
        for (_, t) in p.terminations() {
            if let Some(m) = t.message.as_deref() {
                add(m, t.finished_at.as_ref().and_then(|f| utc(&f.0)));
            }
        }
        for e in &p.events {
            add(super::message(e), event_first(e));
        }
    }
    v
}

/// RBAC refusals, a missing service account, an exhausted ResourceQuota.
pub(super) fn refusals(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    let ns = ctx.namespace();
    let succeeded = ctx.s.workflow.phase == Some(Phase::Succeeded);
    for t in texts(ctx) {
        if let Some(f) = parse::parse_forbidden(t.text) {
            let resource = f.qualified_resource();
            let in_ns = f.namespace.as_deref().unwrap_or(ns);
            let (who, fix) = match f.service_account() {
                Some((sa_ns, sa)) => {
                    let (role, verbs) = if f.resource == "workflowtaskresults" {
                        // The executor creates then patches its task result.
                        ("argo-executor".to_string(), "create,patch".to_string())
                    } else {
                        (
                            format!("{}-{}", f.verb, f.resource.replace('/', "-")),
                            f.verb.clone(),
                        )
                    };
                    (
                        format!("service account {sa_ns}:{sa}"),
                        format!(
                            "grant it: `kubectl -n {in_ns} create role {role} --verb={verbs} --resource={resource}` then `kubectl -n {in_ns} create rolebinding {role} --role={role} --serviceaccount={sa_ns}:{sa}` (needs admin rights on the namespace: otherwise ask the cluster admins), or run the workflow with a service account that has them (argo_service_account / ARGO_SERVICE_ACCOUNT, see `cargo xtask config`)."
                        ),
                    )
                }
                None => (
                    format!("user {}", f.user),
                    format!(
                        "ask the cluster admins to let {} {} {resource} in namespace {in_ns}.",
                        f.user, f.verb
                    ),
                ),
            };
            let why = if f.resource == "workflowtaskresults" {
                " (Argo's executor needs it to report each step's result)"
            } else {
                ""
            };
            // The node authorizer refuses a kubelet what its graph does not link to the
            // node yet: a pod just scheduled, seen under load. It passes on a retry.
            let graph_lag = parse::node_authorizer_lag(t.text);
            out.push(Raw {
                reason: Reason::Forbidden,
                key: format!("{} {} {resource}", f.user, f.verb),
                step: t.step,
                pod: t.pod,
                summary: format!(
                    "{who} may not {} {resource} in namespace {in_ns}{why}.",
                    f.verb
                ),
                evidence: vec![t.text.to_string()],
                fix,
                since: t.at,
                grace: if graph_lag {
                    ctx.grace(ctx.s.config.pending_grace)
                } else {
                    TimeDelta::zero()
                },
                definitive: !succeeded && !graph_lag,
            });
        } else if let Some((sa_ns, sa)) = parse::parse_missing_service_account(t.text) {
            out.push(Raw {
                reason: Reason::ServiceAccountMissing,
                key: format!("{sa_ns}/{sa}"),
                step: t.step,
                pod: t.pod,
                summary: format!("service account {sa} does not exist in namespace {sa_ns}."),
                evidence: vec![t.text.to_string()],
                fix: format!(
                    "use an existing one (argo_service_account in hera.config or ARGO_SERVICE_ACCOUNT, see `cargo xtask config`; `kubectl -n {sa_ns} get serviceaccounts`), or create it with the executor's rights (ask the cluster admins)."
                ),
                since: t.at,
                grace: TimeDelta::zero(),
                definitive: !succeeded,
            });
        } else if let Some(quota) = parse::parse_quota(t.text)
            && t.active
        {
            out.push(Raw {
                reason: Reason::QuotaExceeded,
                key: quota.to_string(),
                step: t.step,
                pod: t.pod,
                summary: format!(
                    "ResourceQuota {quota} of namespace {ns} is used up: the step waits for room."
                ),
                evidence: vec![t.text.to_string()],
                fix: format!(
                    "wait for other pods to finish, lower the step's resources.requests/limits, or ask the cluster admins for a larger quota (`kubectl -n {ns} describe resourcequota {quota}`)."
                ),
                since: t.at,
                grace: ctx.grace(ctx.s.config.pending_grace),
                definitive: false,
            });
        }
    }
}

/// A pod failed but its workflow node is still Pending/Running, or missing: the
/// controller is not taking pod updates into account.
pub(super) fn silent_failure(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Raw>) {
    if ctx.s.workflow.untouched() || p.node.is_some_and(|n| !n.active()) {
        return;
    }
    let ends = p.terminations();
    let still_running = p.statuses().any(|(c, _)| {
        c.state
            .as_ref()
            .is_some_and(|s| s.running.is_some() || s.waiting.is_some())
    });
    let main_failed = ends.iter().any(|(c, t)| {
        p.is_main(&c.name)
            && t.exit_code != 0
            && c.state.as_ref().is_some_and(|s| s.terminated.is_some())
    });
    if !(p.phase() == "Failed" || main_failed) {
        return;
    }
    // After main fails, Argo's wait container normally ends within seconds; one that
    // keeps the pod Running is how a failure stays invisible to the workflow, so it gets
    // twice the grace before it is called silent.
    let grace_factor = if p.phase() != "Failed" && still_running {
        2
    } else {
        1
    };
    let finished = ends
        .iter()
        .filter_map(|(_, t)| t.finished_at.as_ref().and_then(|f| utc(&f.0)))
        .max();
    let since = finished.or_else(|| {
        p.condition("Ready")
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| utc(&t.0))
    });
    let since = since.or_else(|| p.created());
    // Argo records a pod's end a moment after it happens: only a lasting gap counts.
    let grace = ctx.grace(ctx.s.config.silent_grace) * grace_factor;
    if since.is_some_and(|t| ctx.s.now - t < grace) {
        return;
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
    let ns = ctx.namespace();
    let when = since
        .map(|t| format!(" {} ago", ago(ctx.s.now - t)))
        .unwrap_or_default();
    out.push(Raw {
        reason: Reason::PodErrorWorkflowSilent,
        key: String::new(),
        step: p.step.clone(),
        pod: Some(p.name.to_string()),
        summary: format!("pod {} failed{when} but {recorded}.", p.name),
        evidence,
        fix: format!(
            "the workflow controller is not processing pod updates in namespace {ns}: check that it runs and may watch pods there (its logs, or ask the cluster admins); the pod's own failure is in the other findings and in `kubectl -n {ns} logs {} -c main`.",
            p.name
        ),
        since,
        grace: TimeDelta::zero(),
        definitive: true,
    });
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
pub(super) fn pod_not_created(ctx: &Ctx<'_>, out: &mut Vec<Raw>) {
    let wf = &ctx.s.workflow;
    if wf.completed() {
        return;
    }
    let ns = ctx.namespace();
    for n in &wf.nodes {
        if !n.is_pod() || n.phase != Some(Phase::Pending) || ctx.has_pod(n) {
            continue;
        }
        let msg = n.message.as_deref().unwrap_or("");
        // Waiting for a lock, a semaphore or parallelism is normal; refusals are reported.
        if msg.starts_with("Waiting for")
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
        out.push(Raw {
            reason: Reason::PodNotCreated,
            key: String::new(),
            step: Some(n.display_name.clone()),
            pod: n.pod_name.clone(),
            summary: format!(
                "the controller has not created the pod of step {}.",
                n.display_name
            ),
            evidence,
            fix: format!(
                "check the controller's health and rights in namespace {ns} (its logs, or ask the cluster admins); `kubectl -n {ns} get events` may show a refused pod creation."
            ),
            since: n.started_at,
            grace: TimeDelta::zero(),
            definitive: false,
        });
    }
}

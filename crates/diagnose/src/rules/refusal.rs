//! Refusals written in statuses and events: RBAC denials, a missing service account,
//! an exhausted ResourceQuota.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Ctx, Detection, event_first, message, utc};
use crate::parse;
use crate::reasons::wording::Fact;
use kit_argo_types::Phase;

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
            text: message(e),
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
            add(message(e), event_first(e));
        }
    }
    v
}

/// RBAC refusals, a missing service account, an exhausted ResourceQuota.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    let ns = ctx.namespace();
    let succeeded = ctx.s.workflow.phase == Some(Phase::Succeeded);
    let mut out = Vec::new();
    for t in texts(ctx) {
        let at = |fact, grace, definitive| Detection {
            fact,
            step: t.step.clone(),
            pod: t.pod.clone(),
            evidence: vec![t.text.to_string()],
            since: t.at,
            grace,
            definitive,
        };
        if let Some(f) = parse::parse_forbidden(t.text) {
            // The node authorizer refuses a kubelet what its graph does not link to the
            // node yet: a pod just scheduled, seen under load. It passes on a retry.
            let graph_lag = parse::node_authorizer_lag(t.text);
            let fact = Fact::Forbidden {
                service_account: f
                    .service_account()
                    .map(|(n, s)| (n.to_string(), s.to_string())),
                qualified: f.qualified_resource(),
                namespace: f.namespace.clone().unwrap_or_else(|| ns.to_string()),
                user: f.user,
                verb: f.verb,
                resource: f.resource,
            };
            let grace = if graph_lag {
                ctx.grace(ctx.s.config.pending_grace)
            } else {
                TimeDelta::zero()
            };
            out.push(at(fact, grace, !succeeded && !graph_lag));
        } else if let Some((sa_ns, sa)) = parse::parse_missing_service_account(t.text) {
            let fact = Fact::ServiceAccountMissing {
                namespace: sa_ns.to_string(),
                name: sa.to_string(),
            };
            out.push(at(fact, TimeDelta::zero(), !succeeded));
        } else if let Some(quota) = parse::parse_quota(t.text)
            && t.active
        {
            let fact = Fact::QuotaExceeded {
                quota: quota.to_string(),
            };
            out.push(at(fact, ctx.grace(ctx.s.config.pending_grace), false));
        }
    }
    out
}

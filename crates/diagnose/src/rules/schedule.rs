//! The scheduler cannot place the pod: missing or unbound claims, not enough free
//! resources, no ready node, constraints no node meets.

use k8s_openapi::api::core::v1::Node;

use super::{
    Ctx, Detection, PodInfo, each_pod, earliest, event_first, event_last, message, push_unique,
    template_of, utc,
};
use crate::parse::{self, FitError};
use crate::reasons::wording::Fact;

/// Every pending pod the scheduler has not placed.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, from_pod)
}

/// FailedScheduling and the PodScheduled condition: missing or unbound claims, not
/// enough free resources, no ready node, other constraints.
fn from_pod(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
    if !p.pending() || p.node_name().is_some() {
        return;
    }
    let cond = p.condition("PodScheduled").filter(|c| c.status == "False");
    let events = p.events_with(&["FailedScheduling"]);
    let latest = events
        .iter()
        .max_by_key(|e| event_last(e))
        .map(|e| message(e));
    // The condition is the scheduler's current verdict; events may be older.
    let current = cond
        .and_then(|c| c.message.as_deref())
        .filter(|m| !m.is_empty())
        .or(latest);
    let Some(current) = current else {
        return;
    };
    let mut evidence = Vec::new();
    if let Some(l) = latest {
        push_unique(&mut evidence, l);
    }
    push_unique(&mut evidence, current);
    let since = earliest(
        events.iter().map(|e| event_first(e)).chain([cond
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(|t| utc(&t.0))]),
    )
    .or_else(|| p.created());
    let pending = ctx.grace(ctx.s.config.pending_grace);
    let raw = |fact, evidence, definitive| {
        Detection::on_pod(p, fact, evidence, since, pending, definitive)
    };

    if let Some(claim) = parse::pvc_not_found(current) {
        out.push(raw(
            Fact::PvcMissing {
                claim: claim.to_string(),
            },
            evidence,
            true,
        ));
        return;
    }
    if parse::pvc_unbound(current) {
        let claims = p.claims();
        let mut evidence = evidence;
        // The claims' own events tell why they are not bound (provisioning errors).
        for e in &ctx.s.events {
            let o = &e.involved_object;
            if o.kind.as_deref() == Some("PersistentVolumeClaim")
                && o.name.as_ref().is_some_and(|n| claims.contains(n))
                && e.type_.as_deref() == Some("Warning")
            {
                push_unique(&mut evidence, message(e));
            }
        }
        let list = if claims.is_empty() {
            "its claims".to_string()
        } else {
            claims.join(", ")
        };
        let first = claims.first().map(String::as_str).unwrap_or("CLAIM");
        out.push(raw(
            Fact::PvcUnbound {
                first: first.to_string(),
                claims: list,
            },
            evidence,
            true,
        ));
        return;
    }
    let fit = parse::parse_fit_error(current);
    if let Some(fit) = &fit
        && !fit.insufficient().is_empty()
    {
        let fact = resources(ctx, p, fit);
        // With no node able to ever fit it, waiting will not help.
        let definitive =
            matches!(&fact, Fact::UnschedulableResources { never, .. } if !never.is_empty());
        out.push(raw(fact, evidence, definitive));
        return;
    }
    if fit.as_ref().is_some_and(FitError::only_node_trouble) {
        out.push(raw(Fact::NodeNotReady { node: None }, evidence, true));
        return;
    }
    let clauses = fit
        .map(|f| {
            f.clauses
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| current.to_string());
    out.push(raw(Fact::Unschedulable { clauses }, evidence, false));
}
/// What a pod short of CPU, memory or devices asks for, and whether a node could ever
/// give it.
fn resources(ctx: &Ctx<'_>, p: &PodInfo<'_>, fit: &FitError) -> Fact {
    let wanted: Vec<&str> = fit.insufficient();
    let spec = p.pod.spec.as_ref();
    let containers: Vec<_> = spec
        .map(|s| s.containers.iter().collect())
        .unwrap_or_default();
    let inits: Vec<_> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let request_of = |c: &k8s_openapi::api::core::v1::Container, r: &str| {
        c.resources
            .as_ref()
            .and_then(|res| res.requests.as_ref().or(res.limits.as_ref()))
            .and_then(|m| m.get(r))
            .map(|q| q.0.clone())
    };
    // What each container asks for, for the resources the scheduler lacks.
    let mut asked = Vec::new();
    // Argo's own containers ask little; name the user's unless they ask nothing.
    let users: Vec<_> = containers
        .iter()
        .copied()
        .filter(|c| p.is_main(&c.name))
        .collect();
    let shown = if users
        .iter()
        .any(|c| wanted.iter().any(|r| request_of(c, r).is_some()))
    {
        users
    } else {
        containers.clone()
    };
    for c in &shown {
        let parts: Vec<String> = wanted
            .iter()
            .filter_map(|r| request_of(c, r).map(|q| format!("{r}={q}")))
            .collect();
        if !parts.is_empty() {
            asked.push(format!("{} requests {}", c.name, parts.join(", ")));
        }
    }
    // With the node list we can tell "wait" from "never".
    let mut never = Vec::new();
    if let Some(nodes) = &ctx.s.nodes {
        for r in &wanted {
            let sum: f64 = containers
                .iter()
                .filter_map(|c| request_of(c, r).and_then(|q| parse::parse_quantity(&q)))
                .sum();
            let init_max = inits
                .iter()
                .filter_map(|c| request_of(c, r).and_then(|q| parse::parse_quantity(&q)))
                .fold(0.0, f64::max);
            let need = sum.max(init_max);
            if let Some((best, text)) = largest_allocatable(nodes, r)
                && need > best
            {
                never.push(format!("{r} {text}"));
            }
        }
    }
    Fact::UnschedulableResources {
        wanted: wanted.join(" and "),
        asked,
        never,
        template: template_of(p.node),
    }
}

fn largest_allocatable(nodes: &[Node], resource: &str) -> Option<(f64, String)> {
    nodes
        .iter()
        .filter_map(|n| {
            let q = n.status.as_ref()?.allocatable.as_ref()?.get(resource)?;
            Some((parse::parse_quantity(&q.0)?, q.0.clone()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

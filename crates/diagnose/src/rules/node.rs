//! The pod's node is NotReady, unreachable or gone.

use chrono::{DateTime, Utc};

use super::{Ctx, Detection, PodInfo, each_pod, earliest, event_first, message, push_unique, utc};
use crate::reasons::wording::Fact;

/// Every running pod whose node is in trouble.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, from_pod)
}

const TAINTS: &[&str] = &[
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/not-ready",
];

/// The pod's node is NotReady, unreachable or gone. From the node list when we may read
/// it, else from what the pod shows.
fn from_pod(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
    if p.done() {
        return;
    }
    let Some(node_name) = p.node_name() else {
        return;
    };
    let mut evidence = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    match &ctx.s.nodes {
        Some(nodes) => match nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node_name))
        {
            None => evidence.push(format!(
                "node {node_name} is not in the cluster's node list"
            )),
            Some(n) => {
                let status = n.status.as_ref();
                if let Some(c) = status
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                    .filter(|c| c.status != "True")
                {
                    evidence.push(format!(
                        "node {node_name} Ready={} ({})",
                        c.status,
                        c.reason.as_deref().unwrap_or("no reason")
                    ));
                    if let Some(m) = c.message.as_deref() {
                        push_unique(&mut evidence, m);
                    }
                    since = c.last_transition_time.as_ref().and_then(|t| utc(&t.0));
                }
                for t in n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .filter(|t| TAINTS.contains(&t.key.as_str()))
                {
                    evidence.push(format!("taint {}:{}", t.key, t.effect));
                    since = earliest([since, t.time_added.as_ref().and_then(|a| utc(&a.0))]);
                }
            }
        },
        None => {
            let status = p.pod.status.as_ref();
            if p.phase() == "Unknown" {
                evidence.push(format!("pod {} phase Unknown", p.name));
            }
            if let Some(r) = status
                .and_then(|s| s.reason.as_deref())
                .filter(|r| *r == "NodeLost")
            {
                let m = status.and_then(|s| s.message.as_deref()).unwrap_or("");
                evidence.push(format!("{r}: {m}"));
            }
            for e in p.events_with(&["NodeNotReady"]) {
                push_unique(&mut evidence, message(e));
                since = earliest([since, event_first(e)]);
            }
            if let Some(c) = p
                .condition("DisruptionTarget")
                .filter(|c| c.reason.as_deref() == Some("DeletionByTaintManager"))
            {
                push_unique(&mut evidence, c.message.clone().unwrap_or_default());
                since = earliest([
                    since,
                    c.last_transition_time.as_ref().and_then(|t| utc(&t.0)),
                ]);
            }
        }
    }
    if evidence.is_empty() {
        return;
    }
    out.push(Detection::on_pod(
        p,
        Fact::NodeNotReady {
            node: Some(node_name.to_string()),
        },
        evidence,
        since.or(Some(ctx.s.now)),
        ctx.grace(ctx.s.config.pending_grace),
        true,
    ));
}

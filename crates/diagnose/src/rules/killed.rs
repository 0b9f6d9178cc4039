//! The kubelet stopped the pod: evicted from a node under pressure, or past its
//! activeDeadlineSeconds.

use chrono::TimeDelta;

use super::{Ctx, Detection, PodInfo, each_pod, push_unique, template_of, utc};
use crate::reasons::wording::Fact;

/// Every pod whose status reason says the kubelet stopped it.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, from_pod)
}

/// Pod status reasons set by the kubelet: Evicted, DeadlineExceeded.
fn from_pod(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
    let status = p.pod.status.as_ref();
    let reason = status.and_then(|s| s.reason.as_deref()).unwrap_or("");
    let msg = status.and_then(|s| s.message.as_deref()).unwrap_or("");
    let template = template_of(p.node);
    let node = p.node_name().unwrap_or("(unknown node)").to_string();
    let fact = match reason {
        "Evicted" => {
            let pressure = if msg.contains("memory") {
                " (low on memory)"
            } else if msg.contains("ephemeral-storage") || msg.contains("disk") {
                " (low on disk)"
            } else {
                ""
            };
            Fact::Evicted {
                node,
                pressure,
                template,
            }
        }
        "DeadlineExceeded" => Fact::DeadlineExceeded { template },
        _ => return,
    };
    let mut evidence = Vec::new();
    push_unique(&mut evidence, msg);
    if let Some(m) = p.node.and_then(|n| n.message.as_deref()) {
        push_unique(&mut evidence, m);
    }
    let since = p
        .condition("Ready")
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(|t| utc(&t.0))
        .or_else(|| p.created());
    out.push(Detection::on_pod(
        p,
        fact,
        evidence,
        since,
        TimeDelta::zero(),
        !ctx.recoverable(p.node),
    ));
}

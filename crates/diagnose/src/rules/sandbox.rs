//! The node cannot create the pod's sandbox, most often its network plugin (CNI).

use super::{Ctx, Detection, PodInfo, each_pod, earliest, event_first, last_messages};
use crate::parse;
use crate::reasons::wording::Fact;

/// FailedCreatePodSandBox while the pod has not started.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, from_pod)
}

fn from_pod(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
    if !p.pending() || p.started() {
        return;
    }
    let events = p.events_with(&["FailedCreatePodSandBox"]);
    if events.is_empty() {
        return;
    }
    let evidence = last_messages(&events, 3);
    let node = p.node_name().unwrap_or("(unknown node)");
    let plugin = evidence
        .iter()
        .find_map(|m| parse::cni_plugin(m))
        .map(str::to_string);
    out.push(Detection::on_pod(
        p,
        Fact::PodSandboxFailed {
            node: node.to_string(),
            plugin,
        },
        evidence,
        earliest(events.iter().map(|e| event_first(e))),
        ctx.grace(ctx.s.config.pending_grace),
        true,
    ));
}

//! Volumes the kubelet cannot mount: claims it cannot find or use, volumes that cannot
//! be attached.

use k8s_openapi::api::core::v1::Event;

use super::{Ctx, Detection, PodInfo, each_pod, earliest, event_first, last_messages, message};
use crate::parse;
use crate::reasons::wording::Fact;

/// The kubelet of a scheduled pod cannot find or use its claim (FailedMount).
pub(super) fn claims(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, claims_of)
}

/// FailedAttachVolume / FailedMount about the volume itself. The generic mount timeout
/// that follows a missing ConfigMap or claim is dropped by [`crate::suppress`].
pub(super) fn attach(ctx: &Ctx<'_>) -> Vec<Detection> {
    each_pod(ctx, attach_of)
}

/// The kubelet of a scheduled pod cannot find or use its claim (FailedMount).
fn claims_of(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
    if !p.pending() || p.started() {
        return;
    }
    for e in p.events_with(&["FailedMount"]) {
        let m = message(e);
        let fact = if let Some(claim) = parse::pvc_not_found(m) {
            Fact::PvcMissing {
                claim: claim.to_string(),
            }
        } else if parse::pvc_unbound(m) {
            let claim = m
                .split("error processing PVC ")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .map(|r| r.rsplit('/').next().unwrap_or(r).to_string())
                .unwrap_or_else(|| p.claims().join(", "));
            Fact::PvcUnbound {
                first: claim.clone(),
                claims: claim,
            }
        } else {
            continue;
        };
        out.push(Detection::on_pod(
            p,
            fact,
            vec![m.to_string()],
            event_first(e),
            ctx.grace(ctx.s.config.pending_grace),
            true,
        ));
    }
}

const GENERIC_MOUNT: &str = "Unable to attach or mount volumes";

/// FailedAttachVolume / FailedMount about the volume itself.
fn attach_of(ctx: &Ctx<'_>, p: &PodInfo<'_>, out: &mut Vec<Detection>) {
    if !p.pending() || p.started() {
        return;
    }
    let events: Vec<&Event> = p
        .events_with(&["FailedAttachVolume", "FailedMount", "FailedMapVolume"])
        .into_iter()
        .filter(|e| parse::is_attach_error(message(e)))
        .collect();
    if events.is_empty() {
        return;
    }
    let generic_timeout = events.iter().all(|e| message(e).starts_with(GENERIC_MOUNT));
    let evidence = last_messages(&events, 3);
    // A kubelet refused the claim by the node authorizer's lagging graph, or whose
    // ConfigMap cache had not synced yet, retries by itself.
    let retried_by_kubelet = evidence
        .iter()
        .any(|m| parse::node_authorizer_lag(m) || parse::kubelet_cache_lag(m));
    let volume = evidence
        .iter()
        .find_map(|m| parse::volume_in(m))
        .unwrap_or("of the pod")
        .to_string();
    let node = p.node_name().unwrap_or("(unknown node)");
    let multi_attach = evidence.iter().any(|m| m.contains("Multi-Attach error"));
    out.push(Detection::on_pod(
        p,
        Fact::VolumeAttachFailed {
            volume,
            node: node.to_string(),
            multi_attach,
            generic_timeout,
        },
        evidence,
        earliest(events.iter().map(|e| event_first(e))),
        ctx.grace(ctx.s.config.pending_grace),
        !retried_by_kubelet,
    ));
}

//! A pod Pending beyond the grace period, with no other signal explaining why.

use k8s_openapi::api::core::v1::Event;

use super::{Ctx, Detection, PodInfo, ago, last_messages, push_unique};
use crate::reasons::wording::Fact;

/// kubectl's STATUS column for a pending pod: `Init:0/1`, `ContainerCreating`, `Pending`.
fn pending_status(p: &PodInfo<'_>) -> String {
    let inits: Vec<_> = p.statuses().filter(|(_, init)| *init).collect();
    let done = inits
        .iter()
        .filter(|(c, _)| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code == 0)
        })
        .count();
    if !inits.is_empty() && done < inits.len() {
        return format!("Init:{done}/{}", inits.len());
    }
    p.statuses()
        .find_map(|(c, _)| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .unwrap_or_else(|| "Pending".to_string())
}

/// Pending beyond the grace period. Dropped by [`crate::suppress`] when another finding
/// explains the pod.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    let mut out = Vec::new();
    let grace = ctx.grace(ctx.s.config.pending_grace);
    for p in &ctx.pods {
        if !p.pending() {
            continue;
        }
        let Some(created) = p.created() else {
            continue;
        };
        let age = ctx.s.now - created;
        if age < grace {
            continue;
        }
        // A stand-in pod (seen through the Argo Server) is Pending while Argo's status
        // says so, which lags the real pod by seconds: without a warning about it, it
        // gets three times the grace.
        if p.stand_in()
            && age < grace * 3
            && !p
                .events
                .iter()
                .any(|e| e.type_.as_deref() == Some("Warning"))
        {
            continue;
        }
        let status = pending_status(p);
        let mut evidence = Vec::new();
        for c in p
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.status != "True")
        {
            if let Some(m) = c.message.as_deref() {
                push_unique(&mut evidence, format!("{}: {m}", c.type_));
            }
        }
        for (c, _) in p.statuses() {
            if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let mut l = format!("{}: {}", c.name, w.reason.as_deref().unwrap_or("Waiting"));
                if let Some(m) = w.message.as_deref() {
                    l.push_str(&format!(": {m}"));
                }
                push_unique(&mut evidence, l);
            }
        }
        let warnings: Vec<&Event> = p
            .events
            .iter()
            .copied()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect();
        evidence.extend(last_messages(&warnings, 5));
        out.push(Detection::on_pod(
            p,
            Fact::StuckPending {
                status,
                age: ago(age),
            },
            evidence,
            Some(created),
            grace,
            false,
        ));
    }
    out
}

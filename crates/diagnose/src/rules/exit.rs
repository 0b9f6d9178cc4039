//! The user's program ended badly: killed over its memory limit, or a non-zero exit.

use super::{Ctx, Detection};
use crate::reasons::wording::Fact;

/// OOM kills of any container, and non-zero exits of the user's containers.
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    let mut out = Vec::new();
    for e in ctx.endings() {
        // Argo's own containers have their rule; Argo kills sidecars once the main
        // container is done.
        if !e.oom_killed() && (e.is_executor() || (!e.is_main() && matches!(e.code, 137 | 143))) {
            continue;
        }
        let mut evidence = e.evidence();
        let fact = if e.oom_killed() {
            let limit = e.pod.and_then(|p| p.limit(e.container, "memory"));
            evidence.extend(ctx.log_tail(&e.pod_name));
            Fact::OomKilled {
                container: e.container.to_string(),
                limit,
                template: e.template(),
            }
        } else {
            let tail = ctx.log_tail(&e.pod_name);
            let logs_shown = !tail.is_empty();
            evidence.extend(tail);
            Fact::NonZeroExit {
                container: e.container.to_string(),
                code: e.code,
                logs_shown,
            }
        };
        out.push(e.detection(ctx, fact, evidence));
    }
    out
}

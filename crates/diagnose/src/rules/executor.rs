//! Argo's own containers (`init`, `wait`) failed: the executor, not the user's program.

use super::{Ctx, Detection};
use crate::reasons::wording::Fact;

/// Failures of the executor's containers other than an OOM kill (which the exit rule
/// reports). One caused by an RBAC refusal is dropped by [`crate::suppress`].
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    ctx.endings()
        .iter()
        .filter(|e| e.is_executor() && !e.oom_killed())
        .map(|e| {
            let fact = Fact::ExecutorFailed {
                container: e.container.to_string(),
                code: e.code,
            };
            e.detection(ctx, fact, e.evidence())
        })
        .collect()
}

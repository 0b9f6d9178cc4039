//! The step's program is not in its image: Argo's emissary looks the command up in the
//! container's PATH before starting it, and exits 64 when it is not there.

use super::{Ctx, Detection};
use crate::parse;
use crate::reasons::wording::Fact;

/// User containers that ended with the emissary's "failed to find name in PATH", from
/// the pod's termination message or, once the pod is gone, Argo's node message. The
/// bare non-zero exit of the same container is dropped by [`crate::suppress`].
pub(super) fn detect(ctx: &Ctx<'_>) -> Vec<Detection> {
    let mut out = Vec::new();
    for e in ctx.endings() {
        if !e.is_main() {
            continue;
        }
        let node_message = e.node.and_then(|n| n.message.as_deref());
        let Some(command) = [e.message, node_message]
            .into_iter()
            .flatten()
            .find_map(parse::command_not_found)
        else {
            continue;
        };
        let image = e.pod.and_then(|p| p.image_of(e.container));
        let fact = Fact::CommandNotFound {
            container: e.container.to_string(),
            command: command.to_string(),
            image,
            template: e.template(),
        };
        out.push(e.detection(ctx, fact, e.evidence()));
    }
    out
}

//! The one pass that drops detections another one already explains: a symptom whose
//! cause has its own finding would only send the reader after the wrong fix.

use crate::parse;
use crate::reasons::Reason;
use crate::reasons::wording::Fact;
use crate::rules::Detection;

/// Reasons whose finding explains why the kubelet then gives up mounting the pod's
/// volumes with its generic timeout.
const MISSING_VOLUME_SOURCE: &[Reason] = &[
    Reason::ConfigmapMissing,
    Reason::ConfigmapKeyMissing,
    Reason::SecretMissing,
    Reason::SecretKeyMissing,
    Reason::PvcMissing,
    Reason::PvcUnbound,
];

/// The detections left once those explained by another are dropped. Each step looks at
/// what the previous ones kept.
pub(crate) fn explained_away(detections: Vec<Detection>) -> Vec<Detection> {
    let on_pod = |ds: &[Detection], d: &Detection, reasons: &[Reason]| {
        ds.iter().any(|o| {
            o.pod.is_some()
                && o.pod == d.pod
                && (reasons.is_empty() || reasons.contains(&o.reason()))
                && o.reason() != d.reason()
        })
    };

    let kept: Vec<Detection> = detections
        .iter()
        .filter(|d| match &d.fact {
            // The generic mount timeout that follows a missing ConfigMap or claim.
            Fact::VolumeAttachFailed {
                generic_timeout: true,
                ..
            } => !on_pod(&detections, d, MISSING_VOLUME_SOURCE),
            // An executor stopped by an RBAC refusal: the refusals rule reports the
            // same text as `forbidden`, with the role to grant.
            Fact::ExecutorFailed { .. } => !d
                .evidence
                .iter()
                .any(|m| parse::parse_forbidden(m).is_some()),
            // The program's exit code when the program never started.
            Fact::NonZeroExit { container, .. } => !detections.iter().any(|o| {
                o.pod == d.pod
                    && matches!(&o.fact, Fact::CommandNotFound { container: c, .. } if c == container)
            }),
            _ => true,
        })
        .cloned()
        .collect();

    // "Pending for long" says nothing once another finding names the pod's cause.
    let kept: Vec<Detection> = kept
        .iter()
        .filter(|d| d.reason() != Reason::StuckPending || !on_pod(&kept, d, &[]))
        .cloned()
        .collect();

    // The controller's bare words only when nothing else explains the failure.
    let explained = kept.iter().any(|d| d.reason() != Reason::StepError);
    kept.into_iter()
        .filter(|d| d.reason() != Reason::StepError || !explained)
        .collect()
}

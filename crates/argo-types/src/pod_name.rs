//! The name Argo gives the pod of a `Pod` node. Argo does not store it in the status, so
//! anything that reads pods or their events by name (the diagnosis, the logs, the report)
//! computes it as the controller did.

use std::collections::BTreeMap;

use crate::labels::ANNOTATION_POD_NAME_FORMAT;

/// Kubernetes' longest object name.
const MAX_NAME: usize = 253;
/// Room kept for `-` and the decimal 32-bit hash after the prefix.
const HASH_ROOM: usize = 10 + 1;

/// How a workflow's pods are named, from its [`ANNOTATION_POD_NAME_FORMAT`] annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodNameFormat {
    /// The node id (controllers before 3.2, or `POD_NAMES=v1`).
    V1,
    /// `<workflow>-<template>-<fnv32a(node name)>`, the default since Argo 3.2.
    #[default]
    V2,
}

impl PodNameFormat {
    /// The format a workflow's annotations announce; no annotation means v2.
    pub fn of(annotations: &BTreeMap<String, String>) -> Self {
        match annotations
            .get(ANNOTATION_POD_NAME_FORMAT)
            .map(String::as_str)
        {
            Some("v1") => Self::V1,
            _ => Self::V2,
        }
    }
}

/// The pod name of a node. v2: the workflow's own name for a single-pod workflow (the node
/// is named like the workflow); `<workflow>-<template>-<hash>` with the prefix cut to fit
/// Kubernetes' 253 characters; the node id when the template is unknown, as Argo falls back
/// to v1 then.
pub fn pod_name(
    format: PodNameFormat,
    workflow: &str,
    node_name: &str,
    template: Option<&str>,
    node_id: &str,
) -> String {
    let template = template.filter(|t| !t.is_empty());
    match (format, template) {
        (PodNameFormat::V2, _) if node_name == workflow => workflow.to_string(),
        (PodNameFormat::V2, Some(template)) => {
            let mut prefix = format!("{workflow}-{template}");
            let mut cut = MAX_NAME - HASH_ROOM;
            if prefix.len() > cut {
                while !prefix.is_char_boundary(cut) {
                    cut -= 1;
                }
                prefix.truncate(cut);
            }
            format!("{prefix}-{}", fnv32a(node_name.as_bytes()))
        }
        _ => node_id.to_string(),
    }
}

/// 32-bit FNV-1a, the hash Argo puts at the end of v2 pod names.
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_argos_published_values() {
        // Values from Argo UI's own pod-name tests.
        assert_eq!(fnv32a(b"hello"), 1_335_831_723);
        assert_eq!(fnv32a(b"world"), 933_488_787);
    }

    #[test]
    fn v2_names_by_template_and_hash() {
        let n = "wf-abc[0].collect(0:2009)";
        let got = pod_name(PodNameFormat::V2, "wf-abc", n, Some("collect"), "wf-abc-1");
        assert_eq!(got, format!("wf-abc-collect-{}", fnv32a(n.as_bytes())));
        // A single-pod workflow's pod is named like the workflow.
        let single = pod_name(PodNameFormat::V2, "wf-abc", "wf-abc", Some("main"), "x");
        assert_eq!(single, "wf-abc");
        // No template known: Argo falls back to the node id.
        assert_eq!(
            pod_name(PodNameFormat::V2, "wf-abc", n, None, "wf-abc-1"),
            "wf-abc-1"
        );
        assert_eq!(
            pod_name(PodNameFormat::V2, "wf-abc", n, Some(""), "wf-abc-1"),
            "wf-abc-1"
        );
    }

    #[test]
    fn v2_prefix_is_cut_to_fit_253_characters_on_a_char_boundary() {
        let long = format!("{}é", "w".repeat(241));
        let got = pod_name(PodNameFormat::V2, &long, "n", Some("t"), "id");
        assert!(got.len() <= MAX_NAME, "{}", got.len());
        assert!(got.starts_with(&"w".repeat(241)));
    }

    #[test]
    fn v1_names_are_node_ids() {
        let got = pod_name(PodNameFormat::V1, "wf", "wf[0].a", Some("a"), "wf-123");
        assert_eq!(got, "wf-123");
        let wf = pod_name(PodNameFormat::V1, "wf", "wf", Some("a"), "wf");
        assert_eq!(wf, "wf");
    }

    #[test]
    fn the_annotation_chooses_the_format() {
        let mut a = BTreeMap::new();
        assert_eq!(PodNameFormat::of(&a), PodNameFormat::V2);
        a.insert(ANNOTATION_POD_NAME_FORMAT.to_string(), "v1".to_string());
        assert_eq!(PodNameFormat::of(&a), PodNameFormat::V1);
        a.insert(ANNOTATION_POD_NAME_FORMAT.to_string(), "v2".to_string());
        assert_eq!(PodNameFormat::of(&a), PodNameFormat::V2);
    }
}

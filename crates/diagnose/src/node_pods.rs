//! Pods as far as the workflow's own status tells them, for a follower that may not read
//! pods (the Argo Server shows workflows, events and logs, not pods).
//!
//! Each unfinished `Pod` node stands for its pod: the name Argo gives it, the node's
//! phase, its start as the creation time, and the scheduler's verdict when the node's
//! message carries one. The rules then join the pod's events to it by name, exactly as
//! for a pod read from the API; finished nodes get no stand-in, so the rules read their
//! end from the node's message as they do for a pod already gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kit_argo_types::{ANNOTATION_NODE_ID, LABEL_WORKFLOW, Phase};

use crate::WorkflowView;

/// The annotation that marks a pod as a stand-in made from the workflow's status.
pub const ANNOTATION_FROM_NODE: &str = "xtask.dev/pod-from-workflow-node";

/// The controller's prefix of a node message that repeats the scheduler's verdict.
const UNSCHEDULABLE: &str = "Unschedulable: ";

/// Stand-ins for the pods of the workflow's unfinished `Pod` nodes.
pub fn pods_from_nodes(view: &WorkflowView) -> Vec<Arc<Pod>> {
    view.nodes
        .iter()
        .filter(|n| n.is_pod() && matches!(n.phase, Some(Phase::Pending | Phase::Running)))
        .filter_map(|n| {
            let name = n.pod_name.clone()?;
            let pending = n.phase == Some(Phase::Pending);
            let verdict = n
                .message
                .as_deref()
                .and_then(|m| m.strip_prefix(UNSCHEDULABLE))
                .filter(|_| pending);
            let conditions = verdict.map(|message| {
                vec![PodCondition {
                    type_: "PodScheduled".into(),
                    status: "False".into(),
                    reason: Some("Unschedulable".into()),
                    message: Some(message.to_string()),
                    ..PodCondition::default()
                }]
            });
            let started = n
                .started_at
                .and_then(|t| t.to_rfc3339().parse().ok())
                .map(Time);
            Some(Arc::new(Pod {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(view.namespace.clone()),
                    creation_timestamp: started,
                    labels: Some(BTreeMap::from([(LABEL_WORKFLOW.into(), view.name.clone())])),
                    annotations: Some(BTreeMap::from([
                        (ANNOTATION_NODE_ID.into(), n.id.clone()),
                        (ANNOTATION_FROM_NODE.into(), "true".into()),
                    ])),
                    ..ObjectMeta::default()
                },
                spec: None,
                status: Some(PodStatus {
                    phase: Some(if pending { "Pending" } else { "Running" }.into()),
                    conditions,
                    ..PodStatus::default()
                }),
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiagnoseConfig, Snapshot};
    use serde_json::json;

    fn view(nodes: serde_json::Value) -> WorkflowView {
        WorkflowView::from_json(&json!({
            "metadata": {"name": "wf", "namespace": "argo", "creationTimestamp": "2026-12-04T10:00:00Z"},
            "status": {"phase": "Running", "startedAt": "2026-12-04T10:00:00Z", "nodes": nodes}
        }))
        .unwrap()
    }

    #[test]
    fn only_unfinished_pod_nodes_get_a_stand_in_named_as_argo_names_pods() {
        let v = view(json!({
            "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps", "phase": "Running", "startedAt": "2026-12-04T10:00:00Z", "children": ["a", "b"]},
            "a": {"id": "a", "name": "wf[0].collect", "displayName": "collect", "type": "Pod", "templateName": "collect", "phase": "Pending", "startedAt": "2026-12-04T10:00:01Z"},
            "b": {"id": "b", "name": "wf[0].split", "displayName": "split", "type": "Pod", "templateName": "split", "phase": "Failed", "message": "Error (exit code 1)", "startedAt": "2026-12-04T10:00:01Z"}
        }));
        let pods = pods_from_nodes(&v);
        assert_eq!(pods.len(), 1);
        let pod = &pods[0];
        assert_eq!(
            pod.metadata.name,
            v.nodes.iter().find(|n| n.id == "a").unwrap().pod_name
        );
        assert_eq!(
            pod.status.as_ref().unwrap().phase.as_deref(),
            Some("Pending")
        );
        assert!(
            pod.metadata
                .annotations
                .as_ref()
                .unwrap()
                .contains_key(ANNOTATION_FROM_NODE)
        );
    }

    #[test]
    fn the_schedulers_verdict_in_a_node_message_is_diagnosed_without_reading_pods() {
        let v = view(json!({
            "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps", "phase": "Running", "startedAt": "2026-12-04T10:00:00Z", "children": ["a"]},
            "a": {"id": "a", "name": "wf[0].collect", "displayName": "collect", "type": "Pod", "templateName": "collect", "phase": "Pending",
                  "message": "Unschedulable: 0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint(s).",
                  "startedAt": "2026-12-04T10:00:01Z"}
        }));
        let snapshot = Snapshot {
            now: "2026-12-04T10:10:00Z".parse().unwrap(),
            pods: pods_from_nodes(&v),
            workflow: v,
            events: vec![],
            nodes: None,
            logs: BTreeMap::new(),
            config: DiagnoseConfig::default(),
        };
        let findings = crate::diagnose(&snapshot);
        let reasons: Vec<&str> = findings.iter().map(|f| f.reason.as_str()).collect();
        assert!(reasons.contains(&"unschedulable-resources"), "{reasons:?}");
        assert!(!reasons.contains(&"pod-not-created"), "{reasons:?}");
    }
}

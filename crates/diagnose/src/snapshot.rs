//! The input of a diagnosis: what the cluster showed at one instant.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Label Argo puts on every pod of a workflow.
pub const LABEL_WORKFLOW: &str = "workflows.argoproj.io/workflow";
/// Annotation Argo puts on a pod: the id of its node in `status.nodes`.
pub const ANNOTATION_NODE_ID: &str = "workflows.argoproj.io/node-id";
/// Annotation Argo puts on a pod: the full name of its node.
pub const ANNOTATION_NODE_NAME: &str = "workflows.argoproj.io/node-name";
/// Label that routes a workflow to the controller with the same instance id.
pub const LABEL_INSTANCE_ID: &str = "workflows.argoproj.io/controller-instanceid";
/// Annotation saying how pods are named (`v1`: node id; `v2`, the default: with the template).
pub const ANNOTATION_POD_NAME_FORMAT: &str = "workflows.argoproj.io/pod-name-format";

/// Everything a diagnosis looks at. Build it from a live watch, from one read, or from
/// fixture files.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    pub workflow: WorkflowView,
    /// Pods of the namespace (others than the workflow's are ignored). Shared with the
    /// follower's stores: a snapshot of a 500-pod workflow copies no pod.
    pub pods: Vec<Arc<Pod>>,
    /// Events of the namespace (those about other objects are ignored).
    pub events: Vec<Arc<Event>>,
    /// `None` when the user has no right to list nodes.
    pub nodes: Option<Vec<Node>>,
    /// Pod name → last lines of its main container's log.
    pub logs: BTreeMap<String, Vec<String>>,
    pub config: DiagnoseConfig,
}

/// Grace periods: how long a transient state may last before it is reported as stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiagnoseConfig {
    /// A pod may stay Pending (scheduling, ContainerCreating, mounts) this long.
    pub pending_grace: Duration,
    /// A new workflow may stay without a phase this long before we blame the controller.
    pub controller_grace: Duration,
    /// Image pull errors may last this long (a push may be in flight).
    pub image_pull_grace: Duration,
    /// A failed pod may stay unrecorded by the workflow this long.
    pub silent_grace: Duration,
    /// At most this many log lines go into a finding's evidence.
    pub log_tail_lines: usize,
}

impl Default for DiagnoseConfig {
    fn default() -> Self {
        DiagnoseConfig {
            pending_grace: Duration::from_secs(60),
            controller_grace: Duration::from_secs(20),
            image_pull_grace: Duration::from_secs(30),
            silent_grace: Duration::from_secs(30),
            log_tail_lines: 50,
        }
    }
}

/// The part of an Argo Workflow a diagnosis needs, independent of any Argo types crate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowView {
    pub name: String,
    pub namespace: String,
    /// `metadata.creationTimestamp`; the Unix epoch when absent.
    pub created: DateTime<Utc>,
    /// `None` or `""`: no controller has touched the workflow yet.
    pub phase: Option<String>,
    pub message: Option<String>,
    /// Sorted by start time, then name.
    pub nodes: Vec<NodeView>,
    /// `(type, status, message)`.
    pub conditions: Vec<(String, String, Option<String>)>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// One entry of `status.nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    /// Full name, e.g. `collect-x7k2p[0].collect(0)`.
    pub name: String,
    /// Short name shown to users, e.g. `collect(0)`.
    pub display_name: String,
    /// `Pod`, `Steps`, `DAG`, `Retry`, `Skipped`, `Suspend`, ...
    pub node_type: String,
    pub phase: Option<String>,
    pub message: Option<String>,
    /// For `Pod` nodes: the pod name Argo gives it.
    pub pod_name: Option<String>,
    /// `templateRef.template` when present, else `templateName`.
    pub template_name: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub children: Vec<String>,
    pub boundary_id: Option<String>,
}

impl WorkflowView {
    /// Reads an Argo Workflow object as the API returns it. Missing or malformed fields
    /// become empty values; this never fails.
    pub fn from_json(v: &Value) -> Self {
        let meta = &v["metadata"];
        let status = &v["status"];
        let name = str_at(meta, "name").unwrap_or_default();
        let labels = string_map(&meta["labels"]);
        let annotations = string_map(&meta["annotations"]);
        let v1_names = annotations
            .get(ANNOTATION_POD_NAME_FORMAT)
            .is_some_and(|f| f == "v1");

        let mut nodes: Vec<NodeView> = match status["nodes"].as_object() {
            Some(map) => map
                .iter()
                .map(|(key, n)| NodeView::from_json(key, n, &name, v1_names))
                .collect(),
            None => Vec::new(),
        };
        nodes.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.name.cmp(&b.name))
        });

        let conditions = status["conditions"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            str_at(c, "type").unwrap_or_default(),
                            str_at(c, "status").unwrap_or_default(),
                            str_at(c, "message"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();

        WorkflowView {
            namespace: str_at(meta, "namespace").unwrap_or_default(),
            created: time_at(meta, "creationTimestamp").unwrap_or(DateTime::UNIX_EPOCH),
            phase: str_at(status, "phase"),
            message: str_at(status, "message"),
            nodes,
            conditions,
            labels,
            annotations,
            name,
        }
    }

    /// The controller has never written a phase.
    pub fn untouched(&self) -> bool {
        self.phase.as_deref().is_none_or(str::is_empty)
    }

    /// Succeeded, Failed or Error.
    pub fn completed(&self) -> bool {
        matches!(
            self.phase.as_deref(),
            Some("Succeeded" | "Failed" | "Error")
        )
    }

    pub fn node(&self, id: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl NodeView {
    fn from_json(key: &str, n: &Value, workflow: &str, v1_names: bool) -> Self {
        let id = str_at(n, "id").unwrap_or_else(|| key.to_string());
        let name = str_at(n, "name").unwrap_or_default();
        let template_name = n["templateRef"]["template"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| str_at(n, "templateName"));
        let node_type = str_at(n, "type").unwrap_or_default();
        let pod_name = (node_type == "Pod").then(|| {
            if v1_names {
                id.clone()
            } else {
                pod_name_v2(workflow, &name, template_name.as_deref(), &id)
            }
        });
        NodeView {
            display_name: str_at(n, "displayName").unwrap_or_else(|| name.clone()),
            phase: str_at(n, "phase"),
            message: str_at(n, "message"),
            started_at: time_at(n, "startedAt"),
            finished_at: time_at(n, "finishedAt"),
            children: n["children"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            boundary_id: str_at(n, "boundaryID"),
            pod_name,
            template_name,
            node_type,
            name,
            id,
        }
    }

    /// Pending or Running.
    pub fn active(&self) -> bool {
        matches!(
            self.phase.as_deref(),
            None | Some("" | "Pending" | "Running")
        )
    }

    pub fn failed(&self) -> bool {
        matches!(self.phase.as_deref(), Some("Failed" | "Error"))
    }
}

/// Argo's "v2" pod name: `<workflow>-<template>-<fnv32a(node name)>`, the prefix cut to
/// fit Kubernetes' 253-character limit; the workflow name itself for a single-pod
/// workflow; the node id when the template is unknown.
pub fn pod_name_v2(workflow: &str, node_name: &str, template: Option<&str>, id: &str) -> String {
    if node_name == workflow {
        return workflow.to_string();
    }
    let Some(template) = template.filter(|t| !t.is_empty()) else {
        return id.to_string();
    };
    let mut prefix = format!("{workflow}-{template}");
    const MAX_PREFIX: usize = 253 - 10 - 1;
    if prefix.len() > MAX_PREFIX {
        let mut cut = MAX_PREFIX;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    format!("{prefix}-{}", fnv32a(node_name.as_bytes()))
}

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn time_at(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A part of a snapshot given as JSON did not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError {
    pub part: &'static str,
    pub message: String,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part, self.message)
    }
}

impl std::error::Error for SnapshotError {}

/// The JSON documents of a snapshot, as `kubectl get -o json` or the API return them.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotJson<'a> {
    pub workflow: &'a Value,
    /// A `PodList` or an array of pods.
    pub pods: Option<&'a Value>,
    /// An `EventList` or an array of events.
    pub events: Option<&'a Value>,
    /// A `NodeList` or an array; `None` when nodes could not be listed.
    pub nodes: Option<&'a Value>,
    /// An object: pod name → array of log lines (or one string with newlines).
    pub logs: Option<&'a Value>,
}

impl Snapshot {
    /// The part of the snapshot about this workflow, to keep with a run: its pods (those
    /// labelled with it or named by its nodes) without their field-manager bookkeeping,
    /// the events and log tails of those pods (also of the named pods already gone), and
    /// the events about anything that is not a pod (the workflow, volumes, nodes,
    /// quotas). Other pods of the namespace and their events are left out; what a
    /// diagnosis finds is the same.
    pub fn about_the_workflow(&self) -> Snapshot {
        let wf = &self.workflow;
        let named: std::collections::HashSet<&str> = wf
            .nodes
            .iter()
            .filter_map(|n| n.pod_name.as_deref())
            .collect();
        let pods: Vec<Arc<Pod>> = self
            .pods
            .iter()
            .filter(|p| {
                let labelled = p
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_WORKFLOW))
                    .is_some_and(|w| *w == wf.name);
                labelled
                    || p.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| named.contains(n))
            })
            .map(|p| {
                let mut pod = (**p).clone();
                pod.metadata.managed_fields = None;
                Arc::new(pod)
            })
            .collect();
        // Pods named by the workflow stay relevant after they are gone: their events
        // and log tails tell what happened.
        let mut kept = named;
        kept.extend(pods.iter().filter_map(|p| p.metadata.name.as_deref()));
        let events = self
            .events
            .iter()
            .filter(|e| {
                let about = &e.involved_object;
                about.kind.as_deref() != Some("Pod")
                    || about.name.as_deref().is_some_and(|n| kept.contains(n))
            })
            .cloned()
            .collect();
        let logs = self
            .logs
            .iter()
            .filter(|(pod, _)| kept.contains(pod.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Snapshot {
            now: self.now,
            workflow: self.workflow.clone(),
            pods,
            events,
            nodes: self.nodes.clone(),
            logs,
            config: self.config.clone(),
        }
    }

    /// Builds a snapshot from JSON documents (fixtures, `cargo xtask diagnose --from`).
    pub fn from_json(
        now: DateTime<Utc>,
        parts: SnapshotJson<'_>,
        config: DiagnoseConfig,
    ) -> Result<Snapshot, SnapshotError> {
        Ok(Snapshot {
            now,
            workflow: WorkflowView::from_json(parts.workflow),
            pods: shared(parts.pods.map(|v| items(v, "pods")).transpose()?),
            events: shared(parts.events.map(|v| items(v, "events")).transpose()?),
            nodes: parts.nodes.map(|v| items(v, "nodes")).transpose()?,
            logs: parts.logs.map(logs_from_json).unwrap_or_default(),
            config,
        })
    }
}

fn shared<T>(items: Option<Vec<T>>) -> Vec<Arc<T>> {
    items.into_iter().flatten().map(Arc::new).collect()
}

fn items<T: DeserializeOwned>(v: &Value, part: &'static str) -> Result<Vec<T>, SnapshotError> {
    let list = match v {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => match o.get("items") {
            Some(Value::Array(a)) => a.as_slice(),
            Some(Value::Null) | None => &[],
            Some(_) => {
                return Err(SnapshotError {
                    part,
                    message: "`items` is not an array".into(),
                });
            }
        },
        Value::Null => &[],
        _ => {
            return Err(SnapshotError {
                part,
                message: "expected a list object or an array".into(),
            });
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            T::deserialize(item).map_err(|e| SnapshotError {
                part,
                message: format!("item {i}: {e}"),
            })
        })
        .collect()
}

fn logs_from_json(v: &Value) -> BTreeMap<String, Vec<String>> {
    let Some(map) = v.as_object() else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(pod, lines)| {
            let lines = match lines {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                Value::String(s) => s.lines().map(str::to_string).collect(),
                _ => Vec::new(),
            };
            (pod.clone(), lines)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv32a_matches_reference_vectors() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn pod_names() {
        let n = "wf-abc[0].collect(0)";
        let got = pod_name_v2("wf-abc", n, Some("collect"), "wf-abc-1");
        assert_eq!(got, format!("wf-abc-collect-{}", fnv32a(n.as_bytes())));
        assert_eq!(pod_name_v2("wf-abc", "wf-abc", Some("main"), "x"), "wf-abc");
        assert_eq!(pod_name_v2("wf-abc", n, None, "wf-abc-1"), "wf-abc-1");
        let long = "é".repeat(200);
        let got = pod_name_v2(&long, n, Some("t"), "id");
        assert!(got.len() <= 253, "{}", got.len());
    }

    #[test]
    fn workflow_view_tolerates_anything() {
        for v in [
            json!(null),
            json!(3),
            json!({}),
            json!({"status": {"nodes": []}}),
            json!({"metadata": {"name": 4}, "status": {"nodes": {"x": 1}}}),
        ] {
            let w = WorkflowView::from_json(&v);
            assert!(w.untouched());
            assert_eq!(w.created, DateTime::UNIX_EPOCH);
        }
    }

    #[test]
    fn workflow_view_reads_nodes() {
        let v = json!({
            "metadata": {"name": "wf", "namespace": "argo", "creationTimestamp": "2026-11-30T10:00:00Z",
                         "labels": {"a": "b"}},
            "status": {"phase": "Running", "conditions": [{"type": "PodRunning", "status": "True"}],
              "nodes": {
                "wf": {"id": "wf", "name": "wf", "displayName": "wf", "type": "Steps",
                       "templateName": "main", "phase": "Running", "children": ["wf-1"],
                       "startedAt": "2026-11-30T10:00:01Z"},
                "wf-1": {"id": "wf-1", "name": "wf[0].collect", "displayName": "collect", "type": "Pod",
                         "templateRef": {"name": "lib", "template": "collect"}, "templateName": "ignored",
                         "phase": "Pending", "boundaryID": "wf", "startedAt": "2026-11-30T10:00:02Z"}
              }}
        });
        let w = WorkflowView::from_json(&v);
        assert_eq!(w.name, "wf");
        assert_eq!(w.nodes.len(), 2);
        assert_eq!(w.nodes[0].id, "wf");
        assert_eq!(w.nodes[0].pod_name, None);
        assert_eq!(w.nodes[0].children, vec!["wf-1".to_string()]);
        let p = &w.nodes[1];
        assert_eq!(p.template_name.as_deref(), Some("collect"));
        assert_eq!(
            p.pod_name.as_deref(),
            Some(format!("wf-collect-{}", fnv32a(b"wf[0].collect")).as_str())
        );
        assert_eq!(
            w.conditions,
            vec![("PodRunning".into(), "True".into(), None)]
        );
        assert_eq!(w.labels.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn v1_pod_names_are_node_ids() {
        let v = json!({"metadata": {"name": "wf", "annotations": {ANNOTATION_POD_NAME_FORMAT: "v1"}},
            "status": {"nodes": {"wf-9": {"id": "wf-9", "name": "wf[0].a", "type": "Pod", "templateName": "a"}}}});
        assert_eq!(
            WorkflowView::from_json(&v).nodes[0].pod_name.as_deref(),
            Some("wf-9")
        );
    }

    #[test]
    fn snapshot_from_json_accepts_lists_and_arrays() {
        let wf = json!({"metadata": {"name": "wf"}});
        let pods = json!({"kind": "PodList", "items": [{"metadata": {"name": "p"}}]});
        let events = json!([]);
        let logs = json!({"p": "a\nb", "q": ["c"]});
        let s = Snapshot::from_json(
            DateTime::UNIX_EPOCH,
            SnapshotJson {
                workflow: &wf,
                pods: Some(&pods),
                events: Some(&events),
                nodes: None,
                logs: Some(&logs),
            },
            DiagnoseConfig::default(),
        )
        .unwrap();
        assert_eq!(s.pods.len(), 1);
        assert!(s.nodes.is_none());
        assert_eq!(s.logs["p"], vec!["a", "b"]);
        let bad = json!({"items": [{"metadata": {"name": 3}}]});
        let err = Snapshot::from_json(
            DateTime::UNIX_EPOCH,
            SnapshotJson {
                workflow: &wf,
                pods: Some(&bad),
                events: None,
                nodes: None,
                logs: None,
            },
            DiagnoseConfig::default(),
        )
        .unwrap_err();
        assert_eq!(err.part, "pods");
    }
}

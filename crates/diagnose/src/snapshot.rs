//! The input of a diagnosis: what the cluster showed at one instant.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kit_argo_types::{
    LABEL_WORKFLOW, NodeStatus, NodeType, Phase, PodNameFormat, Workflow, WorkflowStatus, pod_name,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// What a live follower reports: something changed, the caller takes a new snapshot.
/// The same for every way of watching (the Kubernetes API, the Argo Server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Workflow,
    Pod,
    Event,
    /// A watch broke; the follower retries with backoff. Worth showing, not fatal.
    WatchError(String),
    /// A watch cannot go on (the token was refused): following must stop with this.
    Fatal(String),
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

/// The part of an Argo Workflow a diagnosis and the display read, flattened from the
/// [`Workflow`] type: nodes in start order, each `Pod` node with its pod name computed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkflowView {
    pub name: String,
    pub namespace: String,
    /// `metadata.creationTimestamp`; the Unix epoch when absent.
    pub created: DateTime<Utc>,
    /// `None`: no controller has touched the workflow yet (an empty phase reads as none).
    pub phase: Option<Phase>,
    pub message: Option<String>,
    /// Sorted by start time, then name.
    pub nodes: Vec<NodeView>,
    /// `(type, status, message)`.
    pub conditions: Vec<(String, String, Option<String>)>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// One entry of `status.nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub id: String,
    /// Full name, e.g. `collect-x7k2p[0].collect(0)`.
    pub name: String,
    /// Short name shown to users, e.g. `collect(0)`.
    pub display_name: String,
    pub node_type: NodeType,
    pub phase: Option<Phase>,
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
    /// The view of a workflow as the API returned it.
    pub fn of(workflow: &Workflow) -> Self {
        Self::from_parts(&workflow.metadata, workflow.status.as_ref())
    }

    /// Reads a workflow object given as JSON (fixtures, saved runs, `diagnose --from`).
    /// Only `metadata` and `status` are read, so a workflow whose spec this toolkit does
    /// not model is still diagnosed; a `metadata` or `status` of the wrong shape is an
    /// error naming the field.
    pub fn from_json(v: &Value) -> Result<Self, SnapshotError> {
        // Read in place: a wide workflow's status is megabytes, not worth a copy.
        let part = |field: &str| v.get(field).filter(|value| !value.is_null());
        let error = |field: &str, e: serde_json::Error| SnapshotError {
            part: "workflow",
            message: format!("`{field}`: {e}"),
        };
        if !(v.is_object() || v.is_null()) {
            return Err(SnapshotError {
                part: "workflow",
                message: "expected a Workflow object".into(),
            });
        }
        let meta = match part("metadata") {
            None => ObjectMeta::default(),
            Some(m) => ObjectMeta::deserialize(m).map_err(|e| error("metadata", e))?,
        };
        let status = match part("status") {
            None => None,
            Some(s) => Some(WorkflowStatus::deserialize(s).map_err(|e| error("status", e))?),
        };
        Ok(Self::from_parts(&meta, status.as_ref()))
    }

    fn from_parts(meta: &ObjectMeta, status: Option<&WorkflowStatus>) -> Self {
        let name = meta.name.clone().unwrap_or_default();
        let labels = meta.labels.clone().unwrap_or_default();
        let annotations = meta.annotations.clone().unwrap_or_default();
        let format = PodNameFormat::of(&annotations);
        let mut nodes: Vec<NodeView> = status
            .map(|s| {
                s.nodes
                    .iter()
                    .map(|(key, n)| NodeView::of(key, n, &name, format))
                    .collect()
            })
            .unwrap_or_default();
        nodes.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.name.cmp(&b.name))
        });
        let conditions = status
            .map(|s| {
                s.conditions
                    .iter()
                    .map(|c| {
                        (
                            c.condition_type.clone(),
                            c.status.clone(),
                            c.message.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        WorkflowView {
            namespace: meta.namespace.clone().unwrap_or_default(),
            created: meta
                .creation_timestamp
                .as_ref()
                .and_then(|t| utc(&t.0))
                .unwrap_or(DateTime::UNIX_EPOCH),
            phase: status.and_then(|s| written(s.phase.as_ref())),
            message: status.and_then(|s| s.message.clone()),
            nodes,
            conditions,
            labels,
            annotations,
            name,
        }
    }

    /// The controller has never written a phase.
    pub fn untouched(&self) -> bool {
        self.phase.is_none()
    }

    /// The phase, Pending until the controller writes one.
    pub fn phase_or_pending(&self) -> &Phase {
        self.phase.as_ref().unwrap_or(&Phase::Pending)
    }

    /// Ended: Succeeded, Failed or Error ([`Phase::is_finished`]).
    pub fn completed(&self) -> bool {
        self.phase.as_ref().is_some_and(Phase::is_finished)
    }

    /// The phase as text, empty when none was written yet.
    pub fn phase_text(&self) -> &str {
        self.phase.as_ref().map_or("", Phase::as_str)
    }

    pub fn node(&self, id: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl NodeView {
    fn of(key: &str, n: &NodeStatus, workflow: &str, format: PodNameFormat) -> Self {
        let id = if n.id.is_empty() {
            key.to_string()
        } else {
            n.id.clone()
        };
        let template_name = n
            .template_ref
            .as_ref()
            .map(|r| r.template.clone())
            .filter(|t| !t.is_empty())
            .or_else(|| n.template_name.clone());
        let node_type = n
            .node_type
            .clone()
            .unwrap_or_else(|| NodeType::Other(String::new()));
        let pod_name = (node_type == NodeType::Pod)
            .then(|| pod_name(format, workflow, &n.name, template_name.as_deref(), &id));
        NodeView {
            display_name: if n.display_name.is_empty() {
                n.name.clone()
            } else {
                n.display_name.clone()
            },
            phase: written(n.phase.as_ref()),
            message: n.message.clone(),
            started_at: n.started_at.as_ref().and_then(|t| utc(&t.0)),
            finished_at: n.finished_at.as_ref().and_then(|t| utc(&t.0)),
            children: n.children.clone(),
            boundary_id: n.boundary_id.clone(),
            pod_name,
            template_name,
            node_type,
            name: n.name.clone(),
            id,
        }
    }

    /// Not finished yet: no phase, Pending or Running.
    pub fn active(&self) -> bool {
        self.phase.as_ref().is_none_or(Phase::is_active)
    }

    /// The phase, Pending until the controller writes one.
    pub fn phase_or_pending(&self) -> &Phase {
        self.phase.as_ref().unwrap_or(&Phase::Pending)
    }

    /// Failed or Error.
    pub fn failed(&self) -> bool {
        self.phase.as_ref().is_some_and(Phase::is_failed)
    }

    /// A node that runs a pod.
    pub fn is_pod(&self) -> bool {
        self.node_type == NodeType::Pod
    }
}

/// A phase as the views keep it: an empty one (as some controllers write before they
/// act) is no phase, so "not written yet" has one form.
fn written(phase: Option<&Phase>) -> Option<Phase> {
    phase.filter(|p| !p.as_str().is_empty()).cloned()
}

/// A Kubernetes time as the diagnosis computes with it.
pub(crate) fn utc(t: &Timestamp) -> Option<DateTime<Utc>> {
    i64::try_from(t.as_nanosecond())
        .ok()
        .map(DateTime::from_timestamp_nanos)
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
            workflow: WorkflowView::from_json(parts.workflow)?,
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
    fn workflow_view_of_an_empty_object_is_untouched() {
        for v in [json!(null), json!({}), json!({"status": {"nodes": {}}})] {
            let w = WorkflowView::from_json(&v).unwrap();
            assert!(w.untouched());
            assert_eq!(w.created, DateTime::UNIX_EPOCH);
        }
    }

    #[test]
    fn workflow_view_names_the_field_of_the_wrong_shape() {
        for (v, field) in [
            (json!(3), "Workflow object"),
            (json!({"metadata": {"name": 4}}), "`metadata`"),
            (json!({"status": {"nodes": {"x": 1}}}), "`status`"),
            (json!({"status": {"nodes": []}}), "`status`"),
        ] {
            let err = WorkflowView::from_json(&v).unwrap_err();
            assert_eq!(err.part, "workflow");
            assert!(err.message.contains(field), "{}", err.message);
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
        let w = WorkflowView::from_json(&v).unwrap();
        assert_eq!(w.name, "wf");
        assert_eq!(w.phase, Some(Phase::Running));
        assert_eq!(w.nodes[1].node_type, NodeType::Pod);
        assert_eq!(w.nodes.len(), 2);
        assert_eq!(w.nodes[0].id, "wf");
        assert_eq!(w.nodes[0].pod_name, None);
        assert_eq!(w.nodes[0].children, vec!["wf-1".to_string()]);
        let p = &w.nodes[1];
        assert_eq!(p.template_name.as_deref(), Some("collect"));
        assert_eq!(
            p.pod_name.as_deref(),
            Some(
                pod_name(
                    PodNameFormat::V2,
                    "wf",
                    "wf[0].collect",
                    Some("collect"),
                    "wf-1"
                )
                .as_str()
            )
        );
        assert_eq!(
            w.conditions,
            vec![("PodRunning".into(), "True".into(), None)]
        );
        assert_eq!(w.labels.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn v1_pod_names_are_node_ids() {
        let v = json!({"metadata": {"name": "wf", "annotations": {kit_argo_types::ANNOTATION_POD_NAME_FORMAT: "v1"}},
            "status": {"nodes": {"wf-9": {"id": "wf-9", "name": "wf[0].a", "type": "Pod", "templateName": "a"}}}});
        assert_eq!(
            WorkflowView::from_json(&v).unwrap().nodes[0]
                .pod_name
                .as_deref(),
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

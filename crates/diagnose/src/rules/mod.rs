//! The rules, and what they share: which pods and events belong to the workflow, which
//! workflow node each pod runs, and time helpers.

mod argo;
mod kube;
mod user;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Event, Pod};

use crate::finding::Reason;
use crate::parse;
pub(crate) use crate::snapshot::utc;
use crate::snapshot::{NodeView, Snapshot};
use kit_argo_types::{ANNOTATION_NODE_ID, ANNOTATION_NODE_NAME, LABEL_WORKFLOW, NodeType, Phase};

/// A finding before grace periods and deduplication are applied.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub reason: Reason,
    /// What distinguishes two findings of the same reason on the same pod (an image, a
    /// ConfigMap name); findings with equal reason, pod and key merge.
    pub key: String,
    pub step: Option<String>,
    pub pod: Option<String>,
    pub summary: String,
    pub evidence: Vec<String>,
    pub fix: String,
    /// First sign seen.
    pub since: Option<DateTime<Utc>>,
    /// Before `since + grace` the finding is only "watching".
    pub grace: TimeDelta,
    /// Waiting will not help once the grace period is over.
    pub definitive: bool,
}

/// A pod of the workflow with what we know about it.
pub(crate) struct PodInfo<'a> {
    pub pod: &'a Pod,
    pub name: &'a str,
    pub node: Option<&'a NodeView>,
    pub step: Option<String>,
    /// Events about this pod, oldest first.
    pub events: Vec<&'a Event>,
}

impl<'a> PodInfo<'a> {
    pub fn phase(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("")
    }

    pub fn pending(&self) -> bool {
        matches!(self.phase(), "Pending" | "")
    }

    pub fn done(&self) -> bool {
        matches!(self.phase(), "Succeeded" | "Failed")
    }

    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.pod
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| utc(&t.0))
    }

    pub fn node_name(&self) -> Option<&str> {
        self.pod.spec.as_ref()?.node_name.as_deref()
    }

    /// Init containers first, then the others; `true` marks init containers.
    pub fn statuses(&self) -> impl Iterator<Item = (&ContainerStatus, bool)> {
        let status = self.pod.status.as_ref();
        let init = status
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or_default();
        let main = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        init.iter()
            .map(|c| (c, true))
            .chain(main.iter().map(|c| (c, false)))
    }

    /// Containers waiting with one of these reasons: `(status, reason, message)`.
    pub fn waiting(&self, reasons: &[&str]) -> Vec<(&ContainerStatus, &str, &str)> {
        self.statuses()
            .filter_map(|(c, _)| {
                let w = c.state.as_ref()?.waiting.as_ref()?;
                let r = w.reason.as_deref().unwrap_or("");
                reasons
                    .contains(&r)
                    .then(|| (c, r, w.message.as_deref().unwrap_or("")))
            })
            .collect()
    }

    /// Current and previous terminated states of every container.
    pub fn terminations(&self) -> Vec<(&ContainerStatus, &ContainerStateTerminated)> {
        self.statuses()
            .flat_map(|(c, _)| {
                [c.state.as_ref(), c.last_state.as_ref()]
                    .into_iter()
                    .flatten()
                    .filter_map(move |s| s.terminated.as_ref().map(|t| (c, t)))
            })
            .collect()
    }

    pub fn events_with(&self, reasons: &[&str]) -> Vec<&'a Event> {
        self.events
            .iter()
            .copied()
            .filter(|e| reasons.contains(&e.reason.as_deref().unwrap_or("")))
            .collect()
    }

    /// The condition of this type, when present.
    pub fn condition(&self, type_: &str) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
        self.pod
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_)
    }

    /// Memory limit of a container from the pod spec.
    pub fn limit(&self, container: &str, resource: &str) -> Option<String> {
        let spec = self.pod.spec.as_ref()?;
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == container)?
            .resources
            .as_ref()?
            .limits
            .as_ref()?
            .get(resource)
            .map(|q| q.0.clone())
    }

    /// The container(s) that run the user's program: `main` when there is one (Argo's
    /// container templates), else every container but Argo's `init` and `wait`.
    pub fn is_main(&self, container: &str) -> bool {
        let has_main = self
            .pod
            .spec
            .as_ref()
            .is_some_and(|s| s.containers.iter().any(|c| c.name == "main"));
        if has_main {
            container == "main"
        } else {
            !matches!(container, "init" | "wait")
        }
    }
}

pub(crate) struct Ctx<'a> {
    pub s: &'a Snapshot,
    pub pods: Vec<PodInfo<'a>>,
    /// Events about the Workflow object, oldest first.
    pub workflow_events: Vec<&'a Event>,
    /// Node id → its parent's id.
    parents: BTreeMap<&'a str, &'a str>,
    /// Ids of nodes that have a pod in the snapshot.
    nodes_with_pod: BTreeSet<&'a str>,
    /// Node id → node: a 500-pod workflow has as many nodes, looked up per pod.
    nodes_by_id: HashMap<&'a str, &'a NodeView>,
    /// Node id → index in `pods`.
    pod_of_node: HashMap<&'a str, usize>,
}

impl<'a> Ctx<'a> {
    pub fn new(s: &'a Snapshot) -> Self {
        let wf = &s.workflow;
        // Index pod events once: the follower rebuilds the context on every change.
        let mut pod_events: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
        for e in &s.events {
            let o = &e.involved_object;
            if o.kind.as_deref().is_none_or(|k| k == "Pod")
                && let Some(name) = o.name.as_deref()
            {
                pod_events.entry(name).or_default().push(e);
            }
        }
        let nodes_by_id: HashMap<&str, &NodeView> =
            wf.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let nodes_by_pod: HashMap<&str, &NodeView> = wf
            .nodes
            .iter()
            .filter_map(|n| Some((n.pod_name.as_deref()?, n)))
            .collect();
        let nodes_by_name: HashMap<&str, &NodeView> =
            wf.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        let mut pods = Vec::new();
        let mut nodes_with_pod = BTreeSet::new();
        for pod in &s.pods {
            let Some(name) = pod.metadata.name.as_deref() else {
                continue;
            };
            let labels = pod.metadata.labels.as_ref();
            let annotations = pod.metadata.annotations.as_ref();
            let node_id = annotations.and_then(|a| a.get(ANNOTATION_NODE_ID));
            let node = node_id
                .and_then(|id| nodes_by_id.get(id.as_str()).copied())
                .or_else(|| nodes_by_pod.get(name).copied())
                .or_else(|| {
                    let full = annotations.and_then(|a| a.get(ANNOTATION_NODE_NAME))?;
                    nodes_by_name.get(full.as_str()).copied()
                });
            let labelled = labels
                .and_then(|l| l.get(LABEL_WORKFLOW))
                .map(String::as_str)
                == Some(&wf.name);
            if !labelled && node.is_none() {
                continue;
            }
            if let Some(n) = node {
                nodes_with_pod.insert(n.id.as_str());
            }
            let step = node.map(|n| n.display_name.clone()).or_else(|| {
                annotations
                    .and_then(|a| a.get(ANNOTATION_NODE_NAME))
                    .map(|full| parse::short_node_name(full).to_string())
            });
            let uid = pod.metadata.uid.as_deref();
            let mut events: Vec<&Event> = pod_events
                .get(name)
                .into_iter()
                .flatten()
                .copied()
                // An event of an older pod with the same name does not count.
                .filter(|e| match (e.involved_object.uid.as_deref(), uid) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                })
                .collect();
            events.sort_by_key(|e| event_first(e));
            pods.push(PodInfo {
                pod,
                name,
                node,
                step,
                events,
            });
        }
        pods.sort_by(|a, b| a.created().cmp(&b.created()).then(a.name.cmp(b.name)));

        let mut workflow_events: Vec<&Event> = s
            .events
            .iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some("Workflow")
                    && e.involved_object.name.as_deref() == Some(wf.name.as_str())
            })
            .map(|e| &**e)
            .collect();
        workflow_events.sort_by_key(|e| event_first(e));

        let mut parents = BTreeMap::new();
        for n in &wf.nodes {
            for c in &n.children {
                parents.insert(c.as_str(), n.id.as_str());
            }
        }
        let pod_of_node = pods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((p.node?.id.as_str(), i)))
            .collect();
        Ctx {
            s,
            pods,
            workflow_events,
            parents,
            nodes_with_pod,
            nodes_by_id,
            pod_of_node,
        }
    }

    /// The pod of a workflow node, when the snapshot has it.
    pub fn pod_of(&self, node: &NodeView) -> Option<&PodInfo<'a>> {
        self.pod_of_node
            .get(node.id.as_str())
            .map(|&i| &self.pods[i])
    }

    pub fn has_pod(&self, node: &NodeView) -> bool {
        self.nodes_with_pod.contains(node.id.as_str())
    }

    /// Whether Argo may still recover from a failure of this node by itself: a Retry
    /// ancestor still running or already succeeded, or the whole workflow succeeded.
    pub fn recoverable(&self, node: Option<&NodeView>) -> bool {
        if self.s.workflow.phase == Some(Phase::Succeeded) {
            return true;
        }
        let Some(node) = node else {
            return false;
        };
        let mut id = node.id.as_str();
        // Bounded walk: a malformed status with a cycle must not loop forever.
        for _ in 0..self.s.workflow.nodes.len() {
            let Some(parent) = self.parents.get(id) else {
                break;
            };
            if let Some(p) = self.nodes_by_id.get(parent)
                && p.node_type == NodeType::Retry
                && (p.active() || p.phase == Some(Phase::Succeeded))
            {
                return true;
            }
            id = parent;
        }
        false
    }

    pub fn grace(&self, d: std::time::Duration) -> TimeDelta {
        TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
    }

    /// The last lines of a pod's main log, at most the configured number.
    /// The last lines the step's program wrote. Argo's emissary shares the main
    /// container's output: its own lines (logfmt with `argo=true`, and the
    /// `Error: exit status N` it ends with when the program failed) are not the program's.
    pub fn log_tail(&self, pod: &str) -> Vec<String> {
        let Some(lines) = self.s.logs.get(pod) else {
            return Vec::new();
        };
        let mut end = lines.len();
        while end > 0 && lines[end - 1].trim().is_empty() {
            end -= 1;
        }
        let mut filter = parse::ProgramLines::default();
        let program: Vec<&String> = lines[..end].iter().filter(|l| filter.keep(l)).collect();
        let start = program.len().saturating_sub(self.s.config.log_tail_lines);
        program[start..].iter().map(|l| l.to_string()).collect()
    }

    pub fn namespace(&self) -> &str {
        if self.s.workflow.namespace.is_empty() {
            self.pods
                .first()
                .and_then(|p| p.pod.metadata.namespace.as_deref())
                .unwrap_or("NAMESPACE")
        } else {
            &self.s.workflow.namespace
        }
    }
}

/// When an event was first seen.
pub(crate) fn event_first(e: &Event) -> Option<DateTime<Utc>> {
    e.first_timestamp
        .as_ref()
        .map(|t| &t.0)
        .or(e.event_time.as_ref().map(|t| &t.0))
        .or(e.last_timestamp.as_ref().map(|t| &t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| &t.0))
        .and_then(utc)
}

/// When an event was last seen.
pub(crate) fn event_last(e: &Event) -> Option<DateTime<Utc>> {
    e.last_timestamp
        .as_ref()
        .map(|t| &t.0)
        .or(e
            .series
            .as_ref()
            .and_then(|s| s.last_observed_time.as_ref())
            .map(|t| &t.0))
        .or(e.event_time.as_ref().map(|t| &t.0))
        .or(e.first_timestamp.as_ref().map(|t| &t.0))
        .and_then(utc)
}

pub(crate) fn message(e: &Event) -> &str {
    e.message.as_deref().unwrap_or("")
}

/// Earliest of some optional times.
pub(crate) fn earliest(
    times: impl IntoIterator<Item = Option<DateTime<Utc>>>,
) -> Option<DateTime<Utc>> {
    times.into_iter().flatten().min()
}

/// Appends without duplicates, skipping empty strings.
pub(crate) fn push_unique(v: &mut Vec<String>, s: impl Into<String>) {
    let s = s.into();
    if !s.trim().is_empty() && !v.contains(&s) {
        v.push(s);
    }
}

/// Human duration: `45s`, `3m`, `2h5m`.
pub(crate) fn ago(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// Runs every rule.
pub(crate) fn run(s: &Snapshot) -> Vec<Raw> {
    let ctx = Ctx::new(s);
    let mut out = Vec::new();
    argo::controller_not_acting(&ctx, &mut out);
    user::invalid_spec(&ctx, &mut out);
    argo::refusals(&ctx, &mut out);
    for p in &ctx.pods {
        user::image_pull(&ctx, p, &mut out);
        user::config_refs(&ctx, p, &mut out);
        kube::scheduling(&ctx, p, &mut out);
        kube::mount_claims(&ctx, p, &mut out);
        kube::sandbox(&ctx, p, &mut out);
        kube::volume_attach(&ctx, p, &mut out);
        kube::node_trouble(&ctx, p, &mut out);
        user::terminations(&ctx, p, &mut out);
        kube::status_reasons(&ctx, p, &mut out);
        argo::silent_failure(&ctx, p, &mut out);
    }
    user::from_node_messages(&ctx, &mut out);
    user::image_command_unknown(&ctx, &mut out);
    argo::pod_not_created(&ctx, &mut out);
    kube::stuck_pending(&ctx, &mut out);
    if out.is_empty() {
        // Never leave a failed workflow unexplained: the controller's own words at least.
        user::unexplained_errors(&ctx, &mut out);
    }
    out
}

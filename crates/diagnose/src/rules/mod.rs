//! The rules, and what they share: which pods and events belong to the workflow, which
//! workflow node each pod runs, and time helpers.

mod command;
mod config;
mod controller;
mod executor;
mod exit;
mod killed;
mod mount;
mod node;
mod pending;
mod pull;
mod refusal;
mod sandbox;
mod schedule;
mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Event, Pod,
};

use crate::finding::Reason;
use crate::parse;
use crate::reasons::wording::Fact;
pub(crate) use crate::snapshot::utc;
use crate::snapshot::{NodeView, Snapshot};
use kit_argo_types::{ANNOTATION_NODE_ID, ANNOTATION_NODE_NAME, LABEL_WORKFLOW, NodeType, Phase};

/// What a rule detected, before grace periods, suppression and merging.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    /// What was read: the reason and the names its words need.
    pub fact: Fact,
    pub step: Option<String>,
    pub pod: Option<String>,
    /// Verbatim lines from the snapshot that show it.
    pub evidence: Vec<String>,
    /// First sign seen.
    pub since: Option<DateTime<Utc>>,
    /// Before `since + grace` the finding is only "watching".
    pub grace: TimeDelta,
    /// Waiting will not help once the grace period is over.
    pub definitive: bool,
}

impl Detection {
    pub fn reason(&self) -> Reason {
        self.fact.reason()
    }

    /// A detection about one pod of the workflow.
    pub fn on_pod(
        p: &PodInfo<'_>,
        fact: Fact,
        evidence: Vec<String>,
        since: Option<DateTime<Utc>>,
        grace: TimeDelta,
        definitive: bool,
    ) -> Self {
        Detection {
            fact,
            step: p.step.clone(),
            pod: Some(p.name.to_string()),
            evidence,
            since,
            grace,
            definitive,
        }
    }
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

    /// Whether the pod is a stand-in made from its workflow node
    /// ([`crate::pods_from_nodes`]), not read from the API.
    pub fn stand_in(&self) -> bool {
        self.pod
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(crate::ANNOTATION_FROM_NODE))
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

    /// The PersistentVolumeClaims the pod mounts.
    pub fn claims(&self) -> Vec<String> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v.persistent_volume_claim.as_ref())
                    .map(|c| c.claim_name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether any container has run.
    pub fn started(&self) -> bool {
        self.statuses().any(|(c, _)| {
            c.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
        })
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

    /// A container of the pod spec, init containers included.
    fn container(&self, name: &str) -> Option<&Container> {
        let spec = self.pod.spec.as_ref()?;
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == name)
    }

    /// A resource limit of a container from the pod spec.
    pub fn limit(&self, container: &str, resource: &str) -> Option<String> {
        self.container(container)?
            .resources
            .as_ref()?
            .limits
            .as_ref()?
            .get(resource)
            .map(|q| q.0.clone())
    }

    /// The image a container of the pod runs.
    pub fn image_of(&self, container: &str) -> Option<String> {
        self.container(container)?.image.clone()
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
            events.sort_by_cached_key(|e| event_first(e));
            pods.push(PodInfo {
                pod,
                name,
                node,
                step,
                events,
            });
        }
        // Keys read once: converting a timestamp on every comparison showed in profiles.
        pods.sort_by_cached_key(|p| (p.created(), p.name));

        let mut workflow_events: Vec<&Event> = s
            .events
            .iter()
            .filter(|e| {
                e.involved_object.kind.as_deref() == Some("Workflow")
                    && e.involved_object.name.as_deref() == Some(wf.name.as_str())
            })
            .map(|e| &**e)
            .collect();
        workflow_events.sort_by_cached_key(|e| event_first(e));

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

    /// Every container that ended badly: from the pods' statuses, then from the node
    /// messages of failed steps whose pod is gone (garbage-collected or deleted).
    pub fn endings(&self) -> Vec<Ended<'_>> {
        let mut out = Vec::new();
        for p in &self.pods {
            if p.node.is_some_and(|n| n.phase == Some(Phase::Succeeded)) {
                continue;
            }
            // Containers killed by an eviction, a deadline or a lost node did not fail
            // by themselves: the pod's status reason has its own finding.
            let killed = matches!(
                p.pod.status.as_ref().and_then(|s| s.reason.as_deref()),
                Some("Evicted" | "DeadlineExceeded" | "NodeLost")
            );
            for (c, t) in p.terminations() {
                let reason = t.reason.as_deref().unwrap_or("");
                if reason != "OOMKilled"
                    && (t.exit_code == 0 || killed || reason == "ContainerStatusUnknown")
                {
                    continue;
                }
                out.push(Ended {
                    container: &c.name,
                    reason,
                    code: t.exit_code,
                    message: t.message.as_deref(),
                    finished: t.finished_at.as_ref().and_then(|f| utc(&f.0)),
                    pod: Some(p),
                    node: p.node,
                    pod_name: p.name.to_string(),
                    step: p.step.clone(),
                });
            }
        }
        for n in self.gone_pods() {
            let Some(m) = n.message.as_deref() else {
                continue;
            };
            // Pull and ConfigMap failures have their own rules.
            if pull::is_pull_message(m) || parse::parse_config_ref(m).is_some() {
                continue;
            }
            if let Some(x) = parse::parse_exit_message(m).filter(|x| x.code != 0) {
                out.push(Ended {
                    container: x.container.unwrap_or("main"),
                    reason: x.reason,
                    code: x.code,
                    message: None,
                    finished: n.finished_at.or(n.started_at),
                    pod: None,
                    node: Some(n),
                    pod_name: n.pod_name.clone().unwrap_or_else(|| n.id.clone()),
                    step: Some(n.display_name.clone()),
                });
            }
        }
        out
    }

    /// Failed Pod nodes whose pod is gone: Argo's node message is all that is left.
    pub fn gone_pods(&self) -> impl Iterator<Item = &'a NodeView> + '_ {
        self.s
            .workflow
            .nodes
            .iter()
            .filter(|n| n.is_pod() && n.failed() && !self.has_pod(n))
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

/// How a container ended, read from its pod's status or, once the pod is gone, from
/// Argo's node message.
pub(crate) struct Ended<'a> {
    pub container: &'a str,
    /// The kubelet's reason (`Error`, `OOMKilled`), empty when it gave none.
    pub reason: &'a str,
    pub code: i32,
    /// The termination message (Argo's executor writes its error there).
    pub message: Option<&'a str>,
    pub finished: Option<DateTime<Utc>>,
    /// The pod, while it exists.
    pub pod: Option<&'a PodInfo<'a>>,
    pub node: Option<&'a NodeView>,
    pub pod_name: String,
    pub step: Option<String>,
}

impl Ended<'_> {
    /// Argo's own containers, not the user's program.
    pub fn is_executor(&self) -> bool {
        matches!(self.container, "init" | "wait")
    }

    pub fn is_main(&self) -> bool {
        self.pod
            .map_or(!self.is_executor(), |p| p.is_main(self.container))
    }

    pub fn oom_killed(&self) -> bool {
        self.reason == "OOMKilled"
    }

    /// The template of the step, as a fix names it.
    pub fn template(&self) -> String {
        template_of(self.node)
    }

    /// The kubelet's fact first. Argo's node message lags behind the pod (a real kubelet
    /// reports the exit while the node still says "PodInitializing"), so it is evidence
    /// only once the node has ended too. Worded as Argo words it (the summary names the
    /// container), so that Argo's own message, once there, adds nothing twice.
    pub fn evidence(&self) -> Vec<String> {
        let reason = if self.reason.is_empty() {
            "terminated"
        } else {
            self.reason
        };
        let mut evidence = vec![format!("{reason} (exit code {})", self.code)];
        if let Some(m) = self
            .node
            .filter(|n| n.failed())
            .and_then(|n| n.message.as_deref())
        {
            push_unique(&mut evidence, m);
        }
        if let Some(m) = self.message {
            push_unique(&mut evidence, m.trim_end());
        }
        evidence
    }

    pub fn detection(&self, ctx: &Ctx<'_>, fact: Fact, evidence: Vec<String>) -> Detection {
        Detection {
            fact,
            step: self.step.clone(),
            pod: Some(self.pod_name.clone()),
            evidence,
            since: self
                .finished
                .or_else(|| self.node.and_then(|n| n.finished_at)),
            grace: TimeDelta::zero(),
            definitive: !ctx.recoverable(self.node),
        }
    }
}

/// A step's template name, or the words a fix uses when it is unknown.
pub(crate) fn template_of(node: Option<&NodeView>) -> String {
    node.and_then(|n| n.template_name.clone())
        .unwrap_or_else(|| "of this step".to_string())
}

/// The last `n` distinct messages of these events, oldest first.
pub(crate) fn last_messages(events: &[&Event], n: usize) -> Vec<String> {
    let mut sorted: Vec<&&Event> = events.iter().collect();
    sorted.sort_by_key(|e| event_last(e));
    let mut out: Vec<String> = Vec::new();
    for e in sorted.into_iter().rev() {
        if out.len() == n {
            break;
        }
        push_unique(&mut out, message(e));
    }
    out.reverse();
    out
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

/// A rule that looks at the whole snapshot.
type Rule = fn(&Ctx<'_>) -> Vec<Detection>;

/// Every rule, one file per signal. The order only decides which step a merged finding
/// names first; no rule reads another's output (that is [`crate::suppress`]'s job).
const RULES: &[Rule] = &[
    controller::not_acting,
    spec::invalid,
    refusal::detect,
    pull::detect,
    config::detect,
    schedule::detect,
    mount::claims,
    sandbox::detect,
    mount::attach,
    node::detect,
    exit::detect,
    command::detect,
    executor::detect,
    killed::detect,
    controller::silent_failure,
    spec::image_command_unknown,
    spec::too_large,
    controller::pod_not_created,
    pending::detect,
    spec::step_error,
];

/// Runs a rule that looks at one pod at a time over every pod of the workflow.
pub(crate) fn each_pod(
    ctx: &Ctx<'_>,
    detect: impl Fn(&Ctx<'_>, &PodInfo<'_>, &mut Vec<Detection>),
) -> Vec<Detection> {
    let mut out = Vec::new();
    for p in &ctx.pods {
        detect(ctx, p, &mut out);
    }
    out
}

/// Runs every rule.
pub(crate) fn run(ctx: &Ctx<'_>) -> Vec<Detection> {
    RULES.iter().flat_map(|rule| rule(ctx)).collect()
}

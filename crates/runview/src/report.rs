//! [`RunData`]: what one run page shows, and what `report --output json` prints. Built
//! from one snapshot (live, from a run record, or from a `diagnose --save` folder), the
//! findings, and, for runs of this workspace, the record's inputs and fetched results.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kit_diagnose::{Finding, Snapshot};
use serde::{Deserialize, Serialize};

use crate::structure::Structure;
use crate::text::seconds_between;

/// Version of the JSON below: a script may check it.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunData {
    pub schema: u32,
    /// When the cluster was read.
    pub seen_at: DateTime<Utc>,
    pub workflow: WorkflowSummary,
    /// Every pod (and suspend) the run made, retries as their own steps, in start order.
    pub steps: Vec<StepBar>,
    pub findings: Vec<PlacedFinding>,
    pub time: TimeShares,
    pub critical_path: CriticalPath,
    /// The workflow's parameters with the values it ran with (from the workflow itself,
    /// whoever started it).
    pub arguments: Vec<Argument>,
    /// Every image its templates name, as the workflow holds them.
    pub images: Vec<String>,
    /// Known for runs started by this workspace (from the run record).
    pub inputs: Option<Inputs>,
    /// When `fetch-results` has run for this run.
    pub results: Option<ResultsSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowSummary {
    pub name: String,
    pub namespace: String,
    pub phase: String,
    pub message: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// From start to end, or to `seen_at` while it runs.
    pub seconds: Option<f64>,
    /// Steps (pods) by phase.
    pub steps_by_phase: BTreeMap<String, usize>,
}

/// One bar of the timeline: a pod's life, cut in waiting for a node, getting ready
/// (image pull, init containers, volumes) and running the step's own container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepBar {
    /// Argo's node id; the page's anchor for the step.
    pub id: String,
    /// `collect · 2009 · LYON_1ER`.
    pub label: String,
    /// Steps of one loop share it: `vintage › borough › collect`.
    pub group: String,
    pub template: Option<String>,
    pub phase: String,
    pub pod: Option<String>,
    /// The Kubernetes node it ran on.
    pub node: Option<String>,
    pub attempt: Option<u32>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub scheduled: Option<DateTime<Utc>>,
    /// The main container started.
    pub running_from: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub queued_seconds: f64,
    pub init_seconds: f64,
    pub running_seconds: f64,
}

impl StepBar {
    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.created.or(self.scheduled).or(self.running_from)
    }

    pub fn total_seconds(&self) -> f64 {
        self.queued_seconds + self.init_seconds + self.running_seconds
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlacedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The step it is about, when it is about one.
    pub step_id: Option<String>,
}

/// Where the steps' time went, summed over steps.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TimeShares {
    /// Waiting for a node, pulling images, init containers, volumes.
    pub waiting_seconds: f64,
    /// The steps' own containers.
    pub running_seconds: f64,
    /// `waiting / (waiting + running)`, when anything ran.
    pub waiting_share: Option<f64>,
}

/// The chain of steps that decided the run's length, inferred from the timings: from
/// the step that ended last, each step's predecessor is the one that ended last before
/// it started.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CriticalPath {
    pub step_ids: Vec<String>,
    /// The steps' own durations summed.
    pub seconds: f64,
}

/// What makes the run reproducible, from its record.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Inputs {
    /// The workflow file (or Hera script) it came from.
    pub source: Option<String>,
    pub parameters: Vec<String>,
    pub images: Vec<ImagePin>,
    /// The settings used, secrets masked.
    pub settings: Option<serde_json::Value>,
    pub rerun: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub record: Option<String>,
}

/// One parameter of `spec.arguments`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Argument {
    pub name: String,
    pub value: Option<String>,
}

/// An image reference as written, and the digest it was pinned to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagePin {
    pub path: String,
    pub from: Option<String>,
    pub to: String,
}

/// The fetched results' manifest, summed up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultsSummary {
    pub dir: String,
    pub source: String,
    pub files: usize,
    pub bytes: u64,
    pub complete: bool,
    pub written_at: DateTime<Utc>,
}

impl RunData {
    pub fn build(
        snapshot: &Snapshot,
        findings: &[Finding],
        inputs: Option<Inputs>,
        results: Option<ResultsSummary>,
    ) -> RunData {
        let wf = &snapshot.workflow;
        let structure = Structure::of(wf);
        let pods: HashMap<&str, &Pod> = snapshot
            .pods
            .iter()
            .filter_map(|p| p.metadata.name.as_deref().map(|n| (n, &**p)))
            .collect();
        let steps: Vec<StepBar> = structure
            .leaves()
            .into_iter()
            .map(|i| {
                let e = &structure.entries[i];
                let pod = e
                    .node
                    .pod_name
                    .as_deref()
                    .and_then(|p| pods.get(p).copied());
                step_bar(&structure, i, pod, snapshot.now)
            })
            .collect();
        let mut steps_by_phase = BTreeMap::new();
        for s in &steps {
            *steps_by_phase.entry(s.phase.clone()).or_insert(0) += 1;
        }
        let root = structure.root.map(|r| structure.entries[r].node);
        let started = root
            .and_then(|r| r.started_at)
            .or_else(|| steps.iter().filter_map(StepBar::start).min());
        let finished = root.and_then(|r| r.finished_at);
        let seconds = started.map(|s| seconds_between(s, finished.unwrap_or(snapshot.now)));
        // A finding is anchored on a bar: a step that runs something.
        let placed = findings
            .iter()
            .map(|f| PlacedFinding {
                step_id: structure
                    .place(f)
                    .map(|i| &structure.entries[i])
                    .filter(|e| e.is_leaf())
                    .map(|e| e.node.id.clone()),
                finding: f.clone(),
            })
            .collect();
        RunData {
            schema: SCHEMA,
            seen_at: snapshot.now,
            workflow: WorkflowSummary {
                name: wf.name.clone(),
                namespace: wf.namespace.clone(),
                phase: wf.phase_or_pending().to_string(),
                message: wf.message.clone(),
                started,
                finished,
                seconds,
                steps_by_phase,
            },
            time: time_shares(&steps),
            critical_path: critical_path(&steps),
            steps,
            findings: placed,
            arguments: Vec::new(),
            images: Vec::new(),
            inputs,
            results,
        }
    }

    /// Adds what the workflow object itself says of its inputs: its parameters' values
    /// and the images of its templates (or of the template it was submitted from).
    pub fn with_workflow_object(mut self, workflow: &serde_json::Value) -> RunData {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        self.arguments = workflow["spec"]["arguments"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                Some(Argument {
                    name: p["name"].as_str()?.to_string(),
                    value: text(&p["value"]),
                })
            })
            .collect();
        let stored = &workflow["status"]["storedWorkflowTemplateSpec"]["templates"];
        let templates = stored
            .as_array()
            .or_else(|| workflow["spec"]["templates"].as_array())
            .into_iter()
            .flatten();
        let mut images = std::collections::BTreeSet::new();
        for t in templates {
            let containers = [&t["container"], &t["script"]]
                .into_iter()
                .chain(
                    t["containerSet"]["containers"]
                        .as_array()
                        .into_iter()
                        .flatten(),
                )
                .chain(t["initContainers"].as_array().into_iter().flatten())
                .chain(t["sidecars"].as_array().into_iter().flatten());
            for c in containers {
                if let Some(image) = c["image"].as_str().filter(|i| !i.is_empty()) {
                    images.insert(image.to_string());
                }
            }
        }
        self.images = images.into_iter().collect();
        self
    }
}

fn utc(t: &Timestamp) -> Option<DateTime<Utc>> {
    i64::try_from(t.as_nanosecond())
        .ok()
        .map(DateTime::from_timestamp_nanos)
}

fn step_bar(structure: &Structure<'_>, i: usize, pod: Option<&Pod>, now: DateTime<Utc>) -> StepBar {
    let e = &structure.entries[i];
    let n = e.node;
    let created = pod
        .and_then(|p| p.metadata.creation_timestamp.as_ref())
        .and_then(|t| utc(&t.0))
        .or(n.started_at);
    let status = pod.and_then(|p| p.status.as_ref());
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "True")
        })
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(|t| utc(&t.0));
    let main = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.iter().find(|c| c.name == "main"));
    let state = main.and_then(|m| m.state.as_ref());
    let terminated = state.and_then(|s| s.terminated.as_ref());
    let running_from = state
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.as_ref())
        .or_else(|| terminated.and_then(|t| t.started_at.as_ref()))
        .and_then(|t| utc(&t.0));
    let exit_code = terminated.map(|t| t.exit_code);
    let finished = n.finished_at.or_else(|| {
        terminated
            .and_then(|t| t.finished_at.as_ref())
            .and_then(|t| utc(&t.0))
    });
    // Each stage lasts until the next one is known to have begun (or until now).
    let end = finished.unwrap_or(now);
    let (queued, init, running) = match (created, scheduled, running_from) {
        (Some(c), s, Some(r)) => {
            let s = s.unwrap_or(c).clamp(c, r.max(c));
            (
                seconds_between(c, s),
                seconds_between(s, r),
                seconds_between(r, end),
            )
        }
        (Some(c), Some(s), None) => (seconds_between(c, s), seconds_between(s, end), 0.0),
        // No pod (garbage-collected, or never made): Argo's own times, all running.
        (Some(c), None, None) if pod.is_none() => (0.0, 0.0, seconds_between(c, end)),
        (Some(c), None, None) => (seconds_between(c, end), 0.0, 0.0),
        _ => (0.0, 0.0, 0.0),
    };
    StepBar {
        id: n.id.clone(),
        label: structure.label(i),
        group: structure.group(i),
        template: n.template_name.clone(),
        phase: e.phase().to_string(),
        pod: n.pod_name.clone(),
        node: pod
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.node_name.clone()),
        attempt: e.attempt,
        exit_code,
        message: n.message.clone().filter(|m| !m.is_empty()),
        created,
        scheduled,
        running_from,
        finished,
        queued_seconds: queued,
        init_seconds: init,
        running_seconds: running,
    }
}

fn time_shares(steps: &[StepBar]) -> TimeShares {
    let waiting: f64 = steps
        .iter()
        .map(|s| s.queued_seconds + s.init_seconds)
        .sum();
    let running: f64 = steps.iter().map(|s| s.running_seconds).sum();
    let total = waiting + running;
    TimeShares {
        waiting_seconds: waiting,
        running_seconds: running,
        waiting_share: (total > 0.0).then(|| waiting / total),
    }
}

/// Timestamps have a resolution of a second: a step that started within it of another's
/// end is taken to have waited for it.
const SAME_INSTANT_MS: i64 = 1000;

fn critical_path(steps: &[StepBar]) -> CriticalPath {
    let timed: Vec<(usize, DateTime<Utc>, DateTime<Utc>)> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.start()?, s.finished?)))
        .collect();
    let Some(&last) = timed.iter().max_by_key(|(_, _, end)| *end) else {
        return CriticalPath::default();
    };
    let mut on_path = vec![false; steps.len()];
    on_path[last.0] = true;
    let mut path = vec![last];
    let mut current = last;
    // Each step joins once, and each start is strictly earlier: this ends.
    loop {
        let limit = current.1 + chrono::TimeDelta::milliseconds(SAME_INSTANT_MS);
        let before = timed
            .iter()
            .filter(|(i, start, end)| !on_path[*i] && *end <= limit && *start < current.1)
            .max_by_key(|(_, _, end)| *end);
        match before {
            Some(&b) => {
                on_path[b.0] = true;
                path.push(b);
                current = b;
            }
            None => break,
        }
    }
    path.reverse();
    CriticalPath {
        seconds: path.iter().map(|(i, _, _)| steps[*i].total_seconds()).sum(),
        step_ids: path
            .into_iter()
            .map(|(i, _, _)| steps[i].id.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::snapshot_of;
    use serde_json::json;

    fn bar(id: &str, start: i64, end: i64) -> StepBar {
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        StepBar {
            id: id.into(),
            label: id.into(),
            group: id.into(),
            template: None,
            phase: "Succeeded".into(),
            pod: None,
            node: None,
            attempt: None,
            exit_code: Some(0),
            message: None,
            created: Some(t(start)),
            scheduled: Some(t(start)),
            running_from: Some(t(start + 1)),
            finished: Some(t(end)),
            queued_seconds: 0.0,
            init_seconds: 1.0,
            running_seconds: (end - start - 1) as f64,
        }
    }

    #[test]
    fn the_critical_path_follows_what_ended_last_before_each_start() {
        // a → (b ∥ c) → d; c is the longer branch.
        let steps = vec![
            bar("a", 0, 10),
            bar("b", 10, 14),
            bar("c", 10, 30),
            bar("d", 30, 35),
        ];
        let path = critical_path(&steps);
        assert_eq!(path.step_ids, ["a", "c", "d"]);
        assert_eq!(path.seconds, 35.0);
        assert!(critical_path(&[]).step_ids.is_empty());
    }

    #[test]
    fn waiting_and_running_shares_add_up() {
        let steps = vec![bar("a", 0, 10), bar("b", 10, 14)];
        let t = time_shares(&steps);
        assert_eq!(t.waiting_seconds, 2.0);
        assert_eq!(t.running_seconds, 12.0);
        assert!((t.waiting_share.unwrap() - 2.0 / 14.0).abs() < 1e-9);
        assert_eq!(time_shares(&[]).waiting_share, None);
    }

    #[test]
    fn a_pod_s_conditions_and_container_times_cut_its_bar() {
        let wf = json!({"metadata": {"name": "w", "namespace": "argo",
                "creationTimestamp": "2026-12-01T10:00:00Z"},
            "status": {"phase": "Failed", "nodes": {
                "w": {"id": "w", "name": "w", "displayName": "w", "type": "Steps",
                      "phase": "Failed", "startedAt": "2026-12-01T10:00:00Z",
                      "finishedAt": "2026-12-01T10:00:30Z"},
                "w-1": {"id": "w-1", "name": "w[0].fit(1:0.5)", "displayName": "fit(1:0.5)",
                      "type": "Pod", "boundaryID": "w", "phase": "Failed", "templateName": "fit",
                      "message": "Error (exit code 3)",
                      "startedAt": "2026-12-01T10:00:01Z", "finishedAt": "2026-12-01T10:00:29Z"}}}});
        let mut s = snapshot_of(wf, "2026-12-01T10:01:00Z");
        let pod_name = s.workflow.nodes[1].pod_name.clone().unwrap();
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": pod_name, "creationTimestamp": "2026-12-01T10:00:01Z"},
            "spec": {"nodeName": "pagoda-real-0", "containers": []},
            "status": {
                "conditions": [{"type": "PodScheduled", "status": "True",
                                "lastTransitionTime": "2026-12-01T10:00:03Z"}],
                "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 3, "startedAt": "2026-12-01T10:00:09Z",
                                              "finishedAt": "2026-12-01T10:00:28Z"}}}]}}))
        .unwrap();
        s.pods.push(std::sync::Arc::new(pod));
        let data = RunData::build(&s, &[], None, None).with_workflow_object(&json!({
            "spec": {"arguments": {"parameters": [{"name": "rate", "value": "0.5"},
                                                  {"name": "grid", "value": 3},
                                                  {"name": "unset"}]},
                     "templates": [{"name": "fit", "container": {"image": "reg/fit@sha256:ab"}},
                                   {"name": "x", "script": {"image": "reg/py:3"},
                                    "sidecars": [{"image": "reg/fit@sha256:ab"}]}]}}));
        assert_eq!(
            data.arguments,
            [
                Argument {
                    name: "rate".into(),
                    value: Some("0.5".into())
                },
                Argument {
                    name: "grid".into(),
                    value: Some("3".into())
                },
                Argument {
                    name: "unset".into(),
                    value: None
                },
            ]
        );
        assert_eq!(data.images, ["reg/fit@sha256:ab", "reg/py:3"]);
        assert_eq!(data.steps.len(), 1);
        let b = &data.steps[0];
        assert_eq!(b.label, "fit · 0.5");
        assert_eq!(b.node.as_deref(), Some("pagoda-real-0"));
        assert_eq!(b.exit_code, Some(3));
        assert_eq!(
            (b.queued_seconds, b.init_seconds, b.running_seconds),
            (2.0, 6.0, 20.0)
        );
        assert_eq!(data.workflow.seconds, Some(30.0));
        assert_eq!(data.workflow.steps_by_phase["Failed"], 1);
    }
}

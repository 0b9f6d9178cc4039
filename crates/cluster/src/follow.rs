//! Following a workflow live: watchers on the workflow, its pods and the namespace's
//! events feed reflector stores; every change yields a fresh [`Snapshot`] for the
//! diagnosis and the display. No polling: the API server pushes changes, and kube's
//! watcher re-lists by itself after a 410 Gone or an API server restart, so a terminal
//! phase is never missed.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{Stream, StreamExt, stream};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kit_argo_types::{LABEL_WORKFLOW, Phase, Workflow};
use kit_diagnose::{DiagnoseConfig, Snapshot, WorkflowView};
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};

pub use kit_diagnose::Change;

/// The live views of one workflow.
pub struct Follower {
    client: kube::Client,
    namespace: String,
    name: String,
    workflows: Store<Workflow>,
    pods: Store<Pod>,
    events: Store<Event>,
    /// Log tails read once per failed pod, before the pod can be garbage-collected.
    logs: BTreeMap<String, Vec<String>>,
    /// `None` when the user may not list nodes (namespaced users on PaGoDA).
    nodes: Option<Vec<Node>>,
    config: DiagnoseConfig,
    /// The workflow's view and the resourceVersion it was read from: a 500-node
    /// status is converted again only when it changed, not on every pod update.
    view: Option<(String, WorkflowView)>,
}

impl Follower {
    /// Starts the watchers. The stream yields a [`Change`] for every update; drop it to
    /// stop watching. `events_after`: a resourceVersion of the namespace's events read
    /// before the workflow was submitted ([`crate::events_after::current_version`]);
    /// the events watch then begins there instead of listing the namespace's backlog.
    pub async fn start(
        client: kube::Client,
        namespace: &str,
        name: &str,
        config: DiagnoseConfig,
        events_after: Option<String>,
    ) -> (Self, impl Stream<Item = Change> + Send + 'static) {
        let wf_api: Api<Workflow> = Api::namespaced(client.clone(), namespace);
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let event_api: Api<Event> = Api::namespaced(client.clone(), namespace);

        let (workflows, wf_writer) = reflector::store();
        let (pods, pod_writer) = reflector::store();
        let (events, event_writer) = reflector::store();

        let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let by_label = watcher::Config::default().labels(&format!("{LABEL_WORKFLOW}={name}"));
        // What the stores keep is trimmed first (`trim_workflow`, `trim_pod`):
        // managedFields, the template copy in each pod's environment and the status
        // nodes' parameters are most of the bytes and nothing a diagnosis reads (a
        // 500-pod workflow would hold them all).
        let wf_changes =
            reflector::reflector(wf_writer, watcher(wf_api, by_name).modify(trim_workflow))
                .default_backoff()
                .map(|r| change(r, Change::Workflow));
        let pod_changes =
            reflector::reflector(pod_writer, watcher(pod_api, by_label).modify(trim_pod))
                .default_backoff()
                .map(|r| change(r, Change::Pod));
        // Events cannot be selected by their object's labels: watch the namespace's and
        // let the diagnosis keep those about this workflow and its pods.
        let prefix = format!("{name}-");
        let workflow_name = name.to_string();
        let about_this_workflow = move |event: &Event| {
            let object = event.involved_object.name.as_deref().unwrap_or("");
            object == workflow_name || object.starts_with(&prefix)
        };
        // Only events about the workflow or its pods (Argo names them `<workflow>-…`)
        // reach the store: a busy namespace holds thousands of others.
        let events_source = match events_after {
            Some(version) => crate::events_after::events_after(event_api, version).boxed(),
            None => watcher(event_api, watcher::Config::default()).boxed(),
        };
        let events_stream = events_source.modify(trim_meta).filter(move |event| {
            let keep = match event {
                Ok(watcher::Event::Apply(e) | watcher::Event::InitApply(e)) => {
                    about_this_workflow(e)
                }
                _ => true,
            };
            std::future::ready(keep)
        });
        let event_changes = reflector::reflector(event_writer, events_stream)
            .default_backoff()
            .map(|r| change(r, Change::Event));
        let changes = stream::select(wf_changes, stream::select(pod_changes, event_changes));

        let nodes = list_nodes(&client).await;
        let follower = Follower {
            client,
            namespace: namespace.to_string(),
            name: name.to_string(),
            workflows,
            pods,
            events,
            logs: BTreeMap::new(),
            nodes,
            config,
            view: None,
        };
        (follower, changes)
    }

    /// The followed workflow as last seen in the store.
    fn workflow(&self) -> Option<Arc<Workflow>> {
        self.workflows
            .state()
            .into_iter()
            .find(|w| w.metadata.name.as_deref() == Some(&self.name))
    }

    /// The workflow object as last seen, as the API returned it (for [`save_snapshot`]).
    pub fn raw_workflow(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.workflow()?.as_ref()).ok()
    }

    /// Whether the workflow, as last seen, has ended: cheap enough to ask on every
    /// change, so that the end is shown at once rather than after the pause that
    /// gathers a wide workflow's changes.
    pub fn finished(&self) -> bool {
        self.workflow()
            .is_some_and(|w| w.phase().is_some_and(Phase::is_finished))
    }

    /// The current state, with log tails of pods that ended badly read on the way.
    pub async fn snapshot(&mut self) -> Option<Snapshot> {
        let workflow = self.workflow()?;
        let version = workflow
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        let view = match self.view.take() {
            Some((seen, view)) if seen == version && !version.is_empty() => view,
            _ => WorkflowView::of(&workflow),
        };
        self.view = Some((version, view.clone()));
        let pods = self.pods.state();
        self.read_failed_logs(&pods).await;
        let events = self.events.state();
        Some(Snapshot {
            now: chrono::Utc::now(),
            workflow: view,
            pods,
            events,
            nodes: self.nodes.clone(),
            logs: self.logs.clone(),
            config: self.config.clone(),
        })
    }

    async fn read_failed_logs(&mut self, pods: &[Arc<Pod>]) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        for pod in pods {
            let Some(name) = pod.metadata.name.clone() else {
                continue;
            };
            if self.logs.contains_key(&name) || !main_terminated_badly(pod) {
                continue;
            }
            let lines = log_tail(&api, &name, self.config.log_tail_lines).await;
            self.logs.insert(name, lines);
        }
    }
}

fn trim_meta<K: kube::Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// Keeps what the diagnosis reads of a pod: plain environment values (Argo's executor
/// gets the whole template in `ARGO_TEMPLATE`), commands, mounts, probes and scheduling
/// hints are dropped.
fn trim_pod(pod: &mut Pod) {
    trim_meta(pod);
    if let Some(spec) = pod.spec.as_mut() {
        let containers = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten());
        // The diagnosis reads names, images and resources of containers, never their
        // environment values, commands, mounts or probes.
        for container in containers {
            // Only references to ConfigMaps and Secrets can explain a failure.
            if let Some(env) = container.env.as_mut() {
                env.retain(|var| {
                    var.value_from.as_ref().is_some_and(|from| {
                        from.config_map_key_ref.is_some() || from.secret_key_ref.is_some()
                    })
                });
            }
            container.command = None;
            container.args = None;
            container.volume_mounts = None;
            container.liveness_probe = None;
            container.readiness_probe = None;
            container.startup_probe = None;
            container.security_context = None;
        }
        spec.tolerations = None;
        spec.affinity = None;
        spec.security_context = None;
    }
}

/// Fields of each status node the diagnosis and the display never read (parameters and
/// outputs are most of a wide workflow's status).
const UNREAD_NODE_FIELDS: [&str; 3] = ["inputs", "resourcesDuration", "progress"];

/// Status fields with one entry per step that nothing here reads.
const UNREAD_STATUS_FIELDS: [&str; 3] = [
    "storedTemplates",
    "taskResultsCompletionStatus",
    "artifactGCStatus",
];

fn trim_workflow(workflow: &mut Workflow) {
    trim_meta(workflow);
    let Some(status) = workflow.status.as_mut() else {
        return;
    };
    for field in UNREAD_STATUS_FIELDS {
        status.extra.remove(field);
    }
    for node in status.nodes.values_mut() {
        node.outputs = None;
        node.host_node_name = None;
        for field in UNREAD_NODE_FIELDS {
            node.extra.remove(field);
        }
    }
}

fn change<T, E: std::fmt::Display>(result: Result<T, E>, kind: Change) -> Change {
    match result {
        Ok(_) => kind,
        Err(err) => Change::WatchError(err.to_string()),
    }
}

fn main_terminated_badly(pod: &Pod) -> bool {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    statuses.is_some_and(|cs| {
        cs.iter().any(|c| {
            c.name == "main"
                && c.state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .is_some_and(|t| t.exit_code != 0)
        })
    })
}

/// The last lines of a pod's main container; a read error becomes the only line.
async fn log_tail(api: &Api<Pod>, pod: &str, lines: usize) -> Vec<String> {
    let params = LogParams {
        container: Some("main".into()),
        tail_lines: Some(lines as i64),
        ..LogParams::default()
    };
    match api.logs(pod, &params).await {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(err) => vec![format!("(log not readable: {err})")],
    }
}

async fn list_nodes(client: &kube::Client) -> Option<Vec<Node>> {
    let api: Api<Node> = Api::all(client.clone());
    api.list(&ListParams::default()).await.ok().map(|l| l.items)
}

/// Grace periods from the configuration: `stall_grace_secs` bounds every transient
/// state (pending pods, image pulls, unrecorded pod failures), so one knob tunes how
/// patient the follower is.
pub fn diagnose_config(resolved: &kit_config::Resolved) -> DiagnoseConfig {
    let t = &resolved.settings.timeouts;
    let stall = std::time::Duration::from_secs(t.stall_grace_secs.value);
    let defaults = DiagnoseConfig::default();
    DiagnoseConfig {
        pending_grace: stall,
        controller_grace: std::time::Duration::from_secs(t.controller_grace_secs.value),
        image_pull_grace: defaults.image_pull_grace.min(stall),
        silent_grace: defaults.silent_grace.min(stall),
        ..defaults
    }
}

/// One read of everything, for `cargo xtask diagnose NAME` on any workflow. The raw
/// workflow object comes along, for `diagnose --save`.
pub async fn snapshot_once(
    client: kube::Client,
    namespace: &str,
    name: &str,
    config: DiagnoseConfig,
) -> Result<(Snapshot, serde_json::Value), kube::Error> {
    let wf_api: Api<Workflow> = Api::namespaced(client.clone(), namespace);
    let workflow = wf_api.get(name).await?;
    let json = serde_json::to_value(&workflow).unwrap_or_default();
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = pod_api
        .list(&ListParams::default().labels(&format!("{LABEL_WORKFLOW}={name}")))
        .await?
        .items;
    let event_api: Api<Event> = Api::namespaced(client.clone(), namespace);
    // Only the events about the workflow and its pods: the rest of the namespace is noise.
    let mut names: Vec<String> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.push(name.to_string());
    let events: Vec<Event> = event_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object
                .name
                .as_ref()
                .is_some_and(|n| names.contains(n))
        })
        .collect();
    let mut logs = BTreeMap::new();
    for pod in pods.iter().filter(|p| main_terminated_badly(p)) {
        let Some(pod_name) = pod.metadata.name.clone() else {
            continue;
        };
        let lines = log_tail(&pod_api, &pod_name, config.log_tail_lines).await;
        logs.insert(pod_name, lines);
    }
    let snapshot = Snapshot {
        now: chrono::Utc::now(),
        workflow: WorkflowView::of(&workflow),
        pods: pods.into_iter().map(Arc::new).collect(),
        events: events.into_iter().map(Arc::new).collect(),
        nodes: list_nodes(&client).await,
        logs,
        config,
    };
    Ok((snapshot, json))
}

/// Writes a snapshot as the diagnosis fixture files (`workflow.json`, `pods.json`,
/// `events.json`, `nodes.json` when readable, `logs.json`, `now.txt`): a bug report a
/// maintainer can replay with `cargo test -p kit-diagnose`.
pub fn save_snapshot(
    dir: &std::path::Path,
    snapshot: &Snapshot,
    workflow: &serde_json::Value,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let write = |file: &str, value: serde_json::Value| {
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        std::fs::write(dir.join(file), text + "\n")
    };
    write("workflow.json", workflow.clone())?;
    write(
        "pods.json",
        serde_json::to_value(snapshot.pods.iter().map(|p| &**p).collect::<Vec<_>>())
            .unwrap_or_default(),
    )?;
    write(
        "events.json",
        serde_json::to_value(snapshot.events.iter().map(|e| &**e).collect::<Vec<_>>())
            .unwrap_or_default(),
    )?;
    if let Some(nodes) = &snapshot.nodes {
        write(
            "nodes.json",
            serde_json::to_value(nodes).unwrap_or_default(),
        )?;
    }
    write(
        "logs.json",
        serde_json::to_value(&snapshot.logs).unwrap_or_default(),
    )?;
    std::fs::write(
        dir.join("now.txt"),
        snapshot.now.format("%Y-%m-%dT%H:%M:%SZ").to_string() + "\n",
    )
}

/// Reads a folder written by [`save_snapshot`] (or a diagnosis fixture) back: the
/// snapshot, and the workflow object as saved.
pub fn load_snapshot(
    dir: &std::path::Path,
    config: DiagnoseConfig,
) -> Result<(Snapshot, serde_json::Value), String> {
    let read = |file: &str| -> Result<Option<serde_json::Value>, String> {
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    };
    let now_path = dir.join("now.txt");
    let now_text =
        std::fs::read_to_string(&now_path).map_err(|e| format!("{}: {e}", now_path.display()))?;
    let now: chrono::DateTime<chrono::Utc> = now_text.trim().parse().map_err(|e| {
        format!(
            "{}: {:?} is not a time ({e})",
            now_path.display(),
            now_text.trim()
        )
    })?;
    let workflow =
        read("workflow.json")?.ok_or_else(|| format!("{}: no workflow.json", dir.display()))?;
    let (pods, events, nodes, logs) = (
        read("pods.json")?,
        read("events.json")?,
        read("nodes.json")?,
        read("logs.json")?,
    );
    let snapshot = Snapshot::from_json(
        now,
        kit_diagnose::SnapshotJson {
            workflow: &workflow,
            pods: pods.as_ref(),
            events: events.as_ref(),
            nodes: nodes.as_ref(),
            logs: logs.as_ref(),
        },
        config,
    )
    .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((snapshot, workflow))
}

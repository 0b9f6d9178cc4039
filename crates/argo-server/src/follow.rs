//! Following a workflow through the Argo Server: its workflow-events stream and the
//! namespace's event stream feed the same [`Snapshot`] the Kubernetes follower builds,
//! with stand-in pods made from the workflow's nodes ([`kit_diagnose::pods_from_nodes`]),
//! since the Argo Server does not show pods.
//!
//! The server ends a stream when its own Kubernetes watch ends, and a restarted server
//! drops it: each stream is opened again, from the last resourceVersion seen, with a
//! short backoff; a resourceVersion too old to resume from starts over from the current
//! state. A refused token stops following ([`Change::Fatal`]).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Event;
use kit_argo_types::{Phase, Workflow};
use kit_diagnose::{Change, DiagnoseConfig, Snapshot, WorkflowView, pods_from_nodes};

use crate::client::{ArgoServer, WorkflowEvent};
use crate::error::ServerError;

/// The first wait before opening a broken stream again; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// `diagnose NAME`: the event stream has no end of its backlog; once it is quiet this
/// long, the backlog is taken as read.
const BACKLOG_QUIET: Duration = Duration::from_millis(700);
const BACKLOG_MAX: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Seen {
    workflow: Option<Workflow>,
    /// Events about the workflow and its pods, by uid (or namespace/name).
    events: BTreeMap<String, Arc<Event>>,
}

/// The live views of one workflow, as the Argo Server shows them.
pub struct ServerFollower {
    server: ArgoServer,
    namespace: String,
    name: String,
    seen: Arc<Mutex<Seen>>,
    logs: BTreeMap<String, Vec<String>>,
    config: DiagnoseConfig,
    view: Option<(String, WorkflowView)>,
}

/// The change stream; dropping it stops the stream readers.
pub struct Changes {
    rx: futures::channel::mpsc::UnboundedReceiver<Change>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Stream for Changes {
    type Item = Change;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Change>> {
        self.rx.poll_next_unpin(cx)
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ServerFollower {
    /// Opens both streams; the returned [`Changes`] yields a [`Change`] for each update.
    pub fn start(
        server: ArgoServer,
        namespace: &str,
        name: &str,
        config: DiagnoseConfig,
    ) -> (Self, Changes) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let workflow_task = tokio::spawn(pump_workflow(
            server.clone(),
            namespace.to_string(),
            name.to_string(),
            seen.clone(),
            tx.clone(),
        ));
        let events_task = tokio::spawn(pump_events(
            server.clone(),
            namespace.to_string(),
            name.to_string(),
            seen.clone(),
            tx,
        ));
        let follower = ServerFollower {
            server,
            namespace: namespace.to_string(),
            name: name.to_string(),
            seen,
            logs: BTreeMap::new(),
            config,
            view: None,
        };
        let changes = Changes {
            rx,
            tasks: vec![workflow_task, events_task],
        };
        (follower, changes)
    }

    /// The workflow object as last seen (for saving a snapshot with a run).
    pub fn raw_workflow(&self) -> Option<serde_json::Value> {
        let seen = self.seen.lock().ok()?;
        serde_json::to_value(seen.workflow.as_ref()?).ok()
    }

    /// Whether the workflow, as last seen, has ended (see the kube follower's).
    pub fn finished(&self) -> bool {
        self.seen.lock().is_ok_and(|seen| {
            seen.workflow
                .as_ref()
                .and_then(Workflow::phase)
                .is_some_and(Phase::is_finished)
        })
    }

    /// The current state, with the log tails of failed steps read on the way.
    pub async fn snapshot(&mut self) -> Option<Snapshot> {
        let (workflow, events) = {
            let seen = self.seen.lock().ok()?;
            let workflow = seen.workflow.clone()?;
            let events: Vec<Arc<Event>> = seen.events.values().cloned().collect();
            (workflow, events)
        };
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
        read_failed_logs(
            &self.server,
            &self.namespace,
            &self.name,
            &view,
            self.config.log_tail_lines,
            &mut self.logs,
        )
        .await;
        Some(Snapshot {
            now: chrono::Utc::now(),
            pods: pods_from_nodes(&view),
            workflow: view,
            events,
            nodes: None,
            logs: self.logs.clone(),
            config: self.config.clone(),
        })
    }
}

/// One read of a workflow, its events and its failed steps' logs, for `diagnose NAME`.
pub async fn snapshot_once(
    server: &ArgoServer,
    namespace: &str,
    name: &str,
    config: DiagnoseConfig,
) -> Result<(Snapshot, serde_json::Value), ServerError> {
    let workflow = server.get_workflow(namespace, name).await?;
    let json = serde_json::to_value(&workflow).unwrap_or_default();
    let view = WorkflowView::of(&workflow);
    let mut events = BTreeMap::new();
    let mut stream = Box::pin(server.watch_events(namespace, None).await?);
    let keep = about(name);
    let read = async {
        while let Ok(Some(item)) = tokio::time::timeout(BACKLOG_QUIET, stream.next()).await {
            if let Ok(event) = item
                && keep(&event)
            {
                events.insert(event_key(&event), Arc::new(event));
            }
        }
    };
    // A namespace busy enough to never fall quiet still gets a bounded read.
    let _ = tokio::time::timeout(BACKLOG_MAX, read).await;
    let mut logs = BTreeMap::new();
    read_failed_logs(
        server,
        namespace,
        name,
        &view,
        config.log_tail_lines,
        &mut logs,
    )
    .await;
    let snapshot = Snapshot {
        now: chrono::Utc::now(),
        pods: pods_from_nodes(&view),
        workflow: view,
        events: events.into_values().collect(),
        nodes: None,
        logs,
        config,
    };
    Ok((snapshot, json))
}

/// Events about the workflow or its pods (Argo names them `<workflow>-…`).
fn about(name: &str) -> impl Fn(&Event) -> bool + Send + 'static {
    let (workflow, prefix) = (name.to_string(), format!("{name}-"));
    move |event: &Event| {
        let object = event.involved_object.name.as_deref().unwrap_or("");
        object == workflow || object.starts_with(&prefix)
    }
}

fn event_key(event: &Event) -> String {
    event.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            event.metadata.namespace.as_deref().unwrap_or(""),
            event.metadata.name.as_deref().unwrap_or("")
        )
    })
}

/// The last lines of each failed step's log, read once per pod while the server can
/// still reach it (nothing comes back once the pod is garbage-collected).
async fn read_failed_logs(
    server: &ArgoServer,
    namespace: &str,
    workflow: &str,
    view: &WorkflowView,
    lines: usize,
    logs: &mut BTreeMap<String, Vec<String>>,
) {
    let failed = view
        .nodes
        .iter()
        .filter(|n| n.is_pod() && matches!(n.phase, Some(Phase::Failed | Phase::Error)));
    for node in failed {
        let Some(pod) = &node.pod_name else { continue };
        if logs.contains_key(pod) {
            continue;
        }
        let tail = match server
            .pod_log(namespace, workflow, pod, false, Some(lines))
            .await
        {
            Ok(stream) => {
                let entries: Vec<_> = stream.collect().await;
                entries
                    .into_iter()
                    .map(|entry| match entry {
                        Ok(entry) => entry.content,
                        Err(err) => format!("(log not readable: {err})"),
                    })
                    .collect()
            }
            Err(err) => vec![format!("(log not readable: {err})")],
        };
        logs.insert(pod.clone(), tail);
    }
}

/// Whether a stream error means the resourceVersion is too old to resume from.
fn expired(err: &ServerError) -> bool {
    let text = err.to_string();
    text.contains("too old") || text.contains("Expired") || text.contains("410")
}

/// Whether following cannot go on (a token refused, rights withdrawn).
fn fatal(err: &ServerError) -> bool {
    matches!(
        err,
        ServerError::Unauthorized { .. } | ServerError::Forbidden { .. }
    ) || matches!(err, ServerError::InStream { message, .. } if message.starts_with("HTTP 401") || message.starts_with("HTTP 403"))
}

type Sender = futures::channel::mpsc::UnboundedSender<Change>;

/// Sends a change; false once nobody listens.
fn send(tx: &Sender, change: Change) -> bool {
    tx.unbounded_send(change).is_ok()
}

/// What a stream gave, once opened.
type Opened<T> = Result<BoxStream<'static, Result<T, ServerError>>, ServerError>;

/// Keeps one stream open: `open(version)` opens it from a resourceVersion (none: from
/// the current state), `take` keeps an item and says its version and the change to
/// report. A stream that ends or breaks is opened again after a backoff, from the last
/// version (from the current state when that version is too old). A refused token ends
/// the follow when `refusal_ends`, else it is waited out quietly.
async fn pump<T, O, F>(
    tx: Sender,
    open: O,
    mut take: impl FnMut(T) -> (Option<String>, Option<Change>),
    refusal_ends: bool,
) where
    O: Fn(Option<String>) -> F,
    F: std::future::Future<Output = Opened<T>>,
{
    let mut version: Option<String> = None;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let problem = match open(version.clone()).await {
            Ok(mut stream) => {
                let mut problem = None;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(item) => {
                            backoff = FIRST_BACKOFF;
                            let (seen_version, change) = take(item);
                            if seen_version.is_some() {
                                version = seen_version;
                            }
                            if let Some(change) = change
                                && !send(&tx, change)
                            {
                                return;
                            }
                        }
                        Err(err) => {
                            problem = Some(err);
                            break;
                        }
                    }
                }
                // A stream that just ends is the server's watch ending: open it again.
                problem
            }
            Err(err) => Some(err),
        };
        if let Some(err) = problem {
            if expired(&err) {
                version = None;
            }
            if fatal(&err) {
                if refusal_ends {
                    send(&tx, Change::Fatal(err.to_string()));
                    return;
                }
                tokio::time::sleep(MAX_BACKOFF).await;
            } else if !send(&tx, Change::WatchError(err.to_string())) {
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn pump_workflow(
    server: ArgoServer,
    namespace: String,
    name: String,
    seen: Arc<Mutex<Seen>>,
    tx: Sender,
) {
    let open = move |version: Option<String>| {
        let (server, namespace, name) = (server.clone(), namespace.clone(), name.clone());
        async move {
            let stream = server
                .watch_workflow(&namespace, &name, version.as_deref())
                .await?;
            Ok(stream.boxed())
        }
    };
    let take = move |event: WorkflowEvent| {
        let version = event.object.metadata.resource_version.clone();
        if let Ok(mut s) = seen.lock() {
            s.workflow = Some(event.object);
        }
        (version, Some(Change::Workflow))
    };
    pump(tx, open, take, true).await;
}

/// Events only explain: a refusal to read them does not end the follow (the workflow
/// stream says when the token itself is refused).
async fn pump_events(
    server: ArgoServer,
    namespace: String,
    name: String,
    seen: Arc<Mutex<Seen>>,
    tx: Sender,
) {
    let keep = about(&name);
    let open = move |version: Option<String>| {
        let (server, namespace) = (server.clone(), namespace.clone());
        async move {
            let stream = server.watch_events(&namespace, version.as_deref()).await?;
            Ok(stream.boxed())
        }
    };
    let take = move |event: Event| {
        let version = event.metadata.resource_version.clone();
        if !keep(&event) {
            return (version, None);
        }
        if let Ok(mut s) = seen.lock() {
            s.events.insert(event_key(&event), Arc::new(event));
        }
        (version, Some(Change::Event))
    };
    pump(tx, open, take, false).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_about_the_workflow_and_its_pods_only() {
        let keep = about("demo-x");
        let event = |name: &str| Event {
            involved_object: k8s_openapi::api::core::v1::ObjectReference {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(keep(&event("demo-x")));
        assert!(keep(&event("demo-x-collect-123")));
        assert!(!keep(&event("demo-xy-collect-123")));
        assert!(!keep(&event("other")));
    }

    #[test]
    fn an_expired_version_restarts_from_the_current_state_and_a_refused_token_stops() {
        let gone = ServerError::InStream {
            what: "workflow".into(),
            message: "too old resource version: 12 (40)".into(),
        };
        assert!(expired(&gone));
        assert!(!fatal(&gone));
        let refused = ServerError::Unauthorized {
            server: "https://h".into(),
            message: "token not valid".into(),
        };
        assert!(fatal(&refused));
        let in_stream = ServerError::InStream {
            what: "workflow".into(),
            message: "HTTP 401: token not valid".into(),
        };
        assert!(fatal(&in_stream));
    }
}

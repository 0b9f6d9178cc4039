//! Following a submitted workflow until it ends, shared by `run` and `watch`: a live tree
//! of steps on a terminal, timestamped lines otherwise, JSON lines with `--output json`,
//! and the diagnosis of every snapshot, so a failure is explained as soon as it shows.

use crate::exit::ExitCode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use k8s_openapi::api::core::v1::Pod;
use kit_argo_server::ServerFollower;
use kit_cluster::follow::Follower;
use kit_diagnose::{Change, DiagnoseConfig, Finding, NodeType, NodeView, Phase, Snapshot};
use kit_runview::{Mark, TreeLine};
use kube::api::LogParams;

use crate::Exit;
use crate::events::Event;
use crate::ui::Ui;
use crate::way::Api;

/// The live views of a workflow through either way in.
enum Source {
    Kube(Follower),
    Server(ServerFollower),
}

impl Source {
    async fn start(
        api: &Api,
        namespace: &str,
        name: &str,
        config: DiagnoseConfig,
        events_after: Option<String>,
    ) -> (Self, BoxStream<'static, Change>) {
        match api {
            Api::Kube(client) => {
                let (follower, changes) =
                    Follower::start(client.clone(), namespace, name, config, events_after).await;
                (Source::Kube(follower), changes.boxed())
            }
            Api::Server(server) => {
                let (follower, changes) =
                    ServerFollower::start(server.clone(), namespace, name, config);
                (Source::Server(follower), changes.boxed())
            }
        }
    }

    async fn snapshot(&mut self) -> Option<Snapshot> {
        match self {
            Source::Kube(f) => f.snapshot().await,
            Source::Server(f) => f.snapshot().await,
        }
    }

    fn raw_workflow(&self) -> Option<serde_json::Value> {
        match self {
            Source::Kube(f) => f.raw_workflow(),
            Source::Server(f) => f.raw_workflow(),
        }
    }

    fn finished(&self) -> bool {
        match self {
            Source::Kube(f) => f.finished(),
            Source::Server(f) => f.finished(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub timeout: Option<Duration>,
    pub fail_fast: bool,
    /// Keep following when a finding says the workflow waits until someone acts.
    pub wait_anyway: bool,
    pub stop_on_interrupt: bool,
    pub logs: bool,
    pub diagnose: DiagnoseConfig,
    /// Write the run record's report page when following ends.
    pub report: bool,
}

impl FollowOptions {
    /// Follow to the end, no logs, no stopping: `watch`, which is what the user is told
    /// to use to keep waiting.
    pub fn plain(diagnose: DiagnoseConfig) -> Self {
        FollowOptions {
            timeout: None,
            fail_fast: false,
            wait_anyway: true,
            stop_on_interrupt: false,
            logs: false,
            diagnose,
            report: true,
        }
    }
}

/// How the follow ended, for the run record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub phase: Option<Phase>,
    /// Recorded as its number.
    pub exit_code: ExitCode,
    pub findings: Vec<Finding>,
    pub steps: Vec<StepTiming>,
    /// The last state seen, for the run's report (kept beside the record, not in it).
    #[serde(skip)]
    pub seen: Option<Box<Seen>>,
}

/// The last snapshot and the workflow object it was read from.
#[derive(Debug, Clone)]
pub struct Seen {
    pub snapshot: Snapshot,
    pub workflow: serde_json::Value,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    pub name: String,
    pub phase: Option<Phase>,
    pub seconds: Option<i64>,
}

impl Outcome {
    pub fn exit(&self) -> ExitCode {
        self.exit_code
    }
}

/// The longest a change waits for others before it is shown (see `last_cost`): a
/// warning reaches the screen within about a second even on a 5,000-pod sweep.
const MAX_GATHER: Duration = Duration::from_secs(1);
/// Changes gather for this many times what the last snapshot, diagnosis and display
/// cost, so that on a wide workflow they take about 2% of the time. The diagnosis is
/// most of a follower's CPU (profiled on a 500-pod sweep: decoding the watches is a
/// few percent), so this ratio is what keeps it near `argo watch`'s.
const GATHER_FACTOR: u32 = 50;
/// The clock that lets grace periods expire when nothing changes.
const TICK: Duration = Duration::from_secs(1);

/// When a timeout of `timeout` started at `now` expires; `None` (no deadline) when that
/// lies beyond the clock's range, since `Instant + Duration` would panic there.
fn deadline_after(now: tokio::time::Instant, timeout: Duration) -> Option<tokio::time::Instant> {
    now.checked_add(timeout)
}

/// Follows a workflow to its end. `events_after`: see [`Follower::start`]; `None`
/// lists the namespace's events first (for a workflow that may have run a while).
pub async fn follow(
    api: &Api,
    namespace: &str,
    name: &str,
    events_after: Option<String>,
    options: &FollowOptions,
    ui: Ui,
) -> anyhow::Result<Outcome> {
    let (mut follower, watched) =
        Source::start(api, namespace, name, options.diagnose.clone(), events_after).await;
    // The watches are read by their own task, also while a diagnosis runs or changes
    // gather: an API server closes a watch whose reader falls behind, and the re-list
    // that follows costs far more than reading on time.
    let (change_tx, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let _pump = AbortOnDrop(tokio::spawn(async move {
        let mut stream = Box::pin(watched);
        while let Some(change) = stream.next().await {
            if change_tx.send(change).is_err() {
                break;
            }
        }
    }));
    let mut view = View::new(ui);
    let mut logs = LogStreams::new(api.clone(), namespace, name, options.logs, view.printer());
    let started = Instant::now();
    // A clock tick lets grace periods expire when nothing changes: it reads no API.
    let mut tick = tokio::time::interval(TICK);
    // The live tree's spinner turns between snapshots.
    let mut redraw = tokio::time::interval(Duration::from_millis(
        1000 / u64::from(TREE_REDRAWS_PER_SECOND),
    ));
    redraw.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let deadline = options
        .timeout
        .and_then(|t| deadline_after(tokio::time::Instant::now(), t));
    let timeout = async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // What the last snapshot, diagnosis and display took.
    let mut last_cost = Duration::ZERO;
    // When the last snapshot was taken: the clock's tick only matters when nothing
    // changed for a while (grace periods expire without any change).
    let mut last_snapshot = Instant::now();

    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some(change) = change else {
                    // The watches ended (never, short of a runtime shutdown): the clock
                    // and the timeout still drive the loop.
                    tick.tick().await;
                    continue;
                };
                // A fatal change (the Argo Server refused the token) may come first or
                // among those gathered below: either way it ends the follow.
                let mut fatal = None;
                take_in(&mut view, &change, &mut fatal);
                // One snapshot for every change already waiting: a burst of pod updates
                // must not become a burst of diagnoses.
                while let Ok(more) = changes.try_recv() {
                    take_in(&mut view, &more, &mut fatal);
                }
                // A wide workflow changes all the time: let more changes gather so that
                // diagnosing takes about 2% of the time (GATHER_FACTOR). Its end is
                // shown without waiting.
                let pause = if follower.finished() {
                    Duration::ZERO
                } else {
                    (last_cost * GATHER_FACTOR).min(MAX_GATHER)
                };
                // Changes arriving meanwhile are taken in, and the end cuts the pause.
                let until = tokio::time::Instant::now() + pause;
                while !pause.is_zero() && fatal.is_none() && !follower.finished() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        more = changes.recv() => match more {
                            Some(more) => take_in(&mut view, &more, &mut fatal),
                            None => break,
                        },
                    }
                }
                if let Some(text) = fatal {
                    view.finish();
                    return Err(Exit::failure(format!(
                        "stopped following {name}: {text}"
                    ))
                    .into());
                }
            }
            _ = tick.tick() => {
                if last_snapshot.elapsed() < TICK {
                    continue;
                }
            }
            _ = redraw.tick(), if ui.live => {
                view.redraw();
                continue;
            }
            _ = &mut timeout => {
                let snapshot = follower.snapshot().await;
                let findings = snapshot.as_ref().map(kit_diagnose::diagnose).unwrap_or_default();
                view.finish();
                view.note(&format!(
                    "gave up following after {} s; the workflow keeps running: cargo xtask watch {name}",
                    started.elapsed().as_secs()
                ));
                if let (Api::Server(_), Some(snapshot)) = (api, snapshot.as_ref())
                    && let Some(note) = unseen_pods_note(snapshot)
                {
                    view.note(&note);
                }
                return Ok(outcome(&follower, snapshot.as_ref(), ExitCode::Timeout, findings));
            }
            _ = &mut ctrl_c => {
                view.finish();
                if options.stop_on_interrupt {
                    api.stop(namespace, name).await?;
                    view.note(&format!("stopped workflow {name}"));
                } else {
                    view.note(&format!(
                        "interrupted; workflow {name} keeps running. Follow it again with: cargo xtask watch {name}"
                    ));
                }
                let snapshot = follower.snapshot().await;
                return Ok(outcome(&follower, snapshot.as_ref(), ExitCode::Interrupted, vec![]));
            }
        }
        let work_started = Instant::now();
        let Some(snapshot) = follower.snapshot().await else {
            continue;
        };
        logs.start_for(&snapshot);
        let findings = kit_diagnose::diagnose(&snapshot);
        view.update(&snapshot, &findings);
        last_cost = work_started.elapsed();
        last_snapshot = Instant::now();
        if snapshot.workflow.completed() {
            view.finish();
            let succeeded = snapshot.workflow.phase == Some(Phase::Succeeded);
            let code = if succeeded {
                ExitCode::Success
            } else {
                ExitCode::Failure
            };
            view.summary(&snapshot, &findings, started.elapsed());
            return Ok(outcome(&follower, Some(&snapshot), code, findings));
        }
        if options.fail_fast && kit_diagnose::exit_worthy(&findings) {
            view.finish();
            api.stop(namespace, name).await?;
            view.note(&format!(
                "stopped workflow {name} on the finding above (--fail-fast)"
            ));
            return Ok(outcome(
                &follower,
                Some(&snapshot),
                ExitCode::StoppedOnDiagnosis,
                findings,
            ));
        }
        if !options.wait_anyway
            && let Some(stuck) = kit_diagnose::stalled(&findings)
        {
            view.finish();
            view.note(&format!(
                "stopped following: {} ({}) holds the workflow until someone acts; it is still there. \
                 Keep waiting: cargo xtask watch {name}. Stop it: cargo xtask stop {name}. \
                 (`run --wait-anyway` keeps following in such a case.)",
                stuck.reason,
                stuck.step.as_deref().unwrap_or("the workflow"),
            ));
            return Ok(outcome(
                &follower,
                Some(&snapshot),
                ExitCode::StoppedOnDiagnosis,
                findings,
            ));
        }
    }
}

/// Through the Argo Server, a step that never ends may hide a pod that ended long ago:
/// says which pods could not be seen and who can look.
fn unseen_pods_note(snapshot: &Snapshot) -> Option<String> {
    let pods: Vec<&str> = pod_nodes(&snapshot.workflow.nodes)
        .filter(|n| matches!(n.phase, Some(Phase::Pending | Phase::Running)))
        .filter_map(|n| n.pod_name.as_deref())
        .collect();
    let first = pods.first()?;
    Some(format!(
        "seen through the Argo Server, which shows no pods: whether the pods of {} unfinished step(s) ({}) still run cannot be told here; with a kubeconfig `kubectl -n {} get pod {first}` shows it, or ask the cluster admins",
        pods.len(),
        pods.iter().take(3).copied().collect::<Vec<_>>().join(", "),
        snapshot.workflow.namespace
    ))
}

/// Shows a watch error; keeps the first fatal change's text for the caller to stop on.
fn take_in(view: &mut View, change: &Change, fatal: &mut Option<String>) {
    match change {
        Change::WatchError(text) => view.note(&format!("watch interrupted, resuming: {text}")),
        Change::Fatal(text) => {
            fatal.get_or_insert_with(|| text.clone());
        }
        _ => {}
    }
}

/// Stops a spawned task when the follower returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn outcome(
    follower: &Source,
    snapshot: Option<&Snapshot>,
    exit_code: ExitCode,
    findings: Vec<Finding>,
) -> Outcome {
    let seen = snapshot.zip(follower.raw_workflow()).map(|(s, workflow)| {
        Box::new(Seen {
            snapshot: s.clone(),
            workflow,
        })
    });
    let steps = snapshot
        .map(|s| {
            pod_nodes(&s.workflow.nodes)
                .map(|n| StepTiming {
                    name: n.display_name.clone(),
                    phase: n.phase.clone(),
                    seconds: match (n.started_at, n.finished_at) {
                        (Some(a), Some(b)) => Some((b - a).num_seconds()),
                        _ => None,
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    Outcome {
        phase: snapshot.and_then(|s| s.workflow.phase.clone()),
        exit_code,
        findings,
        steps,
        seen,
    }
}

/// Steps that run something: pods, plus suspend steps, in the controller's order.
fn pod_nodes(nodes: &[NodeView]) -> impl Iterator<Item = &NodeView> {
    nodes.iter().filter(|n| {
        matches!(
            n.node_type,
            NodeType::Pod | NodeType::Suspend | NodeType::Container
        )
    })
}

/// A step's name that tells loop iterations and branches apart: the node's full name
/// without the workflow's own prefix (`per-vintage(0:2009).split(1:LYON_8EME)`).
fn step_label<'a>(node: &'a NodeView, workflow: &str) -> &'a str {
    let label = node
        .name
        .strip_prefix(workflow)
        .unwrap_or(&node.name)
        .trim_start_matches('.');
    if label.is_empty() {
        &node.display_name
    } else {
        label
    }
}

fn duration_text(node: &NodeView, now: chrono::DateTime<chrono::Utc>) -> String {
    match node.started_at {
        Some(start) => {
            let end = node.finished_at.unwrap_or(now);
            let secs = (end - start).num_seconds().max(0);
            if secs >= 60 {
                format!("{}m{:02}s", secs / 60, secs % 60)
            } else {
                format!("{secs}s")
            }
        }
        None => "-".into(),
    }
}

/// What the user sees while following: on a terminal, one live tree redrawn in place
/// (log lines and findings printed above it); otherwise a line per change, or JSON.
struct View {
    ui: Ui,
    multi: MultiProgress,
    /// The live tree, drawn as one multi-line bar.
    tree: Option<ProgressBar>,
    lines: Vec<TreeLine>,
    spinner_epoch: Instant,
    /// Last phase printed per step, so plain output prints changes only.
    printed: BTreeMap<String, Option<Phase>>,
    /// Findings already shown, keyed by reason + pod + watching.
    shown: BTreeSet<String>,
    last_workflow_phase: Option<Option<Phase>>,
    /// Whether the "simulated node" note was printed.
    simulated_noted: bool,
}

/// How often the live tree may be drawn: enough for a spinner, not enough to flicker.
const TREE_REDRAWS_PER_SECOND: u8 = 4;
const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl View {
    fn new(ui: Ui) -> Self {
        let multi = if ui.live {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(
                TREE_REDRAWS_PER_SECOND,
            ))
        } else {
            ui.progress()
        };
        let tree = ui.live.then(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        View {
            ui,
            multi,
            tree,
            lines: Vec::new(),
            spinner_epoch: Instant::now(),
            printed: BTreeMap::new(),
            shown: BTreeSet::new(),
            last_workflow_phase: None,
            simulated_noted: false,
        }
    }

    /// Where log lines go: JSON lines, above the live tree, or standard output.
    fn printer(&self) -> Printer {
        if self.ui.json() {
            Printer::Json
        } else if self.tree.is_some() {
            Printer::AboveTree(self.multi.clone())
        } else {
            Printer::Stdout
        }
    }

    /// Draws the last tree again (the spinner turns, nothing else is read).
    fn redraw(&mut self) {
        let Some(bar) = &self.tree else { return };
        if bar.is_finished() {
            return;
        }
        let (_, width) = console::Term::stderr().size();
        let frame = (self.spinner_epoch.elapsed().as_millis() / 100) as usize % SPINNER.len();
        let text: Vec<String> = self
            .lines
            .iter()
            .map(|line| {
                let glyph = match line.mark {
                    Mark::Running => self.ui.live_mark(SPINNER[frame]),
                    Mark::Pending => self.ui.dim("·"),
                    Mark::Succeeded => self.ui.ok("✓"),
                    Mark::Failed => self.ui.bad("✗"),
                    Mark::Skipped => self.ui.dim("-"),
                    Mark::Finding => self.ui.warn("!"),
                    Mark::More => self.ui.dim("…"),
                };
                let full = format!("{}{glyph} {}", "  ".repeat(line.depth), line.text);
                // A wrapped line would push the tree down at every redraw.
                console::truncate_str(&full, usize::from(width).saturating_sub(1).max(20), "…")
                    .into_owned()
            })
            .collect();
        bar.set_message(text.join("\n"));
    }

    fn update(&mut self, snapshot: &Snapshot, findings: &[Finding]) {
        let wf = &snapshot.workflow;
        if self.last_workflow_phase.as_ref() != Some(&wf.phase) {
            self.last_workflow_phase = Some(wf.phase.clone());
            let phase = match wf.phase_text() {
                "" => "(no status yet)",
                p => p,
            };
            self.event(
                Event::Workflow {
                    name: wf.name.clone(),
                    phase: phase.to_string(),
                    message: wf.message.clone(),
                },
                format!("workflow {} {phase}", wf.name),
            );
        }
        if self.tree.is_some() {
            // The tree fits the terminal with room for the lines printed above it.
            let (rows, _) = console::Term::stderr().size();
            let height = usize::from(rows).saturating_sub(4).max(6);
            self.lines = kit_runview::tree_lines(snapshot, findings, height);
            self.redraw();
        } else {
            for node in pod_nodes(&wf.nodes) {
                let phase = node.phase.clone();
                // A step is printed when its phase changes: most snapshots of a wide
                // workflow change a few steps of hundreds.
                if self.printed.get(&node.id) == Some(&phase) {
                    continue;
                }
                let message = node.message.clone().unwrap_or_default();
                let line = format!(
                    "{:<40} {:<10} {:>7}  {}",
                    step_label(node, &wf.name),
                    phase.as_ref().map_or("-", Phase::as_str),
                    duration_text(node, snapshot.now),
                    message
                );
                self.printed.insert(node.id.clone(), phase.clone());
                self.event(
                    Event::Step {
                        name: node.display_name.clone(),
                        path: step_label(node, &wf.name).to_string(),
                        phase: phase.clone(),
                        message: node.message.clone(),
                        pod: node.pod_name.clone(),
                    },
                    line,
                );
            }
        }
        // Test clusters with fake (kwok) nodes say so in a Normal event: the steps end
        // as if they ran, but no container ran and no file was written.
        if !self.simulated_noted
            && let Some(e) = snapshot
                .events
                .iter()
                .find(|e| e.reason.as_deref() == Some("Simulated"))
        {
            self.simulated_noted = true;
            let message = e.message.clone().unwrap_or_default();
            self.event(
                Event::Simulated {
                    message: message.clone(),
                },
                format!(
                    "note: {message}; the steps' outputs on the volume are not produced by this run"
                ),
            );
        }
        for finding in findings {
            let key = format!(
                "{}|{}|{}|{}",
                finding.reason,
                finding.pod.as_deref().unwrap_or(""),
                finding.watching,
                finding.terminal
            );
            if self.shown.insert(key) {
                let event = Event::Finding {
                    finding: finding.clone(),
                };
                self.event(event, render_finding(finding, self.ui));
            }
        }
    }

    /// One event: a JSON line, or a plain line above the live bars.
    fn event(&mut self, event: Event, text: String) {
        if self.ui.json() {
            event.emit();
        } else if self.ui.live {
            let _ = self.multi.println(text);
        } else {
            println!("{} {text}", chrono::Utc::now().format("%H:%M:%S"));
        }
    }

    fn note(&mut self, text: &str) {
        if self.ui.json() {
            Event::Note {
                message: text.to_string(),
            }
            .emit();
        } else if self.tree.as_ref().is_some_and(|t| !t.is_finished()) {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Leaves the last tree on the screen, no longer redrawn.
    fn finish(&mut self) {
        self.redraw();
        if let Some(bar) = &self.tree {
            bar.finish();
        }
    }

    fn summary(&mut self, snapshot: &Snapshot, findings: &[Finding], elapsed: Duration) {
        let wf = &snapshot.workflow;
        let phase = wf.phase_text();
        let succeeded = wf.phase == Some(Phase::Succeeded);
        let failures: Vec<&Finding> = findings.iter().filter(|f| !f.watching).collect();
        if self.ui.json() {
            Event::End {
                name: wf.name.clone(),
                phase: phase.to_string(),
                message: wf.message.clone(),
                seconds: elapsed.as_secs_f64(),
                findings: failures.into_iter().cloned().collect(),
            }
            .emit();
            return;
        }
        let mark = if succeeded {
            self.ui.ok("✓")
        } else {
            self.ui.bad("✗")
        };
        println!(
            "{mark} workflow {} {phase} in {:.1} s{}",
            wf.name,
            elapsed.as_secs_f64(),
            wf.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if !succeeded && failures.is_empty() {
            println!(
                "  no finding explains it; `cargo xtask diagnose {}` reads everything again",
                wf.name
            );
        }
    }
}

/// A finding over several lines: what, evidence (verbatim), fix.
pub fn render_finding(f: &Finding, ui: Ui) -> String {
    let mark = if f.terminal {
        ui.bad("✗")
    } else if f.watching {
        ui.warn("watching")
    } else {
        ui.warn("!")
    };
    let mut out = format!("{mark} [{}] {}", f.level, f.reason);
    if let Some(step) = &f.step {
        out.push_str(&format!(" in step {step}"));
    }
    if let Some(pod) = &f.pod {
        out.push_str(&format!(" (pod {pod})"));
    }
    out.push_str(&format!("\n    {}", f.summary));
    for line in &f.evidence {
        out.push_str(&format!("\n    | {}", line.trim_end()));
    }
    out.push_str(&format!("\n    → {}", f.fix));
    out
}

/// Where a step's log lines are written.
#[derive(Clone)]
enum Printer {
    Json,
    Stdout,
    /// Above the live tree, which is drawn again below them.
    AboveTree(MultiProgress),
}

/// `--logs`: one streaming task per pod whose main container has started.
struct LogStreams {
    api: Api,
    namespace: String,
    workflow: String,
    enabled: bool,
    started: BTreeSet<String>,
    printer: Printer,
}

/// The lines of a step's main container, live, through either way in; `None` when the
/// log cannot be opened (the pod is gone, or not started after all).
async fn log_lines(
    api: Api,
    namespace: String,
    workflow: String,
    pod: String,
) -> Option<BoxStream<'static, String>> {
    match api {
        Api::Kube(client) => {
            let pods: kube::Api<Pod> = kube::Api::namespaced(client, &namespace);
            let params = LogParams {
                container: Some("main".into()),
                follow: true,
                ..LogParams::default()
            };
            let stream = pods.log_stream(&pod, &params).await.ok()?;
            use futures::AsyncBufReadExt;
            Some(
                stream
                    .lines()
                    .take_while(|l| std::future::ready(l.is_ok()))
                    .filter_map(|l| std::future::ready(l.ok()))
                    .boxed(),
            )
        }
        Api::Server(server) => {
            let stream = server
                .pod_log(&namespace, &workflow, &pod, true, None)
                .await
                .ok()?;
            Some(
                stream
                    .take_while(|l| std::future::ready(l.is_ok()))
                    .filter_map(|l| std::future::ready(l.ok().map(|e| e.content)))
                    .boxed(),
            )
        }
    }
}

impl LogStreams {
    fn new(api: Api, namespace: &str, workflow: &str, enabled: bool, printer: Printer) -> Self {
        LogStreams {
            api,
            namespace: namespace.to_string(),
            workflow: workflow.to_string(),
            enabled,
            started: BTreeSet::new(),
            printer,
        }
    }

    fn start_for(&mut self, snapshot: &Snapshot) {
        if !self.enabled {
            return;
        }
        // On the live tree, a step is named as the tree names it (`collect · 2009`);
        // the names are worked out only when a stream starts.
        let mut labels = None;
        for node in pod_nodes(&snapshot.workflow.nodes) {
            let Some(pod) = &node.pod_name else { continue };
            // A pod has a log once it runs; Pending and Skipped steps have none.
            let running = matches!(
                node.phase,
                Some(Phase::Running | Phase::Succeeded | Phase::Failed | Phase::Error)
            );
            if !running || !self.started.insert(pod.clone()) {
                continue;
            }
            let api = self.api.clone();
            let step = match self.printer {
                Printer::AboveTree(_) => labels
                    .get_or_insert_with(|| kit_runview::structure::labels(&snapshot.workflow))
                    .get(&node.id)
                    .cloned()
                    .unwrap_or_else(|| node.display_name.clone()),
                Printer::Json | Printer::Stdout => node.display_name.clone(),
            };
            let (pod, printer) = (pod.clone(), self.printer.clone());
            let (namespace, workflow) = (self.namespace.clone(), self.workflow.clone());
            tokio::spawn(async move {
                let Some(mut lines) = log_lines(api, namespace, workflow, pod).await else {
                    return;
                };
                // Argo's emissary writes its own lines into the step's output: only the
                // program's are shown.
                let mut program = kit_diagnose::parse::ProgramLines::default();
                while let Some(line) = lines.next().await {
                    if !program.keep(&line) {
                        continue;
                    }
                    match &printer {
                        Printer::Json => Event::Log {
                            step: step.clone(),
                            line,
                        }
                        .emit(),
                        Printer::AboveTree(multi) => {
                            let _ = multi.println(format!("[{step}] {line}"));
                        }
                        Printer::Stdout => println!("[{step}] {line}"),
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_beyond_the_clock_is_no_deadline_not_a_panic() {
        let now = tokio::time::Instant::now();
        assert_eq!(deadline_after(now, Duration::MAX), None);
        assert_eq!(
            deadline_after(now, Duration::from_secs(5)),
            Some(now + Duration::from_secs(5))
        );
    }
}

//! `bench follow`: how soon each follower learns what happened, against `argo submit
//! --watch` (the argo CLI talking to the API server) and Hera's `wait()` (through an
//! `argo server` on loopback).
//!
//! The bench watches the workflows and the namespace's Warning events itself and stamps
//! each change when it arrives: the API's own timestamps have a 1 s resolution, too coarse
//! for delays of a few hundred milliseconds. In (a) and (b) each follower follows its own
//! workflow, all at the same time; in (c) ours and `argo watch` follow the same 500-pod (`--wide-pods`)
//! workflow, each through its own request-counting `kubectl proxy`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kit_argo_types::Workflow;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::context::{Context, Scratch};
use crate::process::{self, Live, Stamp};
use crate::proxy::CountingProxy;
use crate::report::{Report, Row, Stat, Unit};
use crate::sampler::ProcSampler;

const LABEL: &str = "bench.xtask/run";
/// How long the argo CLI gets to name the cause of the fault after the first Warning.
const SILENCE_BOUND: Duration = Duration::from_secs(20);
/// Leaves room on the 110-pod kwok node for whoever else uses the stack.
const WIDE_PARALLELISM: usize = 50;

/// What the bench's own watches saw, stamped on arrival.
#[derive(Default)]
struct Seen {
    /// First sight of each workflow in a completed phase.
    completed: BTreeMap<String, Stamp>,
    /// Warning events: (arrival, involved object's name).
    warnings: Vec<(Stamp, String, Option<chrono::DateTime<chrono::Utc>>)>,
}

type Shared = Arc<Mutex<Seen>>;

impl Seen {
    fn first_warning(
        &self,
        workflow: &str,
    ) -> Option<(Stamp, Option<chrono::DateTime<chrono::Utc>>)> {
        let prefix = format!("{workflow}-");
        self.warnings
            .iter()
            // A one-pod workflow's pod has the workflow's own name.
            .filter(|(_, object, _)| object == workflow || object.starts_with(&prefix))
            .min_by_key(|(stamp, _, _)| stamp.at)
            .map(|(stamp, _, time)| (*stamp, *time))
    }
}

/// Polls the shared record until `f` finds something (the stamps were taken on arrival,
/// so polling adds nothing to the measurement).
async fn wait_for<T>(seen: &Shared, limit: Duration, f: impl Fn(&Seen) -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = f(&seen.lock().expect("seen lock")) {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start_watches(client: &kube::Client, ns: &str, id: &str, seen: &Shared) -> Vec<JoinHandle<()>> {
    let wf_api: Api<Workflow> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().labels(&format!("{LABEL}={id}"));
    let shared = seen.clone();
    let workflows = tokio::spawn(async move {
        let mut stream = watcher(wf_api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(item) = stream.next().await {
            let Ok(obj) = item else { continue };
            let stamp = Stamp::now();
            let phase = obj.phase();
            if phase.is_some_and(|p| p.is_finished()) {
                let name = obj.metadata.name.clone().unwrap_or_default();
                shared
                    .lock()
                    .expect("seen lock")
                    .completed
                    .entry(name)
                    .or_insert(stamp);
            }
        }
    });
    let ev_api: Api<Event> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().fields("type=Warning");
    let shared = seen.clone();
    let events = tokio::spawn(async move {
        let mut stream = watcher(ev_api, config)
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(item) = stream.next().await {
            let Ok(ev) = item else { continue };
            let stamp = Stamp::now();
            let object = ev.involved_object.name.clone().unwrap_or_default();
            let time = ev
                .first_timestamp
                .as_ref()
                .map(|t| t.0)
                .or(ev.event_time.as_ref().map(|t| t.0))
                .and_then(to_chrono);
            shared
                .lock()
                .expect("seen lock")
                .warnings
                .push((stamp, object, time));
        }
    });
    vec![workflows, events]
}

pub async fn bench(ctx: &Context) -> anyhow::Result<Report> {
    let scratch = Scratch::new(ctx, "follow")?;
    let target = kit_cluster::KubeTarget {
        kubeconfigs: vec![ctx.stack.kubeconfig.clone()],
        kubeconfig_origin: "KUBECONFIG".into(),
        context: None,
    };
    let client = kit_cluster::client(&target).await?;
    let ns = ctx.stack.namespace.clone();
    let seen: Shared = Arc::default();
    let watches = start_watches(&client, &ns, &ctx.id, &seen);
    write_workspace(&scratch.path, &ctx.id, ctx.wide_pods)?;
    let mut server = None;
    let result = measure(ctx, &scratch.path, &client, &seen, &mut server).await;
    if let Some(mut server) = server {
        server.kill().await;
    }
    for watch in watches {
        watch.abort();
    }
    ctx.say("cleaning up: deleting the benchmark's workflows");
    let wf_api: Api<Workflow> = Api::namespaced(client.clone(), &ns);
    let _ = wf_api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("{LABEL}={}", ctx.id)),
        )
        .await;
    result
}

async fn measure(
    ctx: &Context,
    ws: &Path,
    client: &kube::Client,
    seen: &Shared,
    server: &mut Option<Live>,
) -> anyhow::Result<Report> {
    let mut report = Report::new("follow");
    let way = ServerWay::from_env();
    let hera = match prepare_hera(ctx, ws, server, way.as_ref()).await {
        Ok(hera) => Some(hera),
        Err(why) => {
            report.note(format!("Hera not measured: {why:#}"));
            None
        }
    };

    // (a) Workflow Succeeded → the follower's process exits.
    let (mut ours_a, mut argo_a, mut hera_a) = (vec![], vec![], vec![]);
    let (mut ours_fin, mut argo_fin, mut hera_fin) = (vec![], vec![], vec![]);
    let (mut ours_cpu, mut argo_cpu, mut hera_cpu) = (vec![], vec![], vec![]);
    for run in 0..ctx.runs {
        ctx.say(format!(
            "(a) two-step workflow, ours + argo CLI{} at once, run {}/{}",
            if hera.is_some() { " + Hera" } else { "" },
            run + 1,
            ctx.runs
        ));
        let ours = ours_until_exit(ctx, ws, "bench-two", None);
        let argo = argo_submit_watch(ws, &ctx.stack.kubeconfig);
        let hera_run = async {
            match &hera {
                Some(h) => Some(h.run(ws).await),
                None => None,
            }
        };
        let (ours, argo, hera_run) = tokio::join!(ours, argo, hera_run);
        let mut results = vec![
            (ours, &mut ours_a, &mut ours_fin, &mut ours_cpu, "ours"),
            (
                argo,
                &mut argo_a,
                &mut argo_fin,
                &mut argo_cpu,
                "argo submit --watch",
            ),
        ];
        if let Some(result) = hera_run {
            results.push((result, &mut hera_a, &mut hera_fin, &mut hera_cpu, "Hera"));
        }
        for (result, delays, fin, cpu, who) in results {
            let followed = result.with_context(|| format!("(a) {who}"))?;
            let (d, f) = exit_delays(client, ctx, seen, &followed.name, followed.exit).await?;
            delays.push(d);
            fin.extend(f);
            cpu.push(followed.cpu);
        }
    }
    let ours_stat = Stat::of(ours_a);
    report.rows.push(
        Row::new(
            "succeeded-to-exit",
            "(a) Succeeded seen → process exit",
            Unit::Seconds,
        )
        .ours(ours_stat.clone())
        .peer("argo submit --watch", Some(Stat::of(argo_a))),
    );
    if hera.is_some() {
        report.rows.push(
            Row::new(
                "succeeded-to-exit-hera",
                "(a) Succeeded seen → process exit",
                Unit::Seconds,
            )
            .ours(ours_stat)
            .peer("Hera create()+wait()", Some(Stat::of(hera_a))),
        );
    }
    report.rows.push(
        Row::new(
            "finished-at-to-exit",
            "(a) status.finishedAt → exit (1 s resolution)",
            Unit::Seconds,
        )
        .ours(Stat::of(ours_fin.clone()))
        .peer("argo submit --watch", Some(Stat::of(argo_fin))),
    );
    if hera.is_some() {
        report.rows.push(
            Row::new(
                "finished-at-to-exit-hera",
                "(a) status.finishedAt → exit (1 s resolution)",
                Unit::Seconds,
            )
            .ours(Stat::of(ours_fin))
            .peer("Hera create()+wait()", Some(Stat::of(hera_fin))),
        );
    }

    let ours_cpu = Stat::of(ours_cpu);
    report.rows.push(
        Row::new(
            "cpu-two-steps",
            "(a) CPU time of the whole process",
            Unit::CpuSeconds,
        )
        .ours(ours_cpu.clone())
        .peer("argo submit --watch", Some(Stat::of(argo_cpu))),
    );
    if hera.is_some() {
        report.rows.push(
            Row::new(
                "cpu-two-steps-hera",
                "(a) CPU time of the whole process",
                Unit::CpuSeconds,
            )
            .ours(ours_cpu)
            .peer("Hera create()+wait()", Some(Stat::of(hera_cpu))),
        );
    }

    // (b) First Warning event of a fault → the cause printed.
    let (mut ours_b, mut ours_b_api, mut argo_b, mut argo_b_api) = (vec![], vec![], vec![], vec![]);
    let mut argo_never = 0;
    let mut argo_line = None;
    let mut ours_missing = 0;
    for run in 0..ctx.runs {
        ctx.say(format!(
            "(b) image-not-found fault, ours + argo CLI at once, run {}/{}",
            run + 1,
            ctx.runs
        ));
        let (ours, argo) = tokio::join!(
            ours_until_finding(ctx, ws, None),
            argo_until_cause(ws, &ctx.stack.kubeconfig, client, seen)
        );
        let ours = ours.context("(b) ours")?;
        let argo = argo.context("(b) argo submit --watch")?;
        let warning = wait_for(seen, Duration::from_secs(10), |s| {
            s.first_warning(&ours.name)
        })
        .await;
        match (ours.finding, warning) {
            (Some(found), Some((warn, api_time))) => {
                ours_b.push(found.since(&warn));
                if let Some(t) = api_time {
                    ours_b_api.push((found.wall - t).as_seconds_f64());
                }
            }
            _ => ours_missing += 1,
        }
        match argo.said {
            Some((stamp, line)) => {
                argo_b.push(stamp.since(&argo.warning));
                if let Some(t) = argo.warning_time {
                    argo_b_api.push((stamp.wall - t).as_seconds_f64());
                }
                argo_line.get_or_insert(line);
            }
            None => argo_never += 1,
        }
        delete_workflows(client, &ctx.stack.namespace, &[&ours.name]).await;
    }
    let never = || Stat::missing(format!("never (≥{} s)", SILENCE_BOUND.as_secs()));
    let argo_stat = if argo_b.is_empty() {
        never()
    } else {
        Stat::of(argo_b)
    };
    let argo_api_stat = if argo_b_api.is_empty() {
        never()
    } else {
        Stat::of(argo_b_api)
    };
    report.rows.push(
        Row::new(
            "warning-to-finding",
            "(b) first Warning event → cause printed",
            Unit::Seconds,
        )
        .ours(Stat::of(ours_b))
        .peer("argo submit --watch", Some(argo_stat))
        .p95(),
    );
    report.rows.push(
        Row::new(
            "event-time-to-finding",
            "(b) event firstTimestamp → cause (1 s res.)",
            Unit::Seconds,
        )
        .ours(Stat::of(ours_b_api))
        .peer("argo submit --watch", Some(argo_api_stat))
        .p95(),
    );
    if let Some(line) = argo_line {
        report.note(format!(
            "(b) the first line of `argo submit --watch` naming the cause: {:?}",
            strip_ansi(line.trim())
        ));
    }
    if ours_missing > 0 {
        report.note(format!("(b) in {ours_missing} run(s) ours printed no image-not-found finding within 60 s, or no Warning event was seen"));
    }
    if argo_never > 0 {
        report.note(format!(
            "(b) argo submit --watch never named the cause (ErrImagePull, ImagePullBackOff, \"not found\") within {} s of the first Warning event in {argo_never} of {} run(s)",
            SILENCE_BOUND.as_secs(),
            ctx.runs
        ));
    }

    // (c) A wide workflow (500 pods unless --wide-pods): memory and API requests of the followers.
    wide(ctx, ws, seen, &mut report).await?;

    // (d) The same through the Argo Server, as a user without a kubeconfig.
    match &way {
        Some(way) => through_server(ctx, ws, client, seen, way, hera.as_ref(), &mut report).await?,
        None => report.note(
            "(d) not measured: STACK_ARGO_SERVER, STACK_ARGO_TOKEN and STACK_ARGO_SERVER_CA are not set (eval \"$(tests/stack/env)\")",
        ),
    }

    report.note(
        "delays are measured against the bench's own watch of the workflow (stamped on arrival, same machine): \
         the earliest any client could know (a small negative value: the follower's watch delivered first); status.finishedAt rows compare with the API's timestamp (whole seconds, so up to 1 s too long)",
    );
    report.note(format!(
        "argo = the built argo CLI with KUBECONFIG={} (talks to the API server, no argo server); \
         Hera = hera.workflows {} with its default poll_interval=5 s, through {}",
        ctx.stack.kubeconfig.display(),
        hera.as_ref().map_or("(not run)".into(), |h| h.version.clone()),
        if way.is_some() {
            "the stack's Argo Server (TLS, client auth, a service account token)"
        } else {
            "`argo server --auth-mode=server --secure=false --namespaced` (admin kubeconfig; it listens on every interface, it has no address flag)"
        }
    ));
    Ok(report)
}

/// The workflows the benchmark submits, all labelled for the cleanup. Their pods go to
/// the stack's simulated node (`stack.test/node: kwok`): this measures following
/// hundreds of pods, not running them.
fn write_workspace(ws: &Path, id: &str, wide_pods: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(ws.join("workflows"))?;
    std::fs::write(ws.join("xtask.toml"), "# bench follow workspace\n")?;
    let head = |name: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: {name}-\n  labels:\n    {LABEL}: \"{id}\"\nspec:\n  serviceAccountName: argo-workflow\n  entrypoint: main\n  podMetadata:\n    labels:\n      stack.test/node: kwok\n"
        )
    };
    let two = format!(
        "{}  templates:\n  - name: main\n    steps:\n    - - name: first\n        template: step\n    - - name: second\n        template: step\n  - name: step\n    container:\n      image: stack/busybox:1\n      command: [sh, -c, \"true\"]\n",
        head("bench-two")
    );
    let fault = format!(
        "{}  templates:\n  - name: main\n    metadata:\n      labels:\n        stack.test/fault: image-not-found\n    container:\n      image: stack/busybox:1\n      command: [sh, -c, \"true\"]\n",
        head("bench-fault")
    );
    let items: Vec<String> = (0..wide_pods).map(|i| i.to_string()).collect();
    let wide = format!(
        "{}  parallelism: {WIDE_PARALLELISM}\n  templates:\n  - name: main\n    steps:\n    - - name: item\n        template: step\n        arguments:\n          parameters:\n          - name: num\n            value: \"{{{{item}}}}\"\n        withItems: [{}]\n  - name: step\n    inputs:\n      parameters:\n      - name: num\n    container:\n      image: stack/busybox:1\n      command: [sh, -c, \"echo {{{{inputs.parameters.num}}}}\"]\n",
        head("bench-wide"),
        items.join(", ")
    );
    std::fs::write(ws.join("workflows/bench-two.yaml"), two)?;
    std::fs::write(ws.join("workflows/bench-fault.yaml"), fault)?;
    std::fs::write(ws.join("workflows/bench-wide.yaml"), wide)?;
    Ok(())
}

fn workflow_file(ws: &Path, name: &str) -> PathBuf {
    ws.join("workflows").join(format!("{name}.yaml"))
}

/// The argo CLI on the API server directly, whatever the caller's ARGO_* settings say.
fn argo(kubeconfig: &Path) -> Command {
    let mut cmd = Command::new("argo");
    for var in [
        "ARGO_SERVER",
        "ARGO_TOKEN",
        "ARGO_HTTP1",
        "ARGO_SECURE",
        "ARGO_BASE_HREF",
        "ARGO_INSECURE_SKIP_VERIFY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("KUBECONFIG", kubeconfig).env("NO_COLOR", "1");
    cmd
}

/// `run NAME --no-pin -o json` to its end: the workflow's name and the exit. `way`: through
/// the stack's Argo Server instead of the kubeconfig.
async fn ours_until_exit(
    ctx: &Context,
    ws: &Path,
    workflow: &str,
    way: Option<&ServerWay>,
) -> anyhow::Result<Followed> {
    let mut cmd = ctx.ours(
        ws,
        &[
            "run",
            workflow,
            "--no-pin",
            "-o",
            "json",
            "--timeout",
            "150",
        ],
    );
    if let Some(way) = way {
        way.apply_to_ours(&mut cmd, ws);
    }
    let mut live = Live::spawn(&mut cmd, "cargo xtask run")?;
    let sampler = ProcSampler::start(live.pid);
    let name = submitted_name(&mut live).await?;
    let (exit, status) = live.wait(Duration::from_secs(170)).await?;
    let cpu = sampler.finish().await.cpu_seconds;
    if !status.success() {
        anyhow::bail!(
            "our run of {name} ended with {status}: {}",
            process::tail(&live.stderr().await, 800)
        );
    }
    Ok(Followed { name, exit, cpu })
}

async fn submitted_name(live: &mut Live) -> anyhow::Result<String> {
    let line = live
        .line_matching(
            |l| l.contains("\"type\":\"submitted\""),
            Duration::from_secs(60),
        )
        .await;
    let Some((_, line)) = line else {
        live.kill().await;
        let stderr = live.stderr().await;
        anyhow::bail!(
            "{} printed no `submitted` line: {}",
            live.what,
            process::tail(&stderr, 800)
        );
    };
    let json: serde_json::Value = serde_json::from_str(&line)?;
    Ok(json["name"].as_str().unwrap_or_default().to_string())
}

/// A follower that ran to its end.
struct Followed {
    name: String,
    exit: Stamp,
    /// CPU time (user + system) of the whole process.
    cpu: f64,
}

/// `argo submit --watch FILE` to its end.
async fn argo_submit_watch(ws: &Path, kubeconfig: &Path) -> anyhow::Result<Followed> {
    let mut cmd = argo(kubeconfig);
    cmd.args(["submit", "--watch", "-n", "argo"])
        .arg(workflow_file(ws, "bench-two"));
    argo_until_end(cmd, "argo submit --watch").await
}

/// An `argo submit` that follows its workflow, run to its end: the name it printed,
/// when it exited, its CPU time.
async fn argo_until_end(mut cmd: Command, what: &str) -> anyhow::Result<Followed> {
    let mut live = Live::spawn(&mut cmd, what)?;
    let sampler = ProcSampler::start(live.pid);
    let name = argo_name_line(&mut live).await?;
    let (exit, status) = live.wait(Duration::from_secs(170)).await?;
    let cpu = sampler.finish().await.cpu_seconds;
    anyhow::ensure!(
        status.success(),
        "{what} ended with {status}: {}",
        process::tail(&live.stderr().await, 800)
    );
    Ok(Followed { name, exit, cpu })
}

async fn argo_name_line(live: &mut Live) -> anyhow::Result<String> {
    let found = live
        .line_matching(
            |l| l.trim_start().starts_with("Name:"),
            Duration::from_secs(60),
        )
        .await;
    match found {
        Some((_, line)) => Ok(line
            .trim_start()
            .trim_start_matches("Name:")
            .trim()
            .to_string()),
        None => {
            live.kill().await;
            anyhow::bail!(
                "argo printed no `Name:` line: {}",
                process::tail(&live.stderr().await, 800)
            )
        }
    }
}

/// Delay from the bench seeing the workflow complete to the follower's exit, and from the
/// API's status.finishedAt to the exit.
async fn exit_delays(
    client: &kube::Client,
    ctx: &Context,
    seen: &Shared,
    name: &str,
    exit: Stamp,
) -> anyhow::Result<(f64, Option<f64>)> {
    let completed = wait_for(seen, Duration::from_secs(10), |s| {
        s.completed.get(name).copied()
    })
    .await
    .with_context(|| format!("the bench never saw {name} complete"))?;
    let api: Api<Workflow> = Api::namespaced(client.clone(), &ctx.stack.namespace);
    let finished = api
        .get(name)
        .await
        .ok()
        .and_then(|wf| wf.status?.finished_at)
        .and_then(|t| to_chrono(t.0))
        .map(|t| (exit.wall - t).as_seconds_f64());
    Ok((exit.since(&completed), finished))
}

struct OursFault {
    name: String,
    finding: Option<Stamp>,
}

/// `run bench-fault -o json` until its image-not-found finding, then stopped.
async fn ours_until_finding(
    ctx: &Context,
    ws: &Path,
    way: Option<&ServerWay>,
) -> anyhow::Result<OursFault> {
    let mut cmd = ctx.ours(
        ws,
        &[
            "run",
            "bench-fault",
            "--no-pin",
            "-o",
            "json",
            "--timeout",
            "90",
        ],
    );
    if let Some(way) = way {
        way.apply_to_ours(&mut cmd, ws);
    }
    let mut live = Live::spawn(&mut cmd, "cargo xtask run")?;
    let name = submitted_name(&mut live).await?;
    let finding = live
        .line_matching(
            |l| {
                serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                    v["type"] == "finding" && v["finding"]["reason"] == "image-not-found"
                })
            },
            Duration::from_secs(60),
        )
        .await
        .map(|(stamp, _)| stamp);
    live.kill().await;
    Ok(OursFault { name, finding })
}

struct ArgoFault {
    /// Arrival of the workflow's first Warning event, and the event's own time.
    warning: Stamp,
    warning_time: Option<chrono::DateTime<chrono::Utc>>,
    /// The first output line naming the cause.
    said: Option<(Stamp, String)>,
}

/// `argo submit --watch` of the fault: does its output ever name the cause?
async fn argo_until_cause(
    ws: &Path,
    kubeconfig: &Path,
    client: &kube::Client,
    seen: &Shared,
) -> anyhow::Result<ArgoFault> {
    let mut cmd = argo(kubeconfig);
    cmd.args(["submit", "--watch", "-n", "argo"])
        .arg(workflow_file(ws, "bench-fault"));
    let mut live = Live::spawn(&mut cmd, "argo submit --watch")?;
    let name = argo_name_line(&mut live).await?;
    let warning = wait_for(seen, Duration::from_secs(60), |s| s.first_warning(&name)).await;
    let Some((warning, warning_time)) = warning else {
        live.kill().await;
        anyhow::bail!("no Warning event for {name} within 60 s");
    };
    let names_cause = |l: &str| {
        l.contains("ErrImagePull") || l.contains("ImagePullBackOff") || l.contains("not found")
    };
    // Lines read before the warning count too: the cause may show in the node's message.
    let early = live.seen.iter().find(|(_, l)| names_cause(l)).cloned();
    let said = match early {
        Some(found) => Some(found),
        None => {
            let left = SILENCE_BOUND.saturating_sub(warning.at.elapsed());
            live.line_matching(names_cause, left).await
        }
    };
    live.kill().await;
    delete_workflows(client, "argo", &[&name]).await;
    Ok(ArgoFault {
        warning,
        warning_time,
        said,
    })
}

/// The stack's Argo Server as a user without a kubeconfig reaches it (tests/stack/env).
pub(crate) struct ServerWay {
    address: String,
    token: String,
    ca: PathBuf,
}

impl ServerWay {
    pub(crate) fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(ServerWay {
            address: var("STACK_ARGO_SERVER")?,
            token: var("STACK_ARGO_TOKEN")?,
            ca: PathBuf::from(var("STACK_ARGO_SERVER_CA")?),
        })
    }

    /// Our command with no kubeconfig (and a home without `.kube`), only the server.
    fn apply_to_ours(&self, cmd: &mut Command, ws: &Path) {
        let home = ws.join("home-without-kube");
        let _ = std::fs::create_dir_all(&home);
        cmd.env_remove("KUBECONFIG")
            .env("HOME", home)
            .env("ARGO_SERVER", &self.address)
            .env("ARGO_TOKEN", &self.token)
            .env("XTASK_ARGO_SERVER_CA", &self.ca);
    }

    /// The argo CLI in its Argo Server mode over HTTP/1.1, as the team's PaGoDA template
    /// sets it (it takes no CA file: it skips verification instead).
    fn argo(&self) -> Command {
        let mut cmd = Command::new("argo");
        cmd.env_remove("KUBECONFIG")
            .env("ARGO_SERVER", &self.address)
            .env("ARGO_TOKEN", format!("Bearer {}", self.token))
            .env("ARGO_HTTP1", "true")
            .env("ARGO_SECURE", "true")
            .env("ARGO_INSECURE_SKIP_VERIFY", "true")
            .env("ARGO_NAMESPACE", "argo")
            .env("NO_COLOR", "1");
        cmd
    }
}

/// `argo submit --wait` through the Argo Server (HTTP/1.1) to its end.
async fn argo_submit_wait_server(ws: &Path, way: &ServerWay) -> anyhow::Result<Followed> {
    let mut cmd = way.argo();
    cmd.args(["submit", "--wait", "-n", "argo"])
        .arg(workflow_file(ws, "bench-two"));
    argo_until_end(cmd, "argo submit --wait (Argo Server, HTTP1)").await
}

/// (d) Through the Argo Server: ours, `argo submit --wait` in HTTP1 mode and Hera's
/// `wait()` follow the two-step workflow at once; then ours alone on the fault.
async fn through_server(
    ctx: &Context,
    ws: &Path,
    client: &kube::Client,
    seen: &Shared,
    way: &ServerWay,
    hera: Option<&Hera>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (mut ours_d, mut argo_d, mut hera_d) = (vec![], vec![], vec![]);
    for run in 0..ctx.runs {
        ctx.say(format!(
            "(d) through the Argo Server: two-step workflow, ours + argo CLI (HTTP1){} at once, run {}/{}",
            if hera.is_some() { " + Hera" } else { "" },
            run + 1,
            ctx.runs
        ));
        let hera_run = async {
            match hera {
                Some(h) => Some(h.run(ws).await),
                None => None,
            }
        };
        let (ours, argo, hera_run) = tokio::join!(
            ours_until_exit(ctx, ws, "bench-two", Some(way)),
            argo_submit_wait_server(ws, way),
            hera_run
        );
        let mut results = vec![
            (ours.context("(d) ours")?, &mut ours_d),
            (argo.context("(d) argo submit --wait")?, &mut argo_d),
        ];
        if let Some(h) = hera_run {
            results.push((h.context("(d) Hera")?, &mut hera_d));
        }
        for (followed, delays) in results {
            let (d, _) = exit_delays(client, ctx, seen, &followed.name, followed.exit).await?;
            delays.push(d);
        }
    }
    let ours = Stat::of(ours_d);
    report.rows.push(
        Row::new(
            "server-succeeded-to-exit",
            "(d) Argo Server: Succeeded seen → exit (≤ 0.5 s)",
            Unit::Seconds,
        )
        .ours(ours.clone())
        .peer("argo submit --wait (HTTP1)", Some(Stat::of(argo_d))),
    );
    if hera.is_some() {
        report.rows.push(
            Row::new(
                "server-succeeded-to-exit-hera",
                "(d) Argo Server: Succeeded seen → exit",
                Unit::Seconds,
            )
            .ours(ours)
            .peer("Hera create()+wait()", Some(Stat::of(hera_d))),
        );
    }

    let (mut found, mut missing) = (vec![], 0);
    for run in 0..ctx.runs {
        ctx.say(format!(
            "(d) through the Argo Server: image-not-found fault, run {}/{}",
            run + 1,
            ctx.runs
        ));
        let ours = ours_until_finding(ctx, ws, Some(way))
            .await
            .context("(d) ours on the fault")?;
        let warning = wait_for(seen, Duration::from_secs(10), |s| {
            s.first_warning(&ours.name)
        })
        .await;
        match (ours.finding, warning) {
            (Some(finding), Some((warn, _))) => found.push(finding.since(&warn)),
            _ => missing += 1,
        }
        delete_workflows(client, &ctx.stack.namespace, &[&ours.name]).await;
    }
    report.rows.push(
        Row::new(
            "server-warning-to-finding",
            "(d) Argo Server: first Warning → cause (≤ 2 s)",
            Unit::Seconds,
        )
        .ours(Stat::of(found))
        .peer(
            "argo submit --wait (HTTP1)",
            Some(Stat::missing("never: it prints the end only")),
        )
        .p95(),
    );
    if missing > 0 {
        report.note(format!(
            "(d) in {missing} run(s) ours printed no image-not-found finding through the Argo Server within 60 s"
        ));
    }
    Ok(())
}

/// A Kubernetes time, to compare with the wall clock of a measurement.
fn to_chrono(t: k8s_openapi::jiff::Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().unsigned_abs())
}

async fn delete_workflows(client: &kube::Client, ns: &str, names: &[&str]) {
    let api: Api<Workflow> = Api::namespaced(client.clone(), ns);
    for name in names.iter().filter(|n| !n.is_empty()) {
        let _ = api.delete(name, &DeleteParams::default()).await;
    }
}

/// Hera through an argo server on loopback: checked once, then run per measurement.
struct Hera {
    python: PathBuf,
    script: PathBuf,
    server: String,
    /// The stack's Argo Server's token (client auth mode); none for the bench's own
    /// server (server auth mode).
    token: Option<String>,
    version: String,
}

impl Hera {
    async fn run(&self, ws: &Path) -> anyhow::Result<Followed> {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script)
            .arg(workflow_file(ws, "bench-two"))
            .env("BENCH_ARGO_SERVER", &self.server);
        if let Some(token) = &self.token {
            cmd.env("BENCH_ARGO_TOKEN", token);
        }
        let mut live = Live::spawn(&mut cmd, "Hera script")?;
        let sampler = ProcSampler::start(live.pid);
        let line = live
            .line_matching(|l| l.starts_with("{\"name\""), Duration::from_secs(60))
            .await;
        let Some((_, line)) = line else {
            live.kill().await;
            anyhow::bail!(
                "the Hera script did not submit: {}",
                process::tail(&live.stderr().await, 1200)
            );
        };
        let json: serde_json::Value = serde_json::from_str(&line)?;
        let name = json["name"].as_str().unwrap_or_default().to_string();
        let (exit, status) = live.wait(Duration::from_secs(170)).await?;
        anyhow::ensure!(
            status.success(),
            "the Hera script ended with {status}: {}",
            process::tail(&live.stderr().await, 1200)
        );
        let cpu = sampler.finish().await.cpu_seconds;
        Ok(Followed { name, exit, cpu })
    }
}

const HERA_SCRIPT: &str = r#"# What a team's Hera script does: submit a workflow, wait for its end.
import json, os, sys
from hera.workflows import Workflow, WorkflowsService

w = Workflow.from_file(sys.argv[1])
w.workflows_service = WorkflowsService(
    host=os.environ["BENCH_ARGO_SERVER"], token=os.environ.get("BENCH_ARGO_TOKEN"), verify_ssl=False
)
w.namespace = "argo"
w.create()
print(json.dumps({"name": w.name}), flush=True)
w.wait()
"#;

/// Hera goes through the stack's Argo Server when there is one (TLS, a token: as on
/// PaGoDA), else through an `argo server` the bench starts.
async fn prepare_hera(
    ctx: &Context,
    ws: &Path,
    server: &mut Option<Live>,
    way: Option<&ServerWay>,
) -> anyhow::Result<Hera> {
    let python =
        PathBuf::from(std::env::var("XTASK_BENCH_PYTHON").unwrap_or_else(|_| "python3".into()));
    let probe = process::timed(
        Command::new(&python).args([
            "-c",
            "import importlib.metadata as m; print(m.version('hera'))",
        ]),
        "python3 (hera)",
        Duration::from_secs(30),
    )
    .await
    .context("no python3 (set XTASK_BENCH_PYTHON to an interpreter with hera)")?;
    anyhow::ensure!(
        probe.status.success(),
        "{} cannot import hera (`pip install hera`, or set XTASK_BENCH_PYTHON): {}",
        python.display(),
        process::tail(&probe.stderr, 300)
    );
    let version = probe.stdout.trim().to_string();
    let (address, token) = hera_server(ctx, server, way).await?;
    let script = ws.join("hera_bench.py");
    std::fs::write(&script, HERA_SCRIPT)?;
    Ok(Hera {
        python,
        script,
        server: address,
        token,
        version,
    })
}

/// The Argo Server Hera talks to, and its token: the stack's (TLS, client auth, as on
/// PaGoDA) when there is one, else one the bench starts (`server` keeps it alive).
pub(crate) async fn hera_server(
    ctx: &Context,
    server: &mut Option<Live>,
    way: Option<&ServerWay>,
) -> anyhow::Result<(String, Option<String>)> {
    Ok(match way {
        Some(way) => (format!("https://{}", way.address), Some(way.token.clone())),
        None => {
            let port = start_argo_server(ctx, server).await?;
            (format!("http://127.0.0.1:{port}"), None)
        }
    })
}

/// Starts `argo server` (server auth, plain HTTP, namespaced to argo) for Hera, which
/// talks to the Argo Server only; returns its port once it listens.
async fn start_argo_server(ctx: &Context, server: &mut Option<Live>) -> anyhow::Result<u16> {
    let port = free_port(2746)?;
    ctx.say(format!("starting `argo server` on port {port} for Hera"));
    let mut cmd = argo(&ctx.stack.admin_kubeconfig);
    cmd.args([
        "server",
        "--auth-mode=server",
        "--secure=false",
        "--namespaced",
        "--namespace",
        "argo",
        "--port",
        &port.to_string(),
    ]);
    let live = Live::spawn(&mut cmd, "argo server")?;
    *server = Some(live);
    let ready = async {
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .is_err()
    {
        let stderr = match server.as_mut() {
            Some(s) => s.stderr().await,
            None => String::new(),
        };
        anyhow::bail!(
            "argo server did not listen on {port} within 30 s: {}",
            process::tail(&stderr, 600)
        );
    }
    Ok(port)
}

/// `preferred` when nothing listens there, else any free port.
fn free_port(preferred: u16) -> anyhow::Result<u16> {
    if std::net::TcpListener::bind(("0.0.0.0", preferred)).is_ok() {
        return Ok(preferred);
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// (c) The run's page for the wide workflow: read from the cluster and drawn, against
/// `argo get -o json` reading the same workflow; then drawn again from the record alone.
async fn wide_report(
    ctx: &Context,
    ws: &Path,
    name: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (mut ours_live, mut ours_offline, mut argo_get) = (vec![], vec![], vec![]);
    let mut size = 0u64;
    for run in 0..ctx.runs {
        ctx.say(format!(
            "(c) report page of the {}-pod run, run {}/{}",
            ctx.wide_pods,
            run + 1,
            ctx.runs
        ));
        // Without a saved state the record's page is read from the cluster.
        let record = ws.join(".xtask/runs");
        for entry in std::fs::read_dir(&record)?.flatten() {
            let _ = std::fs::remove_dir_all(entry.path().join("snapshot"));
        }
        let started = std::time::Instant::now();
        let page = ctx.ours(ws, &["report", name]).output().await?;
        ours_live.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(
            page.status.success(),
            "report {name}: {}",
            process::tail(&String::from_utf8_lossy(&page.stderr), 800)
        );
        let path = PathBuf::from(String::from_utf8_lossy(&page.stdout).trim());
        size = std::fs::metadata(&path)?.len();
        let started = std::time::Instant::now();
        let again = ctx.ours(ws, &["report", name]).output().await?;
        ours_offline.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(again.status.success(), "report {name} (offline)");
        let mut cmd = argo(&ctx.stack.kubeconfig);
        cmd.args(["get", "-n", "argo", name, "-o", "json"]);
        let started = std::time::Instant::now();
        let got = cmd.output().await?;
        argo_get.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(got.status.success(), "argo get {name}");
    }
    let offline = Stat::of(ours_offline);
    let fast = offline
        .value(crate::report::Headline::Median)
        .map(|v| v < 1.0);
    report.rows.push(
        Row::new(
            "wide-report",
            &format!(
                "(c) {} pods: report page, read from the cluster and drawn",
                ctx.wide_pods
            ),
            Unit::Seconds,
        )
        .ours(Stat::of(ours_live))
        .peer("argo get -o json", Some(Stat::of(argo_get))),
    );
    report.rows.push(
        Row::new(
            "wide-report-offline",
            &format!(
                "(c) {} pods: report page drawn again from the record",
                ctx.wide_pods
            ),
            Unit::Seconds,
        )
        .ours(offline)
        .target("< 1 s", fast),
    );
    report.rows.push(
        Row::new(
            "wide-report-size",
            &format!("(c) {} pods: report page size", ctx.wide_pods),
            Unit::Bytes,
        )
        .ours(Stat::one(size as f64))
        .target("< 2 MB", Some(size < 2_000_000)),
    );
    Ok(())
}

/// (c): ours runs the wide workflow while `argo watch` follows the same one, each
/// through its own counting proxy, with peak memory sampled.
async fn wide(ctx: &Context, ws: &Path, seen: &Shared, report: &mut Report) -> anyhow::Result<()> {
    ctx.say(format!(
        "(c) {}-pod workflow (parallelism {WIDE_PARALLELISM}): ours `run` and `argo watch` on the same workflow, once",
        ctx.wide_pods
    ));
    let ours_proxy = CountingProxy::start(&ctx.stack.kubeconfig, ws, "ours").await?;
    let argo_proxy = CountingProxy::start(&ctx.stack.kubeconfig, ws, "argo").await?;
    let mut cmd = ctx.ours(
        ws,
        &[
            "run",
            "bench-wide",
            "--no-pin",
            "-o",
            "json",
            "--timeout",
            "400",
            // The page is measured on its own below, against `argo get`.
            "--no-report",
        ],
    );
    cmd.env("KUBECONFIG", ours_proxy.kubeconfig());
    // Ours' JSON lines are kept: its findings on a workflow that succeeds are counted.
    let mut ours = Live::spawn(&mut cmd, "cargo xtask run")?;
    let ours_rss = ProcSampler::start(ours.pid);
    let name = submitted_name(&mut ours).await?;
    let mut cmd = argo(argo_proxy.kubeconfig());
    cmd.args(["watch", "-n", "argo", &name]);
    let mut argo = Live::spawn(&mut cmd, "argo watch")?;
    argo.keep_lines(false);
    let argo_rss = ProcSampler::start(argo.pid);
    let (ours_end, argo_end) = tokio::join!(
        ours.wait(Duration::from_secs(420)),
        argo.wait(Duration::from_secs(420))
    );
    let ours_proc = ours_rss.finish().await;
    let argo_proc = argo_rss.finish().await;
    let ours_counts = ours_proxy.stop().await;
    let argo_counts = argo_proxy.stop().await;
    let (ours_exit, status) = ours_end?;
    anyhow::ensure!(
        status.success(),
        "our run of {name} ended with {status}: {}",
        process::tail(&ours.stderr().await, 800)
    );
    let (argo_exit, _) = argo_end?;
    let completed = wait_for(seen, Duration::from_secs(10), |s| {
        s.completed.get(&name).copied()
    })
    .await;
    let elapsed = completed.map(|c| c.since(&ours.started));

    report.rows.push(
        Row::new(
            "wide-peak-rss",
            &format!("(c) {} pods: peak RSS of the follower", ctx.wide_pods),
            Unit::Mebibytes,
        )
        .ours(Stat::one(ours_proc.peak_mib))
        .peer("argo watch", Some(Stat::one(argo_proc.peak_mib))),
    );
    report.rows.push(
        Row::new(
            "wide-cpu",
            &format!("(c) {} pods: CPU time of the follower", ctx.wide_pods),
            Unit::CpuSeconds,
        )
        .ours(Stat::one(ours_proc.cpu_seconds))
        .peer("argo watch", Some(Stat::one(argo_proc.cpu_seconds))),
    );
    // Every pod of this workflow succeeds: any finding is a false alarm.
    let findings = ours
        .seen
        .iter()
        .filter(|(_, l)| l.contains("\"type\":\"finding\""))
        .count();
    report.rows.push(
        Row::new(
            "wide-false-findings",
            &format!(
                "(c) {} pods: findings printed (all pods succeed)",
                ctx.wide_pods
            ),
            Unit::Count,
        )
        .ours(Stat::one(findings as f64))
        .target("0", Some(findings == 0)),
    );
    let reasons: std::collections::BTreeSet<String> = ours
        .seen
        .iter()
        .filter_map(|(_, l)| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "finding")
        .map(|v| {
            format!(
                "{}: {}",
                v["finding"]["reason"].as_str().unwrap_or("?"),
                v["finding"]["summary"].as_str().unwrap_or("")
            )
        })
        .collect();
    if !reasons.is_empty() {
        let shown: Vec<String> = reasons.into_iter().take(3).collect();
        report.note(format!(
            "(c) ours printed findings on pods that all succeeded (its view lags behind the cluster): {}",
            shown.join("; ")
        ));
    }
    report.rows.push(
        Row::new(
            "wide-requests",
            &format!("(c) {} pods: API requests", ctx.wide_pods),
            Unit::Count,
        )
        .ours(Stat::one(ours_counts.total as f64))
        .peer("argo watch", Some(Stat::one(argo_counts.total as f64))),
    );
    report.rows.push(
        Row::new(
            "wide-watches",
            &format!("(c) {} pods: of which watches", ctx.wide_pods),
            Unit::Count,
        )
        .ours(Stat::one(ours_counts.watches as f64))
        .peer("argo watch", Some(Stat::one(argo_counts.watches as f64))),
    );
    if let Some(done) = completed {
        report.rows.push(
            Row::new(
                "wide-exit",
                &format!("(c) {} pods: Succeeded seen → exit", ctx.wide_pods),
                Unit::Seconds,
            )
            .ours(Stat::one(ours_exit.since(&done)))
            .peer("argo watch", Some(Stat::one(argo_exit.since(&done)))),
        );
    }
    wide_report(ctx, ws, &name, report).await?;
    report.note(format!(
        "(c) once whatever --runs says; workflow {name} took {} from our submit to Succeeded; ours = `run` (submit included), argo = `argo watch` started after our submit on the same workflow; \
         requests counted at one `kubectl proxy -v=7` per follower (one `\"Request\"` log line per request sent; a long watch counts once, a re-list or re-watch again): \
         ours {} ({} watches, {} reads, {} writes), argo {} ({} watches, {} reads, {} writes) \
         (ours runs 3 watchers: workflow, pods, namespace events; fewer watches means a watcher never finished its initial list); \
         peak RSS = VmHWM and CPU = utime+stime from /proc, sampled every 50 ms",
        elapsed.map_or("?".into(), |s| format!("{s:.0} s")),
        ours_counts.total, ours_counts.watches, ours_counts.reads, ours_counts.writes,
        argo_counts.total, argo_counts.watches, argo_counts.reads, argo_counts.writes,
    ));
    Ok(())
}

/// The text of a terminal line without its colour escapes (`ESC [ … letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_escapes() {
        assert_eq!(
            strip_ansi("\u{1b}[33m◷\u{1b}[0m wf  main  ErrImagePull"),
            "◷ wf  main  ErrImagePull"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn a_one_pod_workflow_matches_its_own_name() {
        let t0 = Stamp::now();
        let seen = Seen {
            completed: BTreeMap::new(),
            warnings: vec![
                (t0, "other-wf".into(), None),
                (t0, "bench-fault-abc".into(), None),
                (t0, "bench-two-xyz-step-1".into(), None),
            ],
        };
        assert!(seen.first_warning("bench-fault-abc").is_some());
        assert!(seen.first_warning("bench-two-xyz").is_some());
        assert!(seen.first_warning("bench-fault-ab").is_none());
    }
}

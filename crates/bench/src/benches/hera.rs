//! `bench hera`: what running a Hera script through the toolkit costs. Ours: `run
//! demo_hera --dry-run`, the script run under the capture shim in the managed Python
//! environment, then parameters, injection, pinning and validation (nothing is sent).
//! The peer: the same script as the team runs it, `python demo_hera.py`, whose
//! `w.create()` sends the workflow to an Argo Server. The floor both pay: the interpreter
//! starting and importing Hera.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::Command;

use super::follow::{ServerWay, hera_server};
use crate::context::Context;
use crate::process::{Live, timed};
use crate::report::{Report, Row, Stat, Unit};

const LIMIT: Duration = Duration::from_secs(300);

/// What the team does: run the script, Hera's client pointed at the Argo Server.
const PEER: &str = r#"import os, runpy, sys
from hera.shared import global_config
global_config.host = os.environ["BENCH_ARGO_SERVER"]
global_config.token = os.environ.get("BENCH_ARGO_TOKEN")
global_config.verify_ssl = False
script = os.path.abspath(sys.argv[1])
os.chdir(os.path.dirname(script))
sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name="__main__")
"#;

pub async fn bench(ctx: &Context) -> anyhow::Result<Report> {
    let root = repository_root();
    let script = root.join("workflows/demo_hera.py");
    anyhow::ensure!(script.is_file(), "{} is missing", script.display());
    let mut report = Report::new("hera");

    // The managed environment, made once (its creation is not what is measured).
    ctx.say("making sure the managed Hera environment exists (`run demo_hera --dry-run`)");
    let started = Instant::now();
    timed(
        &mut ctx.ours(&root, &["run", "demo_hera", "--dry-run"]),
        "cargo xtask run demo_hera --dry-run",
        LIMIT,
    )
    .await?
    .ok("cargo xtask run demo_hera --dry-run")?;
    report.note(format!(
        "first `run demo_hera --dry-run`: {:.1} s (includes creating the environment when it did not exist)",
        started.elapsed().as_secs_f64()
    ));
    let python = managed_python(&root)?;

    let mut server: Option<Live> = None;
    let (address, token) = hera_server(ctx, &mut server, ServerWay::from_env().as_ref()).await?;
    let since = chrono::Utc::now();
    let (mut ours, mut peer, mut floor) = (vec![], vec![], vec![]);
    for run in 0..ctx.runs {
        ctx.say(format!(
            "demo_hera.py: ours (captured, dry run), python + Hera create(), python + import hera; run {}/{}",
            run + 1,
            ctx.runs
        ));
        let o = timed(
            &mut ctx.ours(&root, &["run", "demo_hera", "--dry-run"]),
            "cargo xtask run demo_hera --dry-run",
            LIMIT,
        )
        .await?
        .ok("cargo xtask run demo_hera --dry-run")?;
        ours.push(o.seconds);
        let mut cmd = Command::new(&python);
        cmd.args(["-c", PEER])
            .arg(&script)
            .env("BENCH_ARGO_SERVER", &address)
            .env("ARGO_NAMESPACE", "argo");
        if let Some(token) = &token {
            cmd.env("BENCH_ARGO_TOKEN", token);
        }
        let p = timed(&mut cmd, "python demo_hera.py (Hera create())", LIMIT)
            .await?
            .ok("python demo_hera.py (Hera create())")?;
        peer.push(p.seconds);
        let f = timed(
            Command::new(&python).args(["-c", "import hera.workflows"]),
            "python -c 'import hera.workflows'",
            LIMIT,
        )
        .await?
        .ok("python -c 'import hera.workflows'")?;
        floor.push(f.seconds);
    }
    if let Some(mut s) = server.take() {
        s.kill().await;
    }
    delete_created(ctx, since).await;

    let ours = Stat::of(ours);
    let peer = Stat::of(peer);
    let met = match (ours.median, peer.median) {
        (Some(o), Some(p)) => Some(o <= p + 0.5),
        _ => None,
    };
    report.rows.push(
        Row::new(
            "script-to-manifest",
            "demo_hera.py: ours captured + pinned + validated (not sent) vs Hera create()",
            Unit::Seconds,
        )
        .ours(ours)
        .peer("python demo_hera.py, Hera create()", Some(peer))
        .target("ours ≤ Hera's own run + 0.5 s", met),
    );
    report.rows.push(
        Row::new(
            "python-and-hera-import",
            "the floor: python -c 'import hera.workflows'",
            Unit::Seconds,
        )
        .ours(Stat::of(floor)),
    );
    report.note(format!("interpreter: {}", python.display()));
    Ok(report)
}

/// The repository this benchmark was built from (workflows/demo_hera.py lives there).
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The interpreter of the managed environment `run` uses (see kit-hera).
fn managed_python(root: &Path) -> anyhow::Result<PathBuf> {
    let version = std::env::var("XTASK_HERA_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| kit_config::DEFAULT_HERA_VERSION.to_string());
    let python = kit_hera::HeraSettings::for_workspace(root, &version, None).managed_python();
    anyhow::ensure!(
        python.exists(),
        "no managed Hera environment at {} after a dry run",
        python.display()
    );
    Ok(python)
}

/// Deletes the workflows the peer created (named demo-hera-…, created since `since`):
/// their images are not pinned and would wait for a pull forever.
async fn delete_created(ctx: &Context, since: chrono::DateTime<chrono::Utc>) {
    let listed = timed(
        Command::new("kubectl")
            .env("KUBECONFIG", &ctx.stack.admin_kubeconfig)
            .args(["-n", "argo", "get", "workflows", "-o", "json"]),
        "kubectl get workflows",
        Duration::from_secs(30),
    )
    .await;
    let Ok(listed) = listed else { return };
    let value: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap_or_default();
    let names: Vec<String> = value["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| {
            let created = w["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            w["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("demo-hera-"))
                && created.is_some_and(|c| c >= since - chrono::Duration::seconds(2))
        })
        .filter_map(|w| w["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    if names.is_empty() {
        return;
    }
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", &ctx.stack.admin_kubeconfig)
        .args(["-n", "argo", "delete", "workflow", "--wait=false"])
        .args(&names);
    if let Err(e) = timed(&mut cmd, "kubectl delete workflow", Duration::from_secs(60))
        .await
        .context("deleting the peer's workflows")
    {
        ctx.say(format!("{e:#}"));
    }
}

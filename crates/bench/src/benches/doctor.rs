//! `bench doctor`: `doctor` and `doctor --canary` on the healthy stack, against the kubectl
//! calls a careful user would type to learn the same things (for reference: kubectl
//! answers yes/no, it does not explain).

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::context::{Context, Scratch};
use crate::process::{self, timed};
use crate::report::{Report, Row, Stat, Unit};

const LIMIT: Duration = Duration::from_secs(60);

/// The rights `doctor` reviews for the user, as `kubectl auth can-i` arguments.
const CAN_I: [(&str, &str); 11] = [
    ("create", "workflows.argoproj.io"),
    ("get", "workflows.argoproj.io"),
    ("watch", "workflows.argoproj.io"),
    ("patch", "workflows.argoproj.io"),
    ("list", "pods"),
    ("watch", "pods"),
    ("list", "events"),
    ("get", "pods/log"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("delete", "pods"),
];

pub async fn bench(ctx: &Context) -> anyhow::Result<Report> {
    let scratch = Scratch::new(ctx, "doctor")?;
    // An empty workspace: the checks of the cluster only, not of some repository's files.
    std::fs::write(
        scratch.path.join("xtask.toml"),
        "# bench doctor workspace\n",
    )?;
    let canary = scratch.path.join("canary.yaml");
    std::fs::write(
        &canary,
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  generateName: bench-canary-\n  labels:\n    bench.xtask/run: \"{}\"\nspec:\n  entrypoint: canary\n  activeDeadlineSeconds: 60\n  templates:\n  - name: canary\n    suspend:\n      duration: \"0\"\n",
            ctx.id
        ),
    )?;
    let mut report = Report::new("doctor");
    let (mut ours_plain, mut ours_canary, mut peer_plain, mut peer_canary) =
        (vec![], vec![], vec![], vec![]);
    let mut failures = vec![];
    for run in 0..ctx.runs {
        ctx.say(format!(
            "doctor, doctor --canary and the kubectl equivalents, run {}/{}",
            run + 1,
            ctx.runs
        ));
        let plain = timed(
            &mut ctx.ours(&scratch.path, &["doctor"]),
            "cargo xtask doctor",
            LIMIT,
        )
        .await?;
        if !plain.status.success() {
            failures.push(format!(
                "doctor exited {}: {}",
                plain.status,
                process::tail(&plain.stdout, 300)
            ));
        }
        ours_plain.push(plain.seconds);
        let with_canary = timed(
            &mut ctx.ours(&scratch.path, &["doctor", "--canary"]),
            "cargo xtask doctor --canary",
            LIMIT,
        )
        .await?;
        if !with_canary.status.success() {
            failures.push(format!(
                "doctor --canary exited {}: {}",
                with_canary.status,
                process::tail(&with_canary.stdout, 300)
            ));
        }
        ours_canary.push(with_canary.seconds);
        let checks = kubectl_checks(ctx).await?;
        peer_plain.push(checks);
        peer_canary.push(checks + kubectl_canary(ctx, &canary).await?);
    }
    let plain = Stat::of(ours_plain);
    let met = plain.median.map(|s| s < 2.0);
    report.rows.push(
        Row::new("doctor", "doctor, healthy stack", Unit::Seconds)
            .ours(plain)
            .peer("kubectl ×16", Some(Stat::of(peer_plain)))
            .target("< 2 s", met),
    );
    let canary_stat = Stat::of(ours_canary);
    let met = canary_stat.median.map(|s| s < 10.0);
    report.rows.push(
        Row::new(
            "doctor-canary",
            "doctor --canary, healthy stack",
            Unit::Seconds,
        )
        .ours(canary_stat)
        .peer("kubectl ×19", Some(Stat::of(peer_canary)))
        .target("< 10 s", met),
    );
    for failure in failures {
        report.note(failure);
    }
    report.note(format!(
        "kubectl ×16 = `kubectl auth can-i` for the {} rights doctor reviews, `get pvc`, `get configmap`, `get serviceaccount`, \
         `api-resources --api-group=argoproj.io` (is Argo served?), `get workflows` (recent phases), one process each in turn; \
         ×19 adds the canary: `create` a suspend-0 workflow, `wait --for=jsonpath={{.status.phase}}`, `delete`. \
         kubectl only answers yes/no and prints objects: doctor also explains and checks the ConfigMap's keys and the PVC's binding",
        CAN_I.len()
    ));
    report.note("doctor runs in an empty workspace (xtask.toml only), with the stack's environment (namespaced user)");
    Ok(report)
}

fn kubectl(ctx: &Context) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.args(["-n", &ctx.stack.namespace]);
    cmd
}

/// The checks one by one, as separate kubectl processes; the total time.
async fn kubectl_checks(ctx: &Context) -> anyhow::Result<f64> {
    let start = Instant::now();
    for (verb, resource) in CAN_I {
        // `can-i` exits 1 for "no": an answer, not a failure.
        timed(
            kubectl(ctx).args(["auth", "can-i", verb, resource]),
            "kubectl auth can-i",
            LIMIT,
        )
        .await?;
    }
    let pvc = std::env::var("KUBEVOLUMECLAIMNAME").unwrap_or_else(|_| "vcity-pvc".into());
    let cm =
        std::env::var("KUBECONFIGMAP").unwrap_or_else(|_| "vcity-pagoda-proxy-environment".into());
    let sa = std::env::var("ARGO_SERVICE_ACCOUNT").unwrap_or_else(|_| "argo-workflow".into());
    let gets: [Vec<&str>; 5] = [
        vec!["get", "pvc", &pvc],
        vec!["get", "configmap", &cm, "-o", "yaml"],
        vec!["get", "serviceaccount", &sa],
        vec!["api-resources", "--api-group=argoproj.io"],
        vec!["get", "workflows", "--chunk-size=50"],
    ];
    for args in gets {
        timed(kubectl(ctx).args(&args), "kubectl get", LIMIT)
            .await?
            .ok(&format!("kubectl {}", args.join(" ")))?;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Submit a tiny workflow, wait for the controller to give it a phase, delete it.
async fn kubectl_canary(ctx: &Context, manifest: &Path) -> anyhow::Result<f64> {
    let start = Instant::now();
    let created = timed(
        kubectl(ctx)
            .arg("create")
            .arg("-f")
            .arg(manifest)
            .args(["-o", "name"]),
        "kubectl create",
        LIMIT,
    )
    .await?
    .ok("kubectl create (canary)")?;
    let name = created.stdout.trim().to_string();
    timed(
        kubectl(ctx).args([
            "wait",
            "--for=jsonpath={.status.phase}",
            &name,
            "--timeout=30s",
        ]),
        "kubectl wait",
        LIMIT,
    )
    .await?
    .ok("kubectl wait (canary)")?;
    timed(
        kubectl(ctx).args(["delete", &name, "--wait=false"]),
        "kubectl delete",
        LIMIT,
    )
    .await?
    .ok("kubectl delete (canary)")?;
    Ok(start.elapsed().as_secs_f64())
}

//! `bench fetch`: `fetch-results` against `kubectl cp` on 1,000 small files and three
//! 100 MB files placed in the stack's PVC folder. Two comparisons: ours with its own
//! helper pod against the "zombie pod" routine users follow today (`kubectl apply`,
//! `kubectl wait`, `kubectl cp`, `kubectl delete`), and ours with `--pod` against
//! `kubectl cp` alone from the same running pod.
//!
//! The pods run on the stack's real node, where the claim is mounted at `/data`;
//! without it (`STACK_REAL_NODE=0`), kwok's exec runs on the host in the PVC's folder,
//! so `kubectl cp` is given the path relative to the claim's root.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::context::{Context, Scratch};
use crate::data;
use crate::process::{self, timed};
use crate::report::{Report, Row, Stat, Unit};

const BIG_FILES: usize = 3;
const LIMIT: Duration = Duration::from_secs(240);

pub async fn bench(ctx: &Context) -> anyhow::Result<Report> {
    let scratch = Scratch::new(ctx, "fetch")?;
    let folder = format!("bench-{}", ctx.id);
    let data = ctx.stack.pvc_dir.join(&folder);
    let pod = format!("bench-cp-{}", ctx.id);
    let result = measure(ctx, &scratch.path, &folder, &data, &pod).await;
    clean_up(ctx, &data).await;
    result
}

/// Deletes the pods this invocation labelled (helpers and kubectl cp's) and the PVC
/// folder the data was written to.
pub(super) async fn clean_up(ctx: &Context, data: &Path) {
    ctx.say("cleaning up: the pods and the PVC folder");
    let _ = timed(
        Command::new("kubectl").args([
            "delete",
            "pod",
            "-l",
            &format!("bench.xtask/run={}", ctx.id),
            "-n",
            &ctx.stack.namespace,
            "--wait=false",
            "--ignore-not-found",
        ]),
        "kubectl delete pod",
        Duration::from_secs(30),
    )
    .await;
    let _ = std::fs::remove_dir_all(data);
}

async fn measure(
    ctx: &Context,
    dir: &Path,
    folder: &str,
    data: &Path,
    pod: &str,
) -> anyhow::Result<Report> {
    let mut report = Report::new("fetch");
    let small_files = ctx.sized(1000, 100);
    let big_bytes = ctx.sized(100, 4) << 20;
    ctx.say(format!(
        "writing {small_files} small files and {BIG_FILES} × {} MiB into {}",
        big_bytes >> 20,
        data.display()
    ));
    write_data(data, small_files, big_bytes)?;
    let total_bytes = data::tree_bytes(data);
    std::fs::write(dir.join("xtask.toml"), "# bench fetch workspace\n")?;

    ctx.say(format!(
        "starting helper pod {pod} that mounts the PVC, for kubectl cp"
    ));
    start_pvc_pod(ctx, dir, pod, &pod_image()).await?;

    // Is our command there at all?
    let probe = ours_fetch(ctx, dir, folder, &dir.join("probe"), None, LIMIT).await?;
    let available = match &probe {
        Fetched::Done { .. } => None,
        Fetched::Unavailable(why) => Some(why.clone()),
    };

    let (mut ours_first, mut cp_first, mut zombie_first) = (vec![], vec![], vec![]);
    let (mut ours_again, mut ours_changed, mut ours_changed_files) = (vec![], vec![], vec![]);
    // With `--pod`: the running pod kubectl cp uses, so no helper pod is created.
    let (mut pod_first, mut pod_again) = (vec![], vec![]);
    let mut failures = vec![];
    for run in 0..ctx.runs {
        ctx.say(format!(
            "first fetch of {} MB, run {}/{}",
            total_bytes / 1_000_000,
            run + 1,
            ctx.runs
        ));
        // Every copy gets a folder of its own, all removed at the end: on a file
        // system without a journal, ext4 skips inodes freed in the last minute when it
        // allocates new ones, and after 1,000 deletions each file created scans them
        // all (a third of a fetch's CPU here), which no user fetching results pays.
        let cp_dest = dir.join(format!("cp-{run}"));
        // The changed file of the previous run changed the size too.
        let total_bytes = data::tree_bytes(data);
        let seconds = kubectl_cp(ctx, pod, folder, &cp_dest, Some(total_bytes), LIMIT).await?;
        cp_first.push(seconds);

        // What users do today: a pod of their own, copied from, then deleted.
        let zombie = format!("{pod}-z{run}");
        let mut seconds = start_pvc_pod(ctx, dir, &zombie, &pod_image()).await?;
        let zombie_dest = dir.join(format!("zombie-{run}"));
        seconds += kubectl_cp(ctx, &zombie, folder, &zombie_dest, None, LIMIT).await?;
        seconds += timed(
            Command::new("kubectl").args(["delete", "pod", &zombie, "-n", &ctx.stack.namespace]),
            "kubectl delete pod",
            Duration::from_secs(60),
        )
        .await?
        .ok("kubectl delete pod")?
        .seconds;
        zombie_first.push(seconds);

        if available.is_some() {
            continue;
        }
        let dest = dir.join(format!("ours-{run}"));
        let mut record = |fetched: Fetched, into: &mut Vec<f64>| match fetched {
            Fetched::Done { seconds, files } => {
                into.push(seconds);
                files
            }
            Fetched::Unavailable(why) => {
                failures.push(why);
                None
            }
        };
        let fetched = ours_fetch(ctx, dir, folder, &dest, None, LIMIT).await?;
        record(fetched, &mut ours_first);
        // Nothing changed on the PVC.
        let fetched = ours_fetch(ctx, dir, folder, &dest, None, LIMIT).await?;
        record(fetched, &mut ours_again);
        let fetched = ours_fetch(ctx, dir, folder, &dest, Some(pod), LIMIT).await?;
        record(fetched, &mut pod_again);
        // One small file changed.
        let changed = data.join("small/d0/f0000.txt");
        std::fs::write(
            &changed,
            format!("changed in run {run} {}\n", data::fresh_seed()),
        )?;
        let fetched = ours_fetch(ctx, dir, folder, &dest, None, LIMIT).await?;
        if let Some(files) = record(fetched, &mut ours_changed) {
            ours_changed_files.push(files as f64);
        }

        let fetched = ours_fetch(
            ctx,
            dir,
            folder,
            &dir.join(format!("pod-{run}")),
            Some(pod),
            LIMIT,
        )
        .await?;
        record(fetched, &mut pod_first);
    }
    for failure in failures {
        report.note(format!("ours failed once: fetch-results {failure}"));
    }
    let ours = |samples: Vec<f64>| match &available {
        Some(_) => Stat::missing("n/a"),
        None => Stat::of(samples),
    };
    let cp = Stat::of(cp_first);
    let first = ours(ours_first);
    let zombie = Stat::of(zombie_first);
    let met = first.median.zip(zombie.median).map(|(o, z)| o <= z);
    report.rows.push(
        Row::new(
            "first-fetch",
            &format!(
                "first fetch, {small_files} small + {BIG_FILES} × {} MiB, helper pod included",
                big_bytes >> 20
            ),
            Unit::Seconds,
        )
        .ours(first)
        .peer("kubectl apply + wait + cp + delete", Some(zombie))
        .target("at least as fast", met),
    );
    let first_pod = ours(pod_first);
    let met = first_pod.median.zip(cp.median).map(|(o, c)| o <= c);
    report.rows.push(
        Row::new(
            "first-fetch-pod",
            "same from a running pod (ours with --pod)",
            Unit::Seconds,
        )
        .ours(first_pod)
        .peer("kubectl cp", Some(cp.clone()))
        .target("at least as fast", met),
    );
    let again = ours(ours_again);
    let met = again.median.map(|s| s < 1.0);
    report.rows.push(
        Row::new(
            "refetch-unchanged",
            "fetch again, nothing changed",
            Unit::Seconds,
        )
        .ours(again)
        .peer("kubectl cp (copies all again)", Some(cp.clone()))
        .target("ours < 1 s", met),
    );
    report.rows.push(
        Row::new(
            "refetch-unchanged-pod",
            "same, ours with --pod (no helper pod)",
            Unit::Seconds,
        )
        .ours(ours(pod_again))
        .peer("kubectl cp (copies all again)", Some(cp.clone())),
    );
    report.rows.push(
        Row::new(
            "refetch-one-changed",
            "fetch again, one small file changed",
            Unit::Seconds,
        )
        .ours(ours(ours_changed))
        .peer("kubectl cp (copies all again)", Some(cp)),
    );
    let files = ours(ours_changed_files);
    let met = files.median.map(|n| n <= 1.0);
    report.rows.push(
        Row::new(
            "refetch-one-changed-files",
            "files transferred when one changed",
            Unit::Count,
        )
        .ours(files)
        .peer(
            "kubectl cp",
            Some(Stat::one((small_files + BIG_FILES) as f64)),
        )
        .target("only the changed file", met),
    );
    if let Some(why) = &available {
        report.note(format!(
            "ours not measured: fetch-results {why}; kubectl cp measured alone (intended command: `cargo xtask fetch-results {folder} --to DIR -o json`)"
        ));
    }
    report.note(format!(
        "data: {small_files} files of ~1 kB in 10 folders and {BIG_FILES} incompressible files of {} MiB ({:.0} MB in all) in the PVC folder; \
         kubectl cp = `kubectl cp {pod}:{folder} DIR` from a pod that mounts the PVC (already running: its start is not counted); \
         the zombie-pod routine times `kubectl apply` of such a pod, `kubectl wait --for=condition=Ready`, `kubectl cp` and `kubectl delete pod` (which waits until the pod is gone; ours asks for its helper's deletion and does not wait); \
         ours creates and deletes its own helper pod, inside its time, unless given `--pod` (then it uses kubectl cp's pod); \
         each first fetch goes to an empty folder; ours lists sizes and times in the pod, checksums in the pod with cksum, or sha256sum where there is no cksum (while the tar streams), the files it transfers, and checks each received file against it; it hashes with SHA-256 in the pod only same-size files it cannot settle by size and time",
        big_bytes >> 20,
        total_bytes as f64 / 1e6
    ));
    Ok(report)
}

fn write_data(data: &Path, small_files: usize, big_bytes: usize) -> anyhow::Result<()> {
    for folder in 0..10 {
        std::fs::create_dir_all(data.join(format!("small/d{folder}")))?;
    }
    let seed = data::fresh_seed();
    for file in 0..small_files {
        let line = format!("result {file} of run {seed:x}\n");
        std::fs::write(
            data.join(format!("small/d{}/f{file:04}.txt", file % 10)),
            line.repeat(1000 / line.len() + 1),
        )?;
    }
    for big in 0..BIG_FILES {
        std::fs::write(
            data.join(format!("big-{big}.bin")),
            data::noise(seed ^ (big as u64 + 1), big_bytes),
        )?;
    }
    Ok(())
}

/// What `kubectl cp` copies: the folder of the claim in `pod` (see the module notes).
pub(super) fn cp_source(pod: &str, folder: &str) -> String {
    if std::env::var("STACK_REAL_NODE").as_deref() == Ok("0") {
        format!("{pod}:{folder}")
    } else {
        format!("{pod}:/data/{folder}")
    }
}

/// `kubectl cp` of the claim's `folder` from `pod` into `dest`, checked against
/// `expected` bytes when given; returns its seconds.
pub(super) async fn kubectl_cp(
    ctx: &Context,
    pod: &str,
    folder: &str,
    dest: &Path,
    expected: Option<u64>,
    limit: Duration,
) -> anyhow::Result<f64> {
    let done = timed(
        Command::new("kubectl")
            .args(["cp", "-n", &ctx.stack.namespace, &cp_source(pod, folder)])
            .arg(dest),
        "kubectl cp",
        limit,
    )
    .await?
    .ok("kubectl cp")?;
    if let Some(expected) = expected {
        let copied = data::tree_bytes(dest);
        anyhow::ensure!(
            copied == expected,
            "kubectl cp copied {copied} bytes of {expected}"
        );
    }
    Ok(done.seconds)
}

/// The image of the pods kubectl cp copies from: the stack's busybox.
pub(super) fn pod_image() -> String {
    std::env::var("STACK_POD_IMAGE").unwrap_or_else(|_| "127.0.0.1:5443/stack/busybox:1".into())
}

/// A pod that sleeps with the PVC mounted, as users write it for `kubectl cp`.
fn write_pod_manifest(
    ctx: &Context,
    dir: &Path,
    pod: &str,
    image: &str,
) -> anyhow::Result<PathBuf> {
    let claim = std::env::var("KUBEVOLUMECLAIMNAME").unwrap_or_else(|_| "vcity-pvc".into());
    let manifest = dir.join(format!("{pod}.yaml"));
    std::fs::write(
        &manifest,
        [
            "apiVersion: v1".to_string(),
            "kind: Pod".into(),
            "metadata:".into(),
            format!("  name: {pod}"),
            format!("  namespace: {}", ctx.stack.namespace),
            "  labels:".into(),
            format!("    bench.xtask/run: \"{}\"", ctx.id),
            "spec:".into(),
            // The workflows' service account holds the registry's pull secret.
            "  serviceAccountName: argo-workflow".into(),
            "  containers:".into(),
            "  - name: main".into(),
            format!("    image: {image}"),
            "    command: [sleep, \"86400\"]".into(),
            "    volumeMounts:".into(),
            "    - name: data".into(),
            "      mountPath: /data".into(),
            "  volumes:".into(),
            "  - name: data".into(),
            "    persistentVolumeClaim:".into(),
            format!("      claimName: {claim}"),
        ]
        .join("\n"),
    )?;
    Ok(manifest)
}

/// Starts a pod of `image` that mounts the PVC: its manifest written in `dir`, then
/// `kubectl apply` and `kubectl wait` until Ready; returns the seconds both took.
pub(super) async fn start_pvc_pod(
    ctx: &Context,
    dir: &Path,
    pod: &str,
    image: &str,
) -> anyhow::Result<f64> {
    let manifest = &write_pod_manifest(ctx, dir, pod, image)?;
    let applied = timed(
        Command::new("kubectl").arg("apply").arg("-f").arg(manifest),
        "kubectl apply",
        Duration::from_secs(30),
    )
    .await?
    .ok("creating a pod for kubectl cp")?;
    let ready = timed(
        Command::new("kubectl").args([
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "-n",
            &ctx.stack.namespace,
            "--timeout=60s",
        ]),
        "kubectl wait",
        Duration::from_secs(70),
    )
    .await?
    .ok("waiting for a pod for kubectl cp")?;
    Ok(applied.seconds + ready.seconds)
}

pub(super) enum Fetched {
    Done {
        seconds: f64,
        files: Option<u64>,
    },
    /// The command is not there (not built yet), with its words.
    Unavailable(String),
}

pub(super) async fn ours_fetch(
    ctx: &Context,
    cwd: &Path,
    folder: &str,
    to: &Path,
    pod: Option<&str>,
    limit: Duration,
) -> anyhow::Result<Fetched> {
    let to_text = to.display().to_string();
    let mut args = vec!["fetch-results", folder, "--to", &to_text, "-o", "json"];
    // The helper pod runs the stack's busybox, which the stack's registry always has.
    let helper_image = pod_image();
    match pod {
        Some(pod) => args.extend(["--pod", pod]),
        None => args.extend(["--helper-image", &helper_image]),
    }
    let mut cmd = ctx.ours(cwd, &args);
    let done = timed(&mut cmd, "cargo xtask fetch-results", limit).await?;
    if !done.status.success() {
        if done.stderr.contains("not built yet") {
            return Ok(Fetched::Unavailable(
                "not available (it answers \"not built yet\")".into(),
            ));
        }
        return Ok(Fetched::Unavailable(format!(
            "failed: {}",
            process::tail(&done.stderr, 300).replace('\n', " ")
        )));
    }
    // The JSON report counts what was transferred; its exact shape is the command's.
    let files = serde_json::from_str::<serde_json::Value>(&done.stdout)
        .ok()
        .and_then(|v| find_number(&v, "files_fetched"));
    Ok(Fetched::Done {
        seconds: done.seconds,
        files,
    })
}

pub(super) fn find_number(value: &serde_json::Value, key: &str) -> Option<u64> {
    match value {
        serde_json::Value::Object(map) => map
            .get(key)
            .and_then(|v| v.as_u64())
            .or_else(|| map.values().find_map(|v| find_number(v, key))),
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_number(v, key)),
        _ => None,
    }
}

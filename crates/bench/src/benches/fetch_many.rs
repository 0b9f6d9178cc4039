//! `bench fetch --small-files N`: `fetch-results` against `kubectl cp` on the output of
//! a split stage — N CityGML-like files of a few kilobytes in folders of 500 — where
//! the cost is per file, not per byte.
//!
//! kubectl cp copies from a running pod that mounts the PVC; ours is measured from the
//! same pod (`--pod`) and with its own helper pod, first into an empty folder, then
//! again with nothing changed.

use std::path::Path;
use std::time::Duration;

use super::fetch::{Fetched, clean_up, kubectl_cp, ours_fetch, pod_image, start_pvc_pod};
use crate::context::{Context, Scratch};
use crate::data;
use crate::report::{Report, Row, Stat, Unit};

/// Files per folder, as the team's split stage writes them (one folder per tile).
const PER_FOLDER: usize = 500;
const LIMIT: Duration = Duration::from_secs(600);
/// The targets of issue 19 for many small files.
const FIRST_RATIO: f64 = 1.5;
const REFETCH_SECONDS: f64 = 1.0;

pub async fn bench(ctx: &Context, files: usize) -> anyhow::Result<Report> {
    let scratch = Scratch::new(ctx, "fetch-many")?;
    let folder = format!("bench-many-{}", ctx.id);
    let data = ctx.stack.pvc_dir.join(&folder);
    let pod = format!("bench-cp-{}", ctx.id);
    let result = measure(ctx, &scratch.path, &folder, &data, &pod, files).await;
    clean_up(ctx, &data).await;
    result
}

async fn measure(
    ctx: &Context,
    dir: &Path,
    folder: &str,
    data: &Path,
    pod: &str,
    files: usize,
) -> anyhow::Result<Report> {
    let mut report = Report::new("fetch-many");
    ctx.say(format!(
        "writing {files} CityGML-like files of a few kB into {}",
        data.display()
    ));
    write_data(data, files)?;
    let total_bytes = data::tree_bytes(data);
    std::fs::write(
        dir.join("xtask.toml"),
        "# bench fetch --small-files workspace\n",
    )?;
    ctx.say(format!(
        "starting pod {pod} that mounts the PVC, for kubectl cp"
    ));
    start_pvc_pod(ctx, dir, pod, &pod_image()).await?;

    let (mut cp, mut pod_first, mut pod_again) = (vec![], vec![], vec![]);
    let (mut helper_first, mut helper_again) = (vec![], vec![]);
    for run in 0..ctx.runs {
        ctx.say(format!(
            "{files} files ({:.1} MB), run {}/{}",
            total_bytes as f64 / 1e6,
            run + 1,
            ctx.runs
        ));
        let cp_dest = dir.join(format!("cp-{run}"));
        cp.push(kubectl_cp(ctx, pod, folder, &cp_dest, Some(total_bytes), LIMIT).await?);

        // Each first fetch into a folder of its own (see `fetch` on ext4's freed inodes).
        for (with_pod, dest, first, again) in [
            (
                Some(pod),
                dir.join(format!("pod-{run}")),
                &mut pod_first,
                &mut pod_again,
            ),
            (
                None,
                dir.join(format!("helper-{run}")),
                &mut helper_first,
                &mut helper_again,
            ),
        ] {
            for into in [first, again] {
                match ours_fetch(ctx, dir, folder, &dest, with_pod, LIMIT).await? {
                    Fetched::Done { seconds, .. } => into.push(seconds),
                    Fetched::Unavailable(why) => anyhow::bail!("fetch-results {why}"),
                }
            }
            let copied = data::tree_bytes(&dest);
            anyhow::ensure!(
                copied >= total_bytes,
                "fetch-results copied {copied} bytes of {total_bytes}"
            );
        }
    }

    let cp = Stat::of(cp);
    let faster = |ours: &Stat| {
        ours.median
            .zip(cp.median)
            .map(|(o, c)| c >= FIRST_RATIO * o)
    };
    let under = |ours: &Stat| ours.median.map(|o| o < REFETCH_SECONDS);
    let row = |id: &str, what: &str, ours: Stat, peer: &str| {
        Row::new(id, &format!("{what}, {files} files"), Unit::Seconds)
            .ours(ours)
            .peer(peer, Some(cp.clone()))
    };
    let first = Stat::of(pod_first);
    let met = faster(&first);
    report.rows.push(
        row(
            "many-first-pod",
            "first fetch from a running pod (ours with --pod)",
            first,
            "kubectl cp",
        )
        .target("≥ 1.5× faster", met),
    );
    report.rows.push(row(
        "many-first-helper",
        "first fetch, ours with its own helper pod",
        Stat::of(helper_first),
        "kubectl cp (pod already running)",
    ));
    for (id, what, ours) in [
        (
            "many-refetch-helper",
            "fetch again, nothing changed (helper pod)",
            Stat::of(helper_again),
        ),
        (
            "many-refetch-pod",
            "fetch again, nothing changed (--pod)",
            Stat::of(pod_again),
        ),
    ] {
        let met = under(&ours);
        report
            .rows
            .push(row(id, what, ours, "kubectl cp (copies all again)").target("ours < 1 s", met));
    }
    report.note(format!(
        "data: {files} CityGML-like files of 2 to 6 kB ({:.1} MB) in folders of {PER_FOLDER}, as a split stage writes them; \
         kubectl cp = `kubectl cp {pod}:{folder} DIR` from a running busybox pod that mounts the PVC; \
         ours lists sizes and times in the pod, streams one tar of the files, checksums them in the pod and checks each received file; \
         with nothing changed it settles every file by size and time and transfers none; the helper pod is created and deleted inside ours' time",
        total_bytes as f64 / 1e6
    ));
    Ok(report)
}

/// `files` files of 2 to 6 kB under `split/tile-NNN/`.
fn write_data(data: &Path, files: usize) -> anyhow::Result<()> {
    let seed = data::fresh_seed();
    for file in 0..files {
        let folder = data.join(format!("split/tile-{:03}", file / PER_FOLDER));
        if file % PER_FOLDER == 0 {
            std::fs::create_dir_all(&folder)?;
        }
        let len = 2048 + (seed.wrapping_add(file as u64 * 7919) % 4096) as usize;
        std::fs::write(
            folder.join(format!("part-{file:05}.gml")),
            data::citygml(seed ^ file as u64, len),
        )?;
    }
    Ok(())
}

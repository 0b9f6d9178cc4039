//! `bench fetch --link RATE:RTT`: `fetch-results` against `kubectl cp` over a slow
//! link — the API server reached through the benchmark's own shaping proxy
//! ([`crate::link`]) — on CityGML-like results (text that compresses about twelve
//! times), as the team fetches from a laptop over the university network or a VPN.
//!
//! Both copy from running pods that mount the PVC (their start is not counted): one
//! with the stack's busybox (gzip only, as the default helper image), one with the
//! stack's tools image (busybox and zstd). Ours runs with its defaults
//! (`--compress auto`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::Command;

use super::fetch::{clean_up, cp_source, find_number, pod_image, start_pvc_pod};
use crate::context::{Context, Scratch};
use crate::data;
use crate::link::{self, ShapedLink};
use crate::process::timed;
use crate::report::{Report, Row, Stat, Unit};

/// Size of each results file: a stage's tiles of one borough and vintage.
const FILE_BYTES: usize = 10 * 1024 * 1024;
/// 300 MB at 10 Mbit/s take four minutes uncompressed.
const LIMIT: Duration = Duration::from_secs(1200);
/// The target of issue 19: at least three times faster than kubectl cp.
const TARGET_RATIO: f64 = 3.0;

struct Pods {
    busybox: String,
    tools: String,
}

pub async fn bench(ctx: &Context) -> anyhow::Result<Report> {
    let scratch = Scratch::new(ctx, "fetch-link")?;
    let folder = format!("bench-link-{}", ctx.id);
    let data = ctx.stack.pvc_dir.join(&folder);
    let pods = Pods {
        busybox: format!("bench-cp-{}", ctx.id),
        tools: format!("bench-zstd-{}", ctx.id),
    };
    let result = measure(ctx, &scratch.path, &folder, &data, &pods).await;
    clean_up(ctx, &data).await;
    result
}

async fn measure(
    ctx: &Context,
    dir: &Path,
    folder: &str,
    data: &Path,
    pods: &Pods,
) -> anyhow::Result<Report> {
    let mut report = Report::new("fetch-link");
    let total = ctx.link_data_mb * 1_000_000;
    ctx.say(format!(
        "writing {} MB of CityGML-like results into {}",
        ctx.link_data_mb,
        data.display()
    ));
    let seed = data::fresh_seed();
    let mut written = 0usize;
    let mut index = 0;
    while written < total {
        let len = FILE_BYTES.min(total - written);
        let path = data.join(format!("stage_5/2012/tiles-{index:03}.gml"));
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        std::fs::write(&path, data::citygml(seed ^ index as u64, len))?;
        written += len;
        index += 1;
    }
    // What both copy; ours also writes its manifest beside it.
    let total_bytes = data::tree_bytes(&data.join("stage_5"));
    std::fs::write(dir.join("xtask.toml"), "# bench fetch --link workspace\n")?;
    let tools_image = std::env::var("STACK_TOOLS_IMAGE")
        .context("STACK_TOOLS_IMAGE is not set: eval \"$(tests/stack/env)\"")?;
    for (pod, image) in [
        (&pods.busybox, pod_image()),
        (&pods.tools, tools_image.clone()),
    ] {
        ctx.say(format!("starting pod {pod} ({image}) that mounts the PVC"));
        start_pvc_pod(ctx, dir, pod, &image).await?;
    }

    let kubeconfig_text = std::fs::read_to_string(&ctx.stack.kubeconfig)
        .with_context(|| format!("reading {}", ctx.stack.kubeconfig.display()))?;
    let upstream = link::api_server(&kubeconfig_text)?;
    for shape in &ctx.links {
        let proxy = ShapedLink::start(upstream, *shape).await?;
        let shaped = dir.join(format!("shaped-{}.kubeconfig", shape.bits_per_sec));
        std::fs::write(
            &shaped,
            link::rewrite_kubeconfig(&kubeconfig_text, upstream, proxy.addr()),
        )?;
        let (mut cp, mut busybox, mut tools) = (vec![], vec![], vec![]);
        let mut notes = Vec::new();
        for run in 0..ctx.runs {
            ctx.say(format!(
                "over {shape}: kubectl cp of {} MB, run {}/{}",
                total_bytes / 1_000_000,
                run + 1,
                ctx.runs
            ));
            let dest = dir.join(format!("cp-{}-{run}", shape.bits_per_sec));
            let done = timed(
                Command::new("kubectl")
                    .arg("--kubeconfig")
                    .arg(&shaped)
                    .args([
                        "cp",
                        "-n",
                        &ctx.stack.namespace,
                        &cp_source(&pods.busybox, folder),
                    ])
                    .arg(&dest),
                "kubectl cp",
                LIMIT,
            )
            .await?;
            let copied = data::tree_bytes(&dest.join("stage_5"));
            let _ = std::fs::remove_dir_all(&dest);
            // A peer that fails is a result too (kubectl cp has no resume): noted,
            // not fatal, and ours is still measured.
            if !done.status.success() || copied != total_bytes {
                notes.push(format!(
                    "kubectl cp failed over {shape} after {:.0} s ({copied} of {total_bytes} bytes): {}",
                    done.seconds,
                    crate::process::tail(&done.stderr, 200).replace('\n', " ")
                ));
            } else {
                cp.push(done.seconds);
            }

            for (pod, into) in [(&pods.busybox, &mut busybox), (&pods.tools, &mut tools)] {
                ctx.say(format!("over {shape}: ours from {pod}"));
                let dest = dir.join(format!("ours-{pod}-{run}"));
                let fetched = ours_fetch(ctx, dir, &shaped, folder, &dest, pod).await?;
                let copied = data::tree_bytes(&dest.join("stage_5"));
                anyhow::ensure!(
                    copied == total_bytes,
                    "fetch-results copied {copied} bytes of {total_bytes}"
                );
                let _ = std::fs::remove_dir_all(&dest);
                into.push(fetched.seconds);
                if run == 0 {
                    notes.push(format!(
                        "over {shape}, from {pod}: codec {} ({}), {:.1} MB on the wire",
                        fetched.codec,
                        fetched.reason,
                        fetched.wire_bytes as f64 / 1e6
                    ));
                }
            }
        }
        let cp = if cp.is_empty() {
            Stat::missing("failed")
        } else {
            Stat::of(cp)
        };
        for (ours, which, id) in [
            (busybox, "busybox pod (gzip)", "gzip-pod"),
            (tools, "pod with zstd", "zstd-pod"),
        ] {
            let ours = Stat::of(ours);
            let met = ours
                .median
                .zip(cp.median)
                .map(|(o, c)| c >= TARGET_RATIO * o);
            report.rows.push(
                Row::new(
                    &format!("link-{}mbit-{id}", shape.bits_per_sec / 1_000_000),
                    &format!(
                        "first fetch over {shape}, {} MB CityGML, {which}",
                        total_bytes / 1_000_000
                    ),
                    Unit::Seconds,
                )
                .ours(ours)
                .peer("kubectl cp (same pod, same link)", Some(cp.clone()))
                .target("≥ 3× faster", met),
            );
        }
        for note in notes {
            report.note(note);
        }
        drop(proxy);
    }
    report.note(format!(
        "data: {} files of CityGML-like LoD2 buildings ({} MB, gzip -1 shrinks it about twelve times); \
         the link is a TCP proxy of the benchmark's own on 127.0.0.1 in front of the API server, \
         forwarding each direction at the rate after half the round trip, with a queue of two bandwidth-delay products; \
         both tools use a kubeconfig that points at it; both copy from running pods that mount the PVC; \
         ours with its defaults (--compress auto: it times a 4 MiB sample, then chooses), each fetch into an empty folder",
        index,
        total_bytes / 1_000_000
    ));
    Ok(report)
}

struct OursFetched {
    seconds: f64,
    codec: String,
    reason: String,
    wire_bytes: u64,
}

async fn ours_fetch(
    ctx: &Context,
    cwd: &Path,
    kubeconfig: &Path,
    folder: &str,
    to: &Path,
    pod: &str,
) -> anyhow::Result<OursFetched> {
    let to_text = to.display().to_string();
    let mut cmd = ctx.ours(
        cwd,
        &[
            "fetch-results",
            folder,
            "--to",
            &to_text,
            "--pod",
            pod,
            "-o",
            "json",
        ],
    );
    cmd.env("KUBECONFIG", kubeconfig);
    let done = timed(&mut cmd, "cargo xtask fetch-results", LIMIT)
        .await?
        .ok("cargo xtask fetch-results")?;
    let report: serde_json::Value = serde_json::from_str(&done.stdout)
        .with_context(|| format!("fetch-results -o json printed: {}", done.stdout))?;
    let text = |key: &str| report[key].as_str().unwrap_or("?").to_string();
    Ok(OursFetched {
        seconds: done.seconds,
        codec: text("codec"),
        reason: text("codec_reason"),
        wire_bytes: find_number(&report, "wire_bytes").unwrap_or(0),
    })
}

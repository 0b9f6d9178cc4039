//! `bench images`: `up --images-only` against `docker build` + `docker tag` + `docker push`
//! of the same five images, on the same daemon and the stack's TLS registry.
//!
//! Each side has its own copy of the workspace, with different bytes, so neither profits
//! from the other's build cache or registry blobs. Bytes are measured as the growth of
//! the registry's storage folder, which is what a push really added.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::process::Command;

use crate::context::{Context, Scratch};
use crate::data;
use crate::process::{self, Live, timed};
use crate::report::{Report, Row, Stat, Unit};

const IMAGES: [&str; 5] = ["bench-a", "bench-b", "bench-c", "bench-d", "bench-e"];
/// The image with the 20 MB file, and the one whose source changes in (b).
const BIG: &str = "bench-e";
/// What each image of the workspaces holds.
#[derive(Clone, Copy)]
struct Sizes {
    files_per_image: usize,
    big_bytes: usize,
}

impl Sizes {
    fn of(ctx: &Context) -> Self {
        Sizes {
            files_per_image: ctx.sized(2000, 200),
            big_bytes: ctx.sized(20, 2) << 20,
        }
    }
}
const LIMIT: Duration = Duration::from_secs(300);

/// What the benchmark left in the daemon and the registry, removed at the end.
#[derive(Default)]
struct Leftovers {
    projects: BTreeSet<String>,
    docker_images: BTreeSet<String>,
}

pub async fn bench(ctx: &Context) -> anyhow::Result<Report> {
    let scratch = Scratch::new(ctx, "images")?;
    let mut left = Leftovers::default();
    let result = measure(ctx, &scratch.path, &mut left).await;
    ctx.say("cleaning up: local images, registry repositories and their blobs");
    cleanup(ctx, &left, &scratch.path).await;
    result
}

struct Sides {
    ours_ws: PathBuf,
    docker_ws: PathBuf,
    ours_project: String,
    docker_project: String,
    docker_config: PathBuf,
    base: String,
}

async fn measure(ctx: &Context, dir: &Path, left: &mut Leftovers) -> anyhow::Result<Report> {
    let mut report = Report::new("images");
    let sizes = Sizes::of(ctx);
    let docker_version = timed(
        Command::new("docker").args(["version", "--format", "{{.Client.Version}}"]),
        "docker version",
        Duration::from_secs(20),
    )
    .await?
    .ok("docker version")?;
    let docker_version = docker_version.stdout.trim().to_string();
    let base = std::env::var("STACK_BASE_IMAGE").unwrap_or_else(|_| "stack/busybox:1".into());
    let sides = Sides {
        ours_ws: dir.join("ours"),
        docker_ws: dir.join("docker"),
        // Projects the stack's Harbor-like registry knows (tests/stack/lib.sh), emptied
        // before and after each run so that the first push is a first push.
        ours_project: "bench".into(),
        docker_project: "bench-docker".into(),
        docker_config: dir.join("docker-config"),
        base,
    };
    left.projects.insert(sides.ours_project.clone());
    left.projects.insert(sides.docker_project.clone());
    remove_projects(&ctx.stack.registry_v2(), &left.projects)
        .context("emptying the bench projects left by an earlier run")?;

    ctx.say(format!(
        "writing two workspaces of {} images ({} files each, one with a {} MB file)",
        IMAGES.len(),
        sizes.files_per_image,
        sizes.big_bytes >> 20
    ));
    write_workspace(
        &sides.ours_ws,
        &sides.ours_project,
        &IMAGES,
        &sides.base,
        data::fresh_seed(),
        sizes,
    )?;
    write_workspace(
        &sides.docker_ws,
        &sides.docker_project,
        &IMAGES,
        &sides.base,
        data::fresh_seed(),
        sizes,
    )?;
    docker_login(ctx, &sides.docker_config).await?;

    // (c) The first push of the whole workspace to fresh projects, once: it also leaves
    // both sides fully cached and in the registry for (a) and (b).
    let first = first_push(ctx, &sides, left).await?;

    // (a) Nothing changed.
    let (mut ours_a, mut docker_a) = (vec![], vec![]);
    let mut rebuilt_a = BTreeSet::new();
    for run in 0..ctx.runs {
        ctx.say(format!("(a) nothing changed, run {}/{}", run + 1, ctx.runs));
        let ours = ours_up(ctx, &sides.ours_ws, &sides.ours_project, left).await?;
        rebuilt_a.extend(ours.built.iter().cloned());
        ours_a.push(ours.seconds);
        docker_a.push(docker_cycle(ctx, &sides, &IMAGES, left).await?.total);
    }
    let ours_stat = Stat::of(ours_a);
    let docker_stat = Stat::of(docker_a);
    let met = match (ours_stat.median, docker_stat.median) {
        (Some(o), Some(d)) => Some(o < 1.0 && d / o >= 20.0),
        _ => None,
    };
    report.rows.push(
        Row::new(
            "nothing-changed",
            "(a) nothing changed, 5 images",
            Unit::Seconds,
        )
        .ours(ours_stat)
        .peer("docker build+tag+push ×5", Some(docker_stat))
        .target("ours ≥20× faster and < 1 s", met),
    );
    if !rebuilt_a.is_empty() {
        report.note(format!(
            "(a) ours rebuilt {rebuilt_a:?} although nothing changed: a cache-key bug to look at"
        ));
    }

    // (b) One source file changed in one image.
    let v2 = ctx.stack.registry_v2();
    let (mut ours_b, mut docker_b, mut docker_b_one) = (vec![], vec![], vec![]);
    let (mut ours_bytes, mut docker_bytes) = (vec![], vec![]);
    let mut built_b = BTreeSet::new();
    let mut pushed_b = 0;
    for run in 0..ctx.runs {
        ctx.say(format!(
            "(b) one file changed in {BIG}, run {}/{}",
            run + 1,
            ctx.runs
        ));
        touch_source(
            &sides.ours_ws,
            BIG,
            &format!("ours {run} {}", data::fresh_seed()),
        )?;
        let before = data::tree_bytes(&v2.join("blobs"));
        let ours = ours_up(ctx, &sides.ours_ws, &sides.ours_project, left).await?;
        ours_bytes.push(data::tree_bytes(&v2.join("blobs")).saturating_sub(before) as f64);
        built_b.extend(ours.built.iter().cloned());
        pushed_b = pushed_b.max(ours.pushed.len());
        ours_b.push(ours.seconds);

        touch_source(
            &sides.docker_ws,
            BIG,
            &format!("docker {run} {}", data::fresh_seed()),
        )?;
        let before = data::tree_bytes(&v2.join("blobs"));
        let cycle = docker_cycle(ctx, &sides, &IMAGES, left).await?;
        docker_bytes.push(data::tree_bytes(&v2.join("blobs")).saturating_sub(before) as f64);
        docker_b.push(cycle.total);
        docker_b_one.push(cycle.per_image.get(BIG).copied().unwrap_or(0.0));
    }
    let ours_stat = Stat::of(ours_b);
    let docker_stat = Stat::of(docker_b);
    let met = match (ours_stat.median, docker_stat.median) {
        (Some(o), Some(d)) => Some(o <= 1.1 * d),
        _ => None,
    };
    report.rows.push(
        Row::new(
            "one-file-changed",
            "(b) one source file changed in 1 of 5",
            Unit::Seconds,
        )
        .ours(ours_stat.clone())
        .peer("docker build+tag+push ×5", Some(docker_stat))
        .target("ours ≤ 1.1× docker", met),
    );
    report.rows.push(
        Row::new(
            "one-file-changed-one-image",
            "(b) same, docker told which image changed",
            Unit::Seconds,
        )
        .ours(ours_stat)
        .peer(
            "docker build+tag+push of bench-e",
            Some(Stat::of(docker_b_one)),
        ),
    );
    report.rows.push(
        Row::new(
            "one-file-changed-bytes",
            "(b) bytes added to the registry",
            Unit::Bytes,
        )
        .ours(Stat::of(ours_bytes))
        .peer("docker push", Some(Stat::of(docker_bytes))),
    );
    if pushed_b > 1 {
        report.note(format!(
            "(b) ours pushed {pushed_b} images in one run where one changed"
        ));
    }
    if built_b.iter().any(|n| n != BIG) {
        report.note(format!(
            "(b) ours rebuilt {built_b:?}, more than the changed image {BIG}"
        ));
    }

    report.rows.push(
        Row::new(
            "first-push-throughput",
            "(c) first push, 5 images: throughput",
            Unit::MegabytesPerSecond,
        )
        .ours(Stat::one(
            first.ours_bytes / 1e6 / first.ours_push.max(1e-3),
        ))
        .peer(
            "docker push ×5",
            Some(Stat::one(
                first.docker_bytes / 1e6 / first.docker_push.max(1e-3),
            )),
        ),
    );
    report.rows.push(
        Row::new(
            "first-push-seconds",
            "(c) first push, 5 images: push phase",
            Unit::Seconds,
        )
        .ours(Stat::one(first.ours_push))
        .peer("docker push ×5", Some(Stat::one(first.docker_push))),
    );
    report.rows.push(
        Row::new(
            "first-push-total",
            "(c) first build + push of 5 images",
            Unit::Seconds,
        )
        .ours(Stat::one(first.ours_total))
        .peer(
            "docker build+tag+push ×5",
            Some(Stat::one(first.docker_total)),
        ),
    );
    report.rows.push(
        Row::new(
            "first-push-bytes",
            "(c) bytes added to the registry",
            Unit::Bytes,
        )
        .ours(Stat::one(first.ours_bytes))
        .peer("docker push ×5", Some(Stat::one(first.docker_bytes))),
    );

    // (d) A new image FROM one of the workspace's, into a repository of its own.
    let derived = derived_push(ctx, &sides, left).await?;
    report.rows.push(
        Row::new(
            "derived-image-upload-bytes",
            "(d) new image FROM bench-a, new repository: bytes sent",
            Unit::Bytes,
        )
        .ours(Stat::one(derived.ours_bytes))
        .peer("docker push", Some(Stat::one(derived.docker_bytes)))
        .target(
            "ours ≤ 1.1× docker (+4 KiB)",
            Some(derived.ours_bytes <= 1.1 * derived.docker_bytes + 4096.0),
        ),
    );
    report.rows.push(
        Row::new(
            "derived-image-seconds",
            "(d) same: build + push",
            Unit::Seconds,
        )
        .ours(Stat::one(derived.ours_seconds))
        .peer(
            "docker build+tag+push",
            Some(Stat::one(derived.docker_seconds)),
        ),
    );
    report.note(format!(
        "(d) once: {DERIVED} (FROM bench-a plus one small file) added to each workspace and pushed; bytes sent = blob data \
         the registry received for the project (tests/stack/harbor's counters), layers mounted from bench-a's repository \
         not counted (ours mounted {} of them)",
        derived.ours_mounted
    ));

    report.note(format!(
        "peer: docker CLI {docker_version} (legacy builder) with its own DOCKER_CONFIG after `docker login`; \
         ours: `up --images-only -o json` with cwd = a temp workspace, XTASK_REGISTRY={}/{}",
        ctx.stack.registry, sides.ours_project
    ));
    report.note(format!(
        "workspaces: {} images × {} files of ~200 B (20 folders), {} has a {} MiB incompressible file in its own layer; \
         each side has different bytes so neither reuses the other's cache or blobs",
        IMAGES.len(),
        sizes.files_per_image,
        BIG,
        sizes.big_bytes >> 20
    ));
    report.note(
        "(a)/(b) times are wall times from spawn to exit of every process (docker: 15 processes, build then tag then push per image); \
         in (b) one file of bench-e changes before each run (the workspace's context for docker build)",
    );
    report.note(
        "bytes = growth of the registry's blob folder during the push (compressed layers, config and manifest); \
         other users of the stack pushing at the same moment would inflate it",
    );
    report.note(
        "(c) once whatever --runs says: the first `up` of the workspace (text mode) and the first docker build+tag+push ×5, \
         each to a project the registry has never seen; it also prepares (a) and (b). Push phase: ours from its first \
         `pushing N of M layers` line to its last `pushed` line (export from the daemon, gzip, upload; ours builds all, then pushes), \
         docker = the 5 `docker push` processes added up; throughput = registry growth / push phase. \
         Docker mounts the base layer from repositories it pushed before; ours, pushing the 5 images side by side, \
         uploads it with each (about 1 MB each time, the registry keeps one copy)",
    );
    Ok(report)
}

/// What one `up --images-only -o json` did.
struct UpResult {
    seconds: f64,
    built: Vec<String>,
    pushed: Vec<String>,
}

async fn ours_up(
    ctx: &Context,
    ws: &Path,
    project: &str,
    left: &mut Leftovers,
) -> anyhow::Result<UpResult> {
    let mut cmd = ctx.ours(ws, &["up", "--images-only", "-o", "json"]);
    cmd.env(
        "XTASK_REGISTRY",
        format!("{}/{project}", ctx.stack.registry),
    );
    let done = timed(&mut cmd, "cargo xtask up --images-only", LIMIT)
        .await?
        .ok("our `up --images-only`")?;
    let json: serde_json::Value = serde_json::from_str(&done.stdout).with_context(|| {
        format!(
            "reading the JSON of `up --images-only`: {}",
            process::tail(&done.stdout, 400)
        )
    })?;
    let strings = |key: &str| -> Vec<String> {
        json[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(images) = json["images"].as_array() {
        for image in images {
            if let Some(id) = image["local_image"].as_str() {
                left.docker_images.insert(id.to_string());
            }
        }
    }
    Ok(UpResult {
        seconds: done.seconds,
        built: strings("built"),
        pushed: strings("pushed"),
    })
}

fn docker(sides: &Sides) -> Command {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_CONFIG", &sides.docker_config)
        .env("DOCKER_BUILDKIT", "0");
    cmd
}

async fn docker_login(ctx: &Context, config: &Path) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    std::fs::create_dir_all(config)?;
    let mut child = Command::new("docker")
        .env("DOCKER_CONFIG", config)
        .args([
            "login",
            &ctx.stack.registry,
            "-u",
            &ctx.stack.registry_user,
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting docker login")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ctx.stack.registry_password.as_bytes())
            .await?;
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .context("docker login did not finish within 30 s")??;
    anyhow::ensure!(
        out.status.success(),
        "docker login {} failed: {}",
        ctx.stack.registry,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

struct Cycle {
    total: f64,
    per_image: BTreeMap<String, f64>,
    /// The `docker push` processes alone.
    push: f64,
}

/// What a user's script does today: build, tag and push each image in turn.
async fn docker_cycle(
    ctx: &Context,
    sides: &Sides,
    names: &[&str],
    left: &mut Leftovers,
) -> anyhow::Result<Cycle> {
    let start = Instant::now();
    let mut per_image = BTreeMap::new();
    let mut push = 0.0;
    for name in names {
        let one = Instant::now();
        let local = format!("bench-local-{}/{name}:latest", ctx.id);
        let remote = format!(
            "{}/{}/{name}:latest",
            ctx.stack.registry, sides.docker_project
        );
        let context_dir = sides.docker_ws.join("containers").join(name);
        timed(
            docker(sides)
                .arg("build")
                .arg("-t")
                .arg(&local)
                .arg(&context_dir),
            "docker build",
            LIMIT,
        )
        .await?
        .ok(&format!("docker build {name}"))?;
        timed(
            docker(sides).args(["tag", &local, &remote]),
            "docker tag",
            LIMIT,
        )
        .await?
        .ok("docker tag")?;
        let pushed = timed(docker(sides).args(["push", &remote]), "docker push", LIMIT)
            .await?
            .ok(&format!("docker push {remote}"))?;
        push += pushed.seconds;
        per_image.insert(name.to_string(), one.elapsed().as_secs_f64());
    }
    let total = start.elapsed().as_secs_f64();
    // After the clock stopped: remember the image IDs for the cleanup.
    for name in names {
        let local = format!("bench-local-{}/{name}:latest", ctx.id);
        if let Ok(done) = timed(
            docker(sides).args(["image", "inspect", "-f", "{{.Id}}", &local]),
            "docker image inspect",
            Duration::from_secs(30),
        )
        .await
        {
            let id = done.stdout.trim();
            if !id.is_empty() {
                left.docker_images.insert(id.to_string());
            }
        }
    }
    Ok(Cycle {
        total,
        per_image,
        push,
    })
}

/// Writes `containers/NAME/` folders and an xtask.toml naming the registry project.
fn write_workspace(
    root: &Path,
    project: &str,
    names: &[&str],
    base: &str,
    seed: u64,
    sizes: Sizes,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(root)?;
    std::fs::write(
        root.join("xtask.toml"),
        format!("[registry]\nproject = \"{project}\"\n"),
    )?;
    for (index, name) in names.iter().enumerate() {
        let dir = root.join("containers").join(name);
        for folder in 0..20 {
            std::fs::create_dir_all(dir.join(format!("src/d{folder:02}")))?;
        }
        for file in 0..sizes.files_per_image {
            let path = dir.join(format!("src/d{:02}/f{file:04}.txt", file % 20));
            let line = format!("{name} file {file} seed {seed:x} index {index}\n");
            std::fs::write(path, line.repeat(200 / line.len() + 1))?;
        }
        let big = *name == BIG;
        let dockerfile = if big {
            std::fs::write(
                dir.join("big.bin"),
                data::noise(seed ^ (index as u64 + 1), sizes.big_bytes),
            )?;
            format!("FROM {base}\nCOPY big.bin /data/big.bin\nCOPY src/ /app/src/\n")
        } else {
            format!("FROM {base}\nCOPY src/ /app/src/\n")
        };
        std::fs::write(dir.join("Dockerfile"), dockerfile)?;
    }
    Ok(())
}

/// The image (d) adds to both workspaces.
const DERIVED: &str = "bench-f";

struct DerivedPush {
    ours_bytes: f64,
    docker_bytes: f64,
    ours_seconds: f64,
    docker_seconds: f64,
    ours_mounted: u64,
}

/// (d): each side gets an image FROM its own pushed bench-a plus a small file, in a
/// repository the registry has never seen, and pushes it; the registry counts the blob
/// data it receives per project.
async fn derived_push(
    ctx: &Context,
    sides: &Sides,
    left: &mut Leftovers,
) -> anyhow::Result<DerivedPush> {
    ctx.say(format!(
        "(d) {DERIVED}: FROM bench-a plus a small file, into a new repository"
    ));
    for (ws, project) in [
        (&sides.ours_ws, &sides.ours_project),
        (&sides.docker_ws, &sides.docker_project),
    ] {
        let dir = ws.join("containers").join(DERIVED);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM {}/{project}/bench-a:latest\nCOPY own.txt /app/own.txt\n",
                ctx.stack.registry
            ),
        )?;
        std::fs::write(
            dir.join("own.txt"),
            format!("{project} {}\n", data::fresh_seed()),
        )?;
    }
    let before = registry_counters(ctx).await?;
    let ours = ours_up(ctx, &sides.ours_ws, &sides.ours_project, left).await?;
    let middle = registry_counters(ctx).await?;
    let docker = docker_cycle(ctx, sides, &[DERIVED], left).await?;
    let after = registry_counters(ctx).await?;
    let sent = |from: &serde_json::Value, to: &serde_json::Value, project: &str| {
        let of = |v: &serde_json::Value| {
            v["uploads"]["bytes_by_project"][project]
                .as_u64()
                .unwrap_or(0)
        };
        of(to).saturating_sub(of(from)) as f64
    };
    let mounted = |v: &serde_json::Value| v["mounts"]["mounted"].as_u64().unwrap_or(0);
    Ok(DerivedPush {
        ours_bytes: sent(&before, &middle, &sides.ours_project),
        docker_bytes: sent(&middle, &after, &sides.docker_project),
        ours_seconds: ours.seconds,
        docker_seconds: docker.total,
        ours_mounted: mounted(&middle).saturating_sub(mounted(&before)),
    })
}

/// The stack registry's test counters (`GET /stack/stats`, tests/stack/harbor/README.md).
async fn registry_counters(ctx: &Context) -> anyhow::Result<serde_json::Value> {
    let ca = std::env::var("STACK_REGISTRY_CA")
        .context("STACK_REGISTRY_CA is not set: eval \"$(tests/stack/env)\"")?;
    let done = timed(
        Command::new("curl")
            .args(["-sSf", "--cacert", &ca])
            .arg(format!("https://{}/stack/stats", ctx.stack.registry)),
        "curl /stack/stats",
        Duration::from_secs(30),
    )
    .await?
    .ok("reading the registry's counters")?;
    serde_json::from_str(&done.stdout).context("the registry's counters are not JSON")
}

/// Changes one source file of `image`.
fn touch_source(ws: &Path, image: &str, text: &str) -> anyhow::Result<()> {
    let path = ws.join("containers").join(image).join("src/d00/f0000.txt");
    std::fs::write(&path, format!("changed: {text}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

/// The first push of both workspaces, each to a project the registry has never seen.
struct FirstPush {
    ours_push: f64,
    ours_total: f64,
    ours_bytes: f64,
    docker_push: f64,
    docker_total: f64,
    docker_bytes: f64,
}

async fn first_push(
    ctx: &Context,
    sides: &Sides,
    left: &mut Leftovers,
) -> anyhow::Result<FirstPush> {
    let v2 = ctx.stack.registry_v2();
    ctx.say("(c) first build and push of both workspaces to fresh projects, once");
    // Ours in text mode: its progress lines tell when the push phase starts and ends.
    let mut cmd = ctx.ours(&sides.ours_ws, &["up", "--images-only"]);
    cmd.env(
        "XTASK_REGISTRY",
        format!("{}/{}", ctx.stack.registry, sides.ours_project),
    );
    let before = data::tree_bytes(&v2.join("blobs"));
    let mut live = Live::spawn(&mut cmd, "cargo xtask up --images-only")?;
    let pushing = live
        .line_matching(|l| l.contains(": pushing "), LIMIT)
        .await
        .map(|(s, _)| s);
    let mut last_pushed = None;
    for _ in 0..IMAGES.len() {
        match live.line_matching(|l| l.contains(": pushed "), LIMIT).await {
            Some((stamp, _)) => last_pushed = Some(stamp),
            None => break,
        }
    }
    let (end, status) = live.wait(LIMIT).await?;
    for name in IMAGES {
        let reference = format!(
            "{}/{}/{name}:latest",
            ctx.stack.registry, sides.ours_project
        );
        if let Some(id) = local_image_id(sides, &reference).await {
            left.docker_images.insert(id);
        }
    }
    if !status.success() {
        let stderr = live.stderr().await;
        anyhow::bail!(
            "our first `up --images-only` failed ({status}): {}\n{}",
            process::tail(&stderr, 1200),
            process::tail(&live.stdout_text(), 600)
        );
    }
    let ours_bytes = data::tree_bytes(&v2.join("blobs")).saturating_sub(before) as f64;
    let (Some(pushing), Some(pushed)) = (pushing, last_pushed) else {
        anyhow::bail!(
            "our first `up` printed no `pushing`/`pushed` lines: {}",
            process::tail(&live.stdout_text(), 800)
        );
    };

    let before = data::tree_bytes(&v2.join("blobs"));
    let cycle = docker_cycle(ctx, sides, &IMAGES, left).await?;
    let docker_bytes = data::tree_bytes(&v2.join("blobs")).saturating_sub(before) as f64;
    Ok(FirstPush {
        ours_push: pushed.since(&pushing),
        ours_total: end.since(&live.started),
        ours_bytes,
        docker_push: cycle.push,
        docker_total: cycle.total,
        docker_bytes,
    })
}

async fn local_image_id(sides: &Sides, reference: &str) -> Option<String> {
    let done = timed(
        docker(sides).args(["image", "inspect", "-f", "{{.Id}}", reference]),
        "docker image inspect",
        Duration::from_secs(30),
    )
    .await
    .ok()?;
    let id = done.stdout.trim();
    (done.status.success() && !id.is_empty()).then(|| id.to_string())
}

async fn cleanup(ctx: &Context, left: &Leftovers, dir: &Path) {
    if !left.docker_images.is_empty() {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", dir.join("docker-config"))
            .args(["rmi", "-f"])
            .args(&left.docker_images);
        let _ = timed(&mut cmd, "docker rmi", Duration::from_secs(120)).await;
    }
    let v2 = ctx.stack.registry_v2();
    if let Err(err) = remove_projects(&v2, &left.projects) {
        ctx.say(format!("could not clean the registry: {err:#}"));
    }
}

/// Removes our repositories from the registry's storage, and the blobs no other
/// repository links to (the registry's own garbage collection wants it stopped).
fn remove_projects(v2: &Path, projects: &BTreeSet<String>) -> anyhow::Result<()> {
    let repositories = v2.join("repositories");
    let mut ours = BTreeSet::new();
    let mut others = BTreeSet::new();
    for entry in std::fs::read_dir(&repositories)?.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let set = if projects.contains(&name) {
            &mut ours
        } else {
            &mut others
        };
        linked_digests(&entry.path(), set);
    }
    for project in projects {
        let path = repositories.join(project);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for digest in ours.difference(&others) {
        if digest.len() > 2 && digest.chars().all(|c| c.is_ascii_hexdigit()) {
            let blob = v2.join("blobs/sha256").join(&digest[..2]).join(digest);
            let _ = std::fs::remove_dir_all(blob);
        }
    }
    Ok(())
}

/// Every digest a repository folder links to: the names of folders under a `sha256`
/// folder (`_layers/sha256/D`, `_manifests/revisions/sha256/D`, tag indexes).
fn linked_digests(dir: &Path, into: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let parent_is_sha = dir.file_name().is_some_and(|n| n == "sha256");
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if parent_is_sha {
            into.insert(entry.file_name().to_string_lossy().to_string());
        } else {
            linked_digests(&entry.path(), into);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_linked_digests() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-links-{}", std::process::id()));
        let layer = dir.join("proj/img/_layers/sha256/abcd");
        let rev = dir.join("proj/img/_manifests/revisions/sha256/ef01");
        std::fs::create_dir_all(&layer).unwrap();
        std::fs::create_dir_all(&rev).unwrap();
        std::fs::write(layer.join("link"), "sha256:abcd").unwrap();
        let mut found = BTreeSet::new();
        linked_digests(&dir, &mut found);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            found,
            BTreeSet::from(["abcd".to_string(), "ef01".to_string()])
        );
    }
}

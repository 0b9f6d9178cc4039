//! What every benchmark needs: the stack's coordinates, scratch folders that clean up
//! after themselves, timed subprocesses (whole runs or line by line), peak memory of a
//! running process, API requests counted at a `kubectl proxy`, and the median/p95.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::Exit;

/// The local stack as `tests/stack/env` describes it.
#[derive(Debug, Clone)]
pub struct Stack {
    pub dir: PathBuf,
    /// `127.0.0.1:PORT` of the TLS registry.
    pub registry: String,
    pub registry_user: String,
    pub registry_password: String,
    pub kubeconfig: PathBuf,
    pub admin_kubeconfig: PathBuf,
    pub pvc_dir: PathBuf,
    pub namespace: String,
}

impl Stack {
    fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                Exit::input(format!(
                    "the benchmarks need the local stack's environment ({name} is not set): \
                     tests/stack/up && eval \"$(tests/stack/env)\""
                ))
            })
        };
        let dir = PathBuf::from(var("STACK_DIR")?);
        Ok(Stack {
            registry: var("STACK_REGISTRY")?,
            registry_user: var("STACK_REGISTRY_USER")?,
            registry_password: var("STACK_REGISTRY_PASSWORD")?,
            kubeconfig: PathBuf::from(var("KUBECONFIG")?),
            admin_kubeconfig: PathBuf::from(var("STACK_ADMIN_KUBECONFIG")?),
            pvc_dir: std::env::var("STACK_PVC_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| dir.join("pvc")),
            namespace: std::env::var("ARGO_NAMESPACE").unwrap_or_else(|_| "argo".into()),
            dir,
        })
    }

    /// The registry's storage, to measure what a push really added.
    pub fn registry_v2(&self) -> PathBuf {
        self.dir.join("registry/docker/registry/v2")
    }
}

/// Shared by every benchmark of one invocation.
pub struct Context {
    pub runs: usize,
    pub exe: PathBuf,
    pub stack: Stack,
    pub started: Instant,
    /// Short and unique to this invocation: names of projects, folders and labels.
    pub id: String,
}

impl Context {
    pub fn new(runs: usize) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("finding our own executable")?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!(
            "{:06x}",
            (nanos as u64 ^ u64::from(std::process::id())) & 0xff_ffff
        );
        Ok(Context {
            runs,
            exe,
            stack: Stack::from_env()?,
            started: Instant::now(),
            id,
        })
    }

    pub fn binary_description(&self) -> String {
        let profile = if cfg!(debug_assertions) {
            "debug build, as `cargo xtask` runs it"
        } else {
            "release build"
        };
        format!("ours = {} ({profile})", self.exe.display())
    }

    /// Progress on stderr, so stdout stays the report (or pure JSON).
    pub fn say(&self, text: impl AsRef<str>) {
        eprintln!("bench: {}", text.as_ref());
    }

    /// Our own binary with `args`, as a user would run it from `cwd`.
    pub fn ours(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(args).current_dir(cwd).env("NO_COLOR", "1");
        cmd
    }
}

/// A folder under the system's temp dir, removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(ctx: &Context, what: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("xtask-bench-{what}-{}", ctx.id));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A point in time on both clocks: `at` to compare our own observations, `wall` to compare
/// with timestamps the API server wrote.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub at: Instant,
    pub wall: DateTime<Utc>,
}

impl Stamp {
    pub fn now() -> Self {
        Stamp {
            at: Instant::now(),
            wall: Utc::now(),
        }
    }

    /// `self - earlier` in seconds, negative when `self` came first.
    pub fn since(&self, earlier: &Stamp) -> f64 {
        if self.at >= earlier.at {
            (self.at - earlier.at).as_secs_f64()
        } else {
            -(earlier.at - self.at).as_secs_f64()
        }
    }
}

/// A finished subprocess.
#[derive(Debug)]
pub struct Finished {
    pub seconds: f64,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Fails with the command's own words when it did not exit 0.
    pub fn ok(self, what: &str) -> anyhow::Result<Self> {
        if !self.status.success() {
            bail!(
                "{what} failed ({}): {}{}",
                self.status,
                tail(&self.stderr, 1500),
                tail(&self.stdout, 600)
            );
        }
        Ok(self)
    }
}

/// The end of a long text, for error messages.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Runs a command to its end and times it from spawn to exit.
pub async fn timed(cmd: &mut Command, what: &str, limit: Duration) -> anyhow::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let start = Instant::now();
    let child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("{what} did not finish within {} s", limit.as_secs()))?
        .with_context(|| format!("waiting for {what}"))?;
    Ok(Finished {
        seconds: start.elapsed().as_secs_f64(),
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A running subprocess whose stdout lines are timestamped as they arrive.
pub struct Live {
    pub what: String,
    child: Child,
    pub pid: u32,
    pub started: Stamp,
    lines: mpsc::UnboundedReceiver<(Stamp, String)>,
    /// Every stdout line read so far (unless `keep_lines(false)`).
    pub seen: Vec<(Stamp, String)>,
    keep: bool,
    stderr: Option<JoinHandle<String>>,
}

impl Live {
    pub fn spawn(cmd: &mut Command, what: &str) -> anyhow::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Stamp::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        let pid = child.id().unwrap_or(0);
        let (tx, lines) = mpsc::unbounded_channel();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(async move {
                let mut reader = BufReader::new(out).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send((Stamp::now(), line)).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = child.stderr.take().map(|err| tokio::spawn(read_all(err)));
        Ok(Live {
            what: what.into(),
            child,
            pid,
            started,
            lines,
            seen: vec![],
            keep: true,
            stderr,
        })
    }

    /// Whether to keep the lines read (a follower of 500 pods prints megabytes).
    pub fn keep_lines(&mut self, keep: bool) {
        self.keep = keep;
    }

    fn remember(&mut self, item: (Stamp, String)) {
        if self.keep {
            self.seen.push(item);
        }
    }

    /// Waits for the first stdout line that `pred` accepts; `None` after `limit` or at
    /// the end of the output.
    pub async fn line_matching(
        &mut self,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Option<(Stamp, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some((stamp, line))) => {
                    let hit = pred(&line);
                    self.remember((stamp, line.clone()));
                    if hit {
                        return Some((stamp, line));
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Waits for the exit (stdout is drained on the way) and stamps it.
    pub async fn wait(&mut self, limit: Duration) -> anyhow::Result<(Stamp, ExitStatus)> {
        // Drain stdout while waiting: a child blocked on a full pipe would never exit.
        let deadline = tokio::time::Instant::now() + limit;
        let status = loop {
            tokio::select! {
                status = self.child.wait() => break status,
                item = self.lines.recv() => {
                    if let Some(item) = item {
                        self.remember(item);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    anyhow::bail!("{} did not finish within {} s", self.what, limit.as_secs());
                }
            }
        }
        .with_context(|| format!("waiting for {}", self.what))?;
        let stamp = Stamp::now();
        while let Ok(Some(item)) =
            tokio::time::timeout(Duration::from_secs(2), self.lines.recv()).await
        {
            self.remember(item);
        }
        Ok((stamp, status))
    }

    /// Ends our own child (by its handle, hence its pid) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    pub async fn stderr(&mut self) -> String {
        match self.stderr.take() {
            Some(handle) => tokio::time::timeout(Duration::from_secs(2), handle)
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or_default(),
            None => String::new(),
        }
    }

    pub fn stdout_text(&self) -> String {
        self.seen
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn read_all(mut reader: impl AsyncRead + Unpin) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let _ = reader.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Samples a process while it runs: its peak resident memory (VmHWM, which the kernel
/// keeps as a high-water mark) and its CPU time (user + system), until the process is
/// gone or the sampler is stopped.
pub struct ProcSampler {
    handle: JoinHandle<ProcStats>,
    stop: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ProcStats {
    pub peak_mib: f64,
    pub cpu_seconds: f64,
}

/// Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux x86 and arm).
const USER_HZ: f64 = 100.0;

impl ProcSampler {
    pub fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut stats = ProcStats::default();
            loop {
                // A zombie (exited, not reaped yet) has no VmHWM line, but keeps its times.
                if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|t| vm_hwm_kib(&t))
                {
                    stats.peak_mib = stats.peak_mib.max(kib as f64 / 1024.0);
                }
                match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                    Ok(text) => {
                        if let Some(ticks) = cpu_ticks(&text) {
                            stats.cpu_seconds = ticks as f64 / USER_HZ;
                        }
                    }
                    Err(_) => break,
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stopped.changed() => break,
                }
            }
            stats
        });
        ProcSampler { handle, stop }
    }

    pub async fn finish(self) -> ProcStats {
        let _ = self.stop.send(true);
        self.handle.await.unwrap_or_default()
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime of /proc/PID/stat (fields 14 and 15; the command name before them is
/// in parentheses and may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kubectl proxy -v=7` in front of the API server: a client pointed at it through
/// [`CountingProxy::kubeconfig`] sends every request through it, and kubectl logs one
/// `"Request" verb=… url=…` line per request as it forwards it (before any answer, so a
/// watch that never got its headers counts too). That count is the client's own:
/// nothing else goes through.
pub struct CountingProxy {
    child: Child,
    log: PathBuf,
    kubeconfig: PathBuf,
}

/// API requests seen by a [`CountingProxy`].
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RequestCounts {
    pub total: usize,
    pub watches: usize,
    /// GET without watch: gets and lists.
    pub reads: usize,
    /// POST, PUT, PATCH, DELETE.
    pub writes: usize,
}

impl CountingProxy {
    pub async fn start(upstream_kubeconfig: &Path, dir: &Path, name: &str) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}-proxy.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut child = Command::new("kubectl")
            .args(["proxy", "--port=0", "-v=7", "--kubeconfig"])
            .arg(upstream_kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .context("starting kubectl proxy (is the stack's kubectl on PATH?)")?;
        let out = child.stdout.take().context("kubectl proxy stdout")?;
        let mut lines = BufReader::new(out).lines();
        let first = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .context("kubectl proxy did not start within 15 s")??
            .unwrap_or_default();
        // "Starting to serve on 127.0.0.1:PORT"
        let Some(addr) = first.rsplit(' ').next().filter(|a| a.contains(':')) else {
            bail!("unexpected first line from kubectl proxy: {first}");
        };
        let kubeconfig = dir.join(format!("{name}-proxy.kubeconfig"));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: counted\n  cluster:\n    server: http://{addr}\n\
                 users:\n- name: counted\n  user: {{}}\ncontexts:\n- name: counted\n  context:\n    cluster: counted\n    user: counted\n    namespace: argo\n\
                 current-context: counted\n"
            ),
        )?;
        // Keep draining stdout so the proxy never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(CountingProxy {
            child,
            log,
            kubeconfig,
        })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub async fn stop(mut self) -> RequestCounts {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        count_requests(&text)
    }
}

fn count_requests(log: &str) -> RequestCounts {
    let mut counts = RequestCounts::default();
    for line in log.lines().filter(|l| l.contains("\"Request\" verb=")) {
        counts.total += 1;
        let verb = line
            .split("verb=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or("");
        let url = line
            .split("url=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or("");
        if verb == "GET" && (url.contains("watch=true") || url.contains("watch=1")) {
            counts.watches += 1;
        } else if verb == "GET" {
            counts.reads += 1;
        } else {
            counts.writes += 1;
        }
    }
    counts
}

pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// Nearest-rank 95th percentile: with few runs, the worst or next-to-worst.
pub fn p95(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Total size of the files under `dir` (0 when it does not exist).
pub fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            total += tree_bytes(&entry.path());
        } else if kind.is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    total
}

/// Deterministic, incompressible bytes (splitmix64): random enough that gzip cannot
/// shrink them and every seed gives a layer the registry has never seen.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A seed that differs between invocations and calls.
pub fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(p95(&[1.0, 2.0, 3.0]), Some(3.0));
        let many: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(p95(&many), Some(19.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn counts_proxy_lines() {
        let log = r#"I1127 round_trippers.go:527] "Request" verb="GET" url="https://h/api/v1/namespaces/argo/pods?&watch=true&timeoutSeconds=290" headers=<
I1127 round_trippers.go:632] "Response" status="200 OK" milliseconds=3
I1127 round_trippers.go:527] "Request" verb="GET" url="https://h/api/v1/namespaces/argo/pods?limit=500" headers=<
I1127 round_trippers.go:527] "Request" verb="POST" url="https://h/apis/argoproj.io/v1alpha1/namespaces/argo/workflows?" headers=<
I1127 proxy_server.go:131] Filter accepting GET /api/v1/namespaces/argo/pods 127.0.0.1"#;
        let c = count_requests(log);
        assert_eq!((c.total, c.watches, c.reads, c.writes), (3, 1, 1, 1));
    }

    #[test]
    fn reads_cpu_ticks() {
        let stat = "4242 (x task) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 4 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(280));
    }

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\txtask\nVmPeak:\t  100 kB\nVmHWM:\t   20480 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(20480));
    }

    #[test]
    fn noise_is_deterministic_and_sized() {
        assert_eq!(noise(7, 13), noise(7, 13));
        assert_ne!(noise(7, 64), noise(8, 64));
        assert_eq!(noise(1, 1001).len(), 1001);
    }
}

//! Timed subprocesses: whole runs ([`timed`]) or line by line as they print ([`Live`]),
//! stamped on both the monotonic and the wall clock ([`Stamp`]).

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

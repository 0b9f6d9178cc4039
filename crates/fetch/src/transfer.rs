//! Commands in the pod over the exec subresource (WebSocket), and a tar stream from
//! one extracted as it arrives.
//!
//! The exec output is read into channels while the blocking extractor consumes them,
//! so the WebSocket is never stalled by disk writes longer than a few buffers. stderr
//! is drained concurrently: kube's message loop blocks when any pipe is full.

use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess};
use tokio::io::{AsyncReadExt, ReadHalf, SimplexStream};
use tokio::sync::mpsc;

use super::compress::Codec;
use super::error::{FetchError, missing_right};
use super::extract::{self, Expected, ExtractEvent, ExtractOutcome, FsStore, LateSums, RemoteSum};
use super::listing::parse_hash_line;

/// kube's default pipe is 1 KiB: one WebSocket frame at a time. A larger one lets the
/// message loop keep reading while the extractor writes to disk.
const STDOUT_BUFFER: usize = 4 * 1024 * 1024;
/// Bytes of stderr kept for error messages.
const STDERR_KEPT: usize = 16 * 1024;
/// How long to wait for the exit status after stdout has ended.
const STATUS_WAIT: Duration = Duration::from_secs(30);
/// URL bytes of file names per command: names travel in the exec URL, one
/// `&command=NAME` each, percent-encoded, and the `http` crate refuses URIs over 64 KiB
/// (proxies may refuse less); the rest of the URL (script, pod) stays under 2 KiB.
pub(crate) const MAX_URL_BYTES: usize = 40 * 1024;
/// Names per command when they travel as arguments: the exec URL and the pod's
/// argument-size limit both bound them.
pub(crate) const MAX_BATCH_FILES: usize = 2000;

/// Where and as whom commands run.
#[derive(Clone)]
pub(crate) struct PodExec {
    pub api: Api<Pod>,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// Output of a command read to the end.
pub(crate) struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub status: Option<Status>,
    /// When the first chunk of stdout arrived, its size, and when the last did: how
    /// fast the link carried the rest (the start of the command is not in it).
    pub first_chunk: Option<(std::time::Instant, usize)>,
    pub last_chunk: Option<std::time::Instant>,
}

/// How a streamed command ended.
pub(crate) struct Streamed {
    pub outcome: ExtractOutcome,
    /// Bytes received on stdout (compressed, when a codec was used).
    pub wire_bytes: u64,
    pub stderr: String,
    /// The exit status when it came, or why the connection ended early.
    pub end: Result<Option<Status>, String>,
}

/// A command for the pod: its arguments, and bytes for its stdin (file names that would
/// not fit the exec URL).
pub(crate) struct PodCommand {
    pub argv: Vec<String>,
    pub stdin: Option<Vec<u8>>,
}

impl From<Vec<String>> for PodCommand {
    fn from(argv: Vec<String>) -> Self {
        PodCommand { argv, stdin: None }
    }
}

/// Writes a command's stdin, then holds the pipe open until dropped: over the older
/// exec protocol (v4) kube can only tell the end of stdin by closing the whole
/// connection, which would cut the output short. The scripts read exactly the bytes
/// they are told (`head -c`), so they never wait for that end.
struct StdinFeed(Option<tokio::task::JoinHandle<()>>);

impl StdinFeed {
    fn start(process: &mut AttachedProcess, bytes: Option<Vec<u8>>) -> Self {
        let (Some(bytes), Some(mut pipe)) = (bytes, process.stdin()) else {
            return StdinFeed(None);
        };
        StdinFeed(Some(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if pipe.write_all(&bytes).await.is_ok() && pipe.flush().await.is_ok() {
                std::future::pending::<()>().await;
            }
        })))
    }
}

impl Drop for StdinFeed {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl PodExec {
    async fn start(&self, command: PodCommand) -> Result<(AttachedProcess, StdinFeed), FetchError> {
        let params = AttachParams {
            container: Some(self.container.clone()),
            stdin: command.stdin.is_some(),
            stdout: true,
            stderr: true,
            tty: false,
            max_stdout_buf_size: Some(STDOUT_BUFFER),
            max_stderr_buf_size: Some(STDERR_KEPT),
            ..AttachParams::default()
        };
        let mut process = self
            .api
            .exec(&self.pod, command.argv, &params)
            .await
            .map_err(|err| {
                if missing_right(&err) {
                    FetchError::NoRight {
                        right: "create pods/exec".into(),
                        namespace: self.namespace.clone(),
                        needed: format_needed(),
                        message: kit_cluster::errors::describe(&err),
                    }
                } else {
                    FetchError::kube(format!("run a command in pod {}", self.pod), err)
                }
            })?;
        let feed = StdinFeed::start(&mut process, command.stdin);
        Ok((process, feed))
    }

    /// Runs a command and returns all its output.
    pub async fn capture(&self, command: impl Into<PodCommand>) -> Result<Captured, FetchError> {
        let (mut process, _feed) = self.start(command.into()).await?;
        let stderr = StderrTail::spawn(process.stderr());
        let mut output = Output::new(&mut process).ok_or_else(|| self.no_stdout())?;
        let mut stdout = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let (mut first_chunk, mut last_chunk) = (None, None);
        loop {
            match output.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    let now = std::time::Instant::now();
                    first_chunk.get_or_insert((now, n));
                    last_chunk = Some(now);
                    stdout.extend_from_slice(&buf[..n]);
                }
                Err(e) => {
                    return Err(FetchError::Exec {
                        pod: self.pod.clone(),
                        what: "reading a command's output",
                        detail: e.to_string(),
                    });
                }
            }
        }
        let status = output.status().await;
        let stderr = stderr.finish().await;
        drop(output);
        if let Err(err) = process.join().await
            && stdout.is_empty()
        {
            return Err(FetchError::Exec {
                pod: self.pod.clone(),
                what: "a command",
                detail: kit_cluster::errors::error_chain(&err),
            });
        }
        Ok(Captured {
            stdout,
            stderr,
            status,
            first_chunk,
            last_chunk,
        })
    }

    fn no_stdout(&self) -> FetchError {
        FetchError::Exec {
            pod: self.pod.clone(),
            what: "a command",
            detail: "the exec connection gave no stdout".into(),
        }
    }

    /// Runs a command whose stdout is a tar stream (compressed with `codec`) and
    /// extracts it into `store` as it arrives. `on_event` sees the extractor's events.
    pub async fn stream_tar(
        &self,
        command: PodCommand,
        codec: Codec,
        expected: Expected,
        late: Option<Arc<LateSums>>,
        store: Arc<FsStore>,
        on_event: &mut dyn FnMut(ExtractEvent),
    ) -> Result<Streamed, FetchError> {
        let (mut process, _feed) = self.start(command).await?;
        let stderr = StderrTail::spawn(process.stderr());
        let mut output = Output::new(&mut process).ok_or_else(|| self.no_stdout())?;

        let (chunk_tx, chunk_rx) = mpsc::channel::<io::Result<Vec<u8>>>(32);
        let (event_tx, mut event_rx) = mpsc::unbounded_channel();
        let extractor = tokio::task::spawn_blocking(move || {
            let reader = ChannelReader::new(chunk_rx);
            let mut send = |e| {
                let _ = event_tx.send(e);
            };
            extract::extract(
                codec.decoder(reader),
                &expected,
                late.as_deref(),
                &store,
                &mut send,
            )
        });

        let mut pumped: Option<io::Result<Pumped>> = None;
        let received = std::sync::atomic::AtomicU64::new(0);
        {
            let pump = pump(&mut output, chunk_tx, &received);
            tokio::pin!(pump);
            // Until the extractor is done (its event sender is dropped): forward
            // events, and feed it from stdout.
            loop {
                tokio::select! {
                    result = &mut pump, if pumped.is_none() => pumped = Some(result),
                    event = event_rx.recv() => match event {
                        Some(event) => on_event(event),
                        None => break,
                    },
                }
            }
        }
        let outcome = extractor.await.map_err(|e| FetchError::Exec {
            pod: self.pod.clone(),
            what: "extracting the tar stream",
            detail: e.to_string(),
        })?;
        let (wire_bytes, end) = match pumped {
            // The extractor stopped before the stream ended (refused entry, local
            // error, a full disk): stop the remote command. Waiting for it instead
            // would wait forever: nobody reads what it still writes.
            // The extractor is done at the tar's end marker, which may come before the
            // stream's own end (a compressor's trailer): what came counts all the same.
            None | Some(Ok(Pumped::ExtractorGone)) => {
                process.abort();
                (received.into_inner(), Ok(None))
            }
            Some(Err(err)) => (received.into_inner(), Err(err.to_string())),
            Some(Ok(Pumped::End(n))) => {
                let status = output.status().await;
                // The message loop may be blocked writing into our stdout pipe:
                // closing it lets the loop end. Without a status the connection
                // ended early; the loop's result says why. Bounded, so that a
                // connection left half-open cannot hold the fetch (the helper pod's
                // deletion ends it).
                drop(output);
                match tokio::time::timeout(STATUS_WAIT, process.join()).await {
                    Err(_) => (
                        n,
                        Err("the exec connection stayed open after the stream ended".into()),
                    ),
                    Ok(Err(err)) => (n, Err(kit_cluster::errors::error_chain(&err))),
                    Ok(Ok(())) if status.is_none() => (
                        n,
                        Err("the exec connection closed without an exit status".into()),
                    ),
                    Ok(Ok(())) => (n, Ok(status)),
                }
            }
        };
        let stderr = stderr.finish().await;
        Ok(Streamed {
            outcome,
            wire_bytes,
            stderr,
            end,
        })
    }
}

impl PodExec {
    /// Runs a checksum command ([`sum_command`]) and hands each checksum to `late` as
    /// its line arrives; ends `late` with the reason when some may be missing.
    pub async fn feed_sums(&self, command: PodCommand, tool: SumTool, late: &LateSums) {
        let failure = self.read_sums(command, tool, late).await.err();
        late.end(failure);
    }

    async fn read_sums(
        &self,
        command: PodCommand,
        tool: SumTool,
        late: &LateSums,
    ) -> Result<(), String> {
        let program = tool.program();
        let (mut process, _feed) = self.start(command).await.map_err(|e| e.to_string())?;
        let stderr = StderrTail::spawn(process.stderr());
        let mut output = Output::new(&mut process).ok_or("the exec connection gave no stdout")?;
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = output
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading {program}'s output: {e}"))?;
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..end]);
                if let Some((name, sum)) = tool.parse_line(&line) {
                    late.add(name, sum);
                }
            }
        }
        let status = output.status().await;
        let stderr = stderr.finish().await;
        let succeeded = status.as_ref().and_then(|s| s.status.as_deref()) == Some("Success");
        if succeeded && stderr.trim().is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{program} in pod {}: {}",
                self.pod,
                super::exec_detail(&stderr, status.as_ref())
            ))
        }
    }
}

type StatusFuture = Pin<Box<dyn Future<Output = Option<Status>> + Send>>;

/// The stdout of an exec, ending also when the connection breaks.
///
/// kube closes its stdout pipe only when the command ends normally; after a
/// WebSocket error (or an abort) the pipe stays open with nobody writing, and a plain
/// read would wait forever. The status future resolves when the message loop ends
/// either way: from then on, a read that would wait means the end.
struct Output {
    stdout: ReadHalf<SimplexStream>,
    status_rx: Option<StatusFuture>,
    /// `Some` once the message loop has ended: with the status it sent, if any.
    ended: Option<Option<Status>>,
}

/// How long stdout may stay open after the exit status arrived.
const AFTER_STATUS: Duration = Duration::from_secs(5);

impl Output {
    fn new(process: &mut AttachedProcess) -> Option<Self> {
        let stdout = process.stdout()?;
        let status_rx = process.take_status().map(|f| Box::pin(f) as StatusFuture);
        Some(Output {
            stdout,
            status_rx,
            ended: None,
        })
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &self.ended {
                None => {
                    let Some(status_rx) = self.status_rx.as_mut() else {
                        return self.stdout.read(buf).await;
                    };
                    tokio::select! {
                        biased;
                        read = self.stdout.read(buf) => return read,
                        status = status_rx => {
                            self.ended = Some(status);
                            self.status_rx = None;
                        }
                    }
                }
                // A normal end: kube closes stdout right after sending the status.
                Some(Some(_)) => {
                    return tokio::time::timeout(AFTER_STATUS, self.stdout.read(buf))
                        .await
                        .unwrap_or(Ok(0));
                }
                // The loop is gone; what it wrote is still readable at once.
                Some(None) => return self.stdout.read(buf).now_or_never().unwrap_or(Ok(0)),
            }
        }
    }

    /// The exit status, once stdout has ended.
    async fn status(&mut self) -> Option<Status> {
        if self.ended.is_none()
            && let Some(status_rx) = self.status_rx.take()
        {
            self.ended = Some(
                tokio::time::timeout(STATUS_WAIT, status_rx)
                    .await
                    .ok()
                    .flatten(),
            );
        }
        self.ended.clone().flatten()
    }
}

/// stderr, read by a task into a shared buffer: the pipe may never close (see
/// [`Output`]), so the tail is taken after a short wait rather than at its end.
struct StderrTail {
    kept: Arc<std::sync::Mutex<Vec<u8>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl StderrTail {
    fn spawn(stderr: Option<ReadHalf<SimplexStream>>) -> Self {
        let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = stderr.map(|mut stderr| {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = stderr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut kept) = kept.lock() {
                        let room = STDERR_KEPT.saturating_sub(kept.len());
                        kept.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            })
        });
        StderrTail { kept, task }
    }

    async fn finish(mut self) -> String {
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
        let kept = self.kept.lock().map(|k| k.clone()).unwrap_or_default();
        String::from_utf8_lossy(&kept).trim().to_string()
    }
}

fn format_needed() -> &'static str {
    "run the listing and tar commands in the pod"
}

/// How the copy from stdout to the extractor ended.
enum Pumped {
    /// stdout ended after this many bytes.
    End(u64),
    /// The extractor stopped reading (refused entry, local error): the remote command
    /// may still be writing and must be stopped, not waited for.
    ExtractorGone,
}

/// Copies stdout into the channel.
/// `received` counts what came, however the copy ends.
async fn pump(
    output: &mut Output,
    tx: mpsc::Sender<io::Result<Vec<u8>>>,
    received: &std::sync::atomic::AtomicU64,
) -> io::Result<Pumped> {
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match output.read(&mut buf).await {
            Ok(0) => return Ok(Pumped::End(total)),
            Ok(n) => {
                total += n as u64;
                received.store(total, std::sync::atomic::Ordering::Relaxed);
                if tx.send(Ok(buf[..n].to_vec())).await.is_err() {
                    return Ok(Pumped::ExtractorGone);
                }
            }
            Err(err) => {
                let copy = io::Error::new(err.kind(), err.to_string());
                let _ = tx.send(Err(err)).await;
                return Err(copy);
            }
        }
    }
}

/// A blocking `Read` over chunks sent from the async side; the end of the channel is
/// the end of the stream.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<io::Result<Vec<u8>>>) -> Self {
        ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(err)) => return Err(err),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// How file names reach a command in the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamePassing {
    /// As arguments, in the exec URL: a few thousand per command (see [`batches`]).
    Arguments,
    /// On stdin, NUL-terminated, read by `xargs -0`: any number in one command, so
    /// 20,000 small files cost one round trip instead of fifteen. Needs `xargs -0` and
    /// `head -c` in the pod (the listing probes them).
    Stdin,
}

impl NamePassing {
    /// The groups of names, one command each.
    pub fn batches<'a>(self, names: &[&'a str]) -> Vec<Vec<&'a str>> {
        match self {
            NamePassing::Arguments => batches(names, MAX_URL_BYTES, MAX_BATCH_FILES),
            NamePassing::Stdin if names.is_empty() => Vec::new(),
            NamePassing::Stdin => vec![names.to_vec()],
        }
    }

    /// A command whose file names follow the `fixed` arguments: for [`Self::Stdin`],
    /// `stdin_script` gets the byte count of the names after `fixed` instead.
    fn command(
        self,
        scripts: (&str, &str),
        name: &str,
        fixed: &[&str],
        files: &[&str],
    ) -> PodCommand {
        // `./` keeps names starting with `-` from being read as options.
        let names = files.iter().map(|f| format!("./{f}"));
        let (args_script, stdin_script) = scripts;
        let (script, last, stdin): (_, Vec<String>, _) = match self {
            NamePassing::Arguments => (args_script, names.collect(), None),
            NamePassing::Stdin => {
                let mut stdin = Vec::new();
                for n in names {
                    stdin.extend_from_slice(n.as_bytes());
                    stdin.push(0);
                }
                (stdin_script, vec![stdin.len().to_string()], Some(stdin))
            }
        };
        let mut argv: Vec<String> = vec!["sh".into(), "-c".into(), script.into(), name.into()];
        argv.extend(fixed.iter().map(|a| a.to_string()));
        argv.extend(last);
        PodCommand { argv, stdin }
    }
}

/// Runs in `$1`/`$2` (the PVC's folder, then the listed base) and writes a tar of the
/// remaining arguments to stdout, through the filter `$3` unless it is `cat`.
const TAR_SCRIPT: &str = r#"cd "$1" && cd "$2" || exit 1
z=$3; shift 3
if [ "$z" = cat ]; then exec tar cf - "$@"; else tar cf - "$@" | $z; fi
"#;

/// The same with the names on stdin (`$4` bytes): xargs may run tar several times,
/// and the archives follow each other (the extractor reads past end markers); the
/// filter compresses them all as one stream.
const TAR_STDIN_SCRIPT: &str = r#"cd "$1" && cd "$2" || exit 1
if [ "$3" = cat ]; then head -c "$4" | xargs -0 tar cf -; else head -c "$4" | xargs -0 tar cf - | $3; fi
"#;

pub(crate) fn tar_command(
    root: &str,
    base: &str,
    files: &[&str],
    codec: Codec,
    passing: NamePassing,
) -> PodCommand {
    passing.command(
        (TAR_SCRIPT, TAR_STDIN_SCRIPT),
        "xtask-tar",
        &[root, base, codec.pod_filter()],
        files,
    )
}

/// The program that checksums files in the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SumTool {
    /// SHA-256: compares with the manifest; `--verify` checks transfers with it.
    Sha256sum,
    /// POSIX CRC: checks a transfer at a fraction of the cost (see [`super::cksum`]).
    Cksum,
}

impl SumTool {
    pub fn program(self) -> &'static str {
        match self {
            SumTool::Sha256sum => "sha256sum",
            SumTool::Cksum => "cksum",
        }
    }

    /// One output line: the name as listed (without `./`) and its checksum.
    fn parse_line(self, line: &str) -> Option<(String, RemoteSum)> {
        match self {
            SumTool::Sha256sum => {
                let (hash, name) = parse_hash_line(line)?;
                Some((
                    name.strip_prefix("./")?.to_string(),
                    RemoteSum::Sha256(hash),
                ))
            }
            // `CRC SIZE NAME`; names are not escaped, which is why names holding a
            // line break are never checked with cksum.
            SumTool::Cksum => {
                let (crc, rest) = line.split_once(' ')?;
                let (size, name) = rest.split_once(' ')?;
                size.parse::<u64>().ok()?;
                let crc = crc.parse::<u32>().ok()?;
                Some((name.strip_prefix("./")?.to_string(), RemoteSum::Cksum(crc)))
            }
        }
    }
}

/// Prints a checksum line for each file given relative to `$1`/`$2`, with the program
/// `$3`, in the order given (the tar's order), as soon as each is read.
const SUM_SCRIPT: &str = r#"cd "$1" && cd "$2" || exit 1
t=$3; shift 3
exec "$t" "$@"
"#;

/// The same with the names on stdin (`$4` bytes).
const SUM_STDIN_SCRIPT: &str = r#"cd "$1" && cd "$2" || exit 1
head -c "$4" | xargs -0 "$3"
"#;

pub(crate) fn sum_command(
    root: &str,
    base: &str,
    files: &[&str],
    tool: SumTool,
    passing: NamePassing,
) -> PodCommand {
    passing.command(
        (SUM_SCRIPT, SUM_STDIN_SCRIPT),
        "xtask-sum",
        &[root, base, tool.program()],
        files,
    )
}

/// Removes files (`$2`…, relative to `$1`), then the folders given after `--` when
/// they are empty; prints a marker so that success is visible without an exit code.
const DELETE_SCRIPT: &str = r#"cd "$1" || { echo '@@no-root'; exit 0; }
shift
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do rm -f "$1"; shift; done
[ "$#" -gt 0 ] && shift
for d in "$@"; do rmdir "$d" 2>/dev/null; done
echo '@@deleted'
"#;

pub(crate) fn delete_command(root: &str, files: &[String], dirs: &[String]) -> Vec<String> {
    let mut cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        DELETE_SCRIPT.into(),
        "xtask-delete".into(),
        root.into(),
    ];
    cmd.extend(files.iter().map(|f| format!("./{f}")));
    cmd.push("--".into());
    cmd.extend(dirs.iter().map(|d| format!("./{d}")));
    cmd
}

/// The bytes an argument `./NAME` takes in the exec URL: `&command=` and the
/// form-encoded name (unreserved bytes as is, others as `%XX`).
pub(crate) fn url_cost(name: &str) -> usize {
    let encoded: usize = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"*-._ ".contains(&b) {
                1
            } else {
                3
            }
        })
        .sum();
    "&command=".len() + "./".len() + 2 + encoded
}

/// The most file content one transfer command streams. On the real node an exec can
/// outlive its deleted pod and never end: between commands a lost pod is noticed (the
/// next one finds no pod), so a fetch of many gigabytes is not one endless stream.
pub(crate) const MAX_BATCH_CONTENT: u64 = 64 * 1024 * 1024;

/// Splits a batch further so that each streams at most [`MAX_BATCH_CONTENT`] bytes.
pub(crate) fn by_content(names: Vec<&str>, size: impl Fn(&str) -> u64) -> Vec<Vec<&str>> {
    group(names, size, MAX_BATCH_CONTENT, usize::MAX)
}

/// Splits names into groups whose arguments fit one exec URL.
pub(crate) fn batches<'a>(
    names: &[&'a str],
    max_bytes: usize,
    max_files: usize,
) -> Vec<Vec<&'a str>> {
    let cost = |name: &str| url_cost(name) as u64;
    group(names.iter().copied(), cost, max_bytes as u64, max_files)
}

/// Consecutive groups of names whose summed `cost` stays within `max_cost` and whose
/// count within `max_files` (a name costing more than `max_cost` goes alone).
fn group<'a>(
    names: impl IntoIterator<Item = &'a str>,
    cost: impl Fn(&str) -> u64,
    max_cost: u64,
    max_files: usize,
) -> Vec<Vec<&'a str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut total = 0;
    for name in names {
        let one = cost(name);
        if !current.is_empty() && (total + one > max_cost || current.len() >= max_files) {
            out.push(std::mem::take(&mut current));
            total = 0;
        }
        total += one;
        current.push(name);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_limits() {
        assert_eq!(url_cost("a b"), 9 + 4 + 3);
        assert_eq!(url_cost("d/é"), 9 + 4 + 1 + 3 + 6);
        let names = ["aaaa", "bbbb", "cccc", "dddd", "eeee"];
        let b = batches(&names, 2 * url_cost("aaaa"), 10);
        assert_eq!(
            b,
            vec![vec!["aaaa", "bbbb"], vec!["cccc", "dddd"], vec!["eeee"]]
        );
        let b = batches(&names, 1000, 2);
        assert_eq!(b.len(), 3);
        // A name longer than the limit still goes, alone.
        let long = "x".repeat(50);
        let b = batches(&[long.as_str(), "y"], 30, 10);
        assert_eq!(b, vec![vec![long.as_str()], vec!["y"]]);
        assert!(batches(&[], 10, 10).is_empty());
    }

    #[test]
    fn commands_pass_names_as_arguments_or_on_stdin() {
        let cmd = tar_command(
            "/data",
            "./runs/x",
            &["a b", "-c"],
            Codec::Gzip,
            NamePassing::Arguments,
        );
        assert_eq!(
            &cmd.argv[4..],
            ["/data", "./runs/x", "gzip -c -1", "./a b", "./-c"]
        );
        assert!(cmd.stdin.is_none());
        let cmd = tar_command(
            "/data",
            "./runs/x",
            &["a b", "-c"],
            Codec::Gzip,
            NamePassing::Stdin,
        );
        assert_eq!(&cmd.argv[4..], ["/data", "./runs/x", "gzip -c -1", "11"]);
        assert_eq!(cmd.stdin.as_deref(), Some(&b"./a b\0./-c\0"[..]));
        let names: Vec<String> = (0..5000).map(|i| format!("f{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(NamePassing::Stdin.batches(&names).len(), 1);
        assert!(NamePassing::Arguments.batches(&names).len() > 1);
        assert!(NamePassing::Stdin.batches(&[]).is_empty());
        // 64 MiB of content at most per command, a bigger file alone.
        let sizes = |n: &str| if n == "big" { 100 << 20 } else { 30 << 20 };
        let split = by_content(vec!["a", "b", "c", "big", "d"], sizes);
        assert_eq!(
            split,
            vec![vec!["a", "b"], vec!["c"], vec!["big"], vec!["d"]]
        );
        let cmd = delete_command(".", &["runs/a".into()], &["runs".into()]);
        assert_eq!(&cmd[4..], [".", "./runs/a", "--", "./runs"]);
    }

    #[test]
    fn channel_reader_reassembles_chunks_and_passes_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(b"hel".to_vec())).unwrap();
        tx.try_send(Ok(Vec::new())).unwrap();
        tx.try_send(Ok(b"lo".to_vec())).unwrap();
        drop(tx);
        let mut out = String::new();
        ChannelReader::new(rx).read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(b"x".to_vec())).unwrap();
        tx.try_send(Err(io::Error::other("cut"))).unwrap();
        let mut out = Vec::new();
        let err = ChannelReader::new(rx).read_to_end(&mut out).unwrap_err();
        assert_eq!(err.to_string(), "cut");
    }

    /// The scripts run as they would in a pod, with the host's sh and tar.
    #[cfg(unix)]
    #[test]
    fn scripts_run_under_sh() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("runs/x/sub")).unwrap();
        std::fs::write(root.join("runs/x/a b"), b"A").unwrap();
        std::fs::write(root.join("runs/x/sub/-c"), b"C").unwrap();
        let run = |cmd: PodCommand| {
            use std::io::Write;
            let mut child = std::process::Command::new(&cmd.argv[0])
                .args(&cmd.argv[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(cmd.stdin.as_deref().unwrap_or_default())
                .unwrap();
            // Held open, as over the exec connection: the script must not wait for
            // the end of stdin.
            let out = child.wait_with_output().unwrap();
            drop(stdin);
            out
        };
        let root_s = root.to_str().unwrap();
        let both = [NamePassing::Arguments, NamePassing::Stdin];
        for (codec, passing) in [Codec::None, Codec::Gzip, Codec::Zstd]
            .into_iter()
            .flat_map(|c| both.map(|p| (c, p)))
        {
            let cmd = tar_command(root_s, "./runs/x", &["a b", "sub/-c"], codec, passing);
            let out = run(cmd);
            assert!(
                out.status.success(),
                "{codec:?} {passing:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut archive = tar::Archive::new(codec.decoder(&out.stdout[..]));
            archive.set_ignore_zeros(true);
            let mut names: Vec<String> = archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, vec!["./a b", "./sub/-c"], "{codec:?} {passing:?}");
        }

        // A sample is the head of the largest files, concatenated.
        let out =
            run(
                crate::compress::sample_command(root_s, "./runs/x", &[("a b", 1), ("sub/-c", 1)])
                    .into(),
            );
        assert_eq!(out.stdout, b"AC");

        // Checksums come in the order given, named as the listing names files.
        let sums = |tool: SumTool| -> Vec<(String, RemoteSum)> {
            let mut seen = both.map(|passing| {
                let out = run(sum_command(
                    root_s,
                    "./runs/x",
                    &["sub/-c", "a b"],
                    tool,
                    passing,
                ));
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| tool.parse_line(l))
                    .collect::<Vec<_>>()
            });
            assert_eq!(seen[0], seen[1], "{tool:?}: the same either way");
            std::mem::take(&mut seen[0])
        };
        let sha = |d: &[u8]| {
            use sha2::Digest;
            RemoteSum::Sha256(hex::encode(sha2::Sha256::digest(d)))
        };
        assert_eq!(
            sums(SumTool::Sha256sum),
            vec![("sub/-c".into(), sha(b"C")), ("a b".into(), sha(b"A"))]
        );
        let crc = |d: &[u8]| {
            let mut sum = super::super::cksum::PosixCksum::new();
            sum.update(d);
            RemoteSum::Cksum(sum.finish())
        };
        assert_eq!(
            sums(SumTool::Cksum),
            vec![("sub/-c".into(), crc(b"C")), ("a b".into(), crc(b"A"))]
        );

        let out = run(delete_command(
            root_s,
            &["runs/x/a b".into(), "runs/x/sub/-c".into()],
            &["runs/x/sub".into(), "runs/x".into()],
        )
        .into());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "@@deleted");
        assert!(!root.join("runs/x").exists());
        assert!(root.join("runs").exists());
    }
}

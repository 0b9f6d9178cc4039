//! Running the interpreter: one pipe for stdout and stderr (so the output keeps the order
//! the script printed it in), a bounded copy of it, a timeout, and redaction of secrets.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Kept from the start and from the end of the output each; the middle is dropped.
const KEEP: usize = 64 * 1024;

pub(crate) struct Finished {
    /// None when the timeout stopped the process.
    pub status: Option<ExitStatus>,
    pub output: String,
    pub seconds: f64,
}

/// The first and last [`KEEP`] bytes of a stream, and how many were dropped between.
#[derive(Default)]
pub(crate) struct Bounded {
    head: Vec<u8>,
    tail: Vec<u8>,
    dropped: u64,
}

impl Bounded {
    pub(crate) fn push(&mut self, mut bytes: &[u8]) {
        if self.head.len() < KEEP {
            let n = bytes.len().min(KEEP - self.head.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        self.tail.extend_from_slice(bytes);
        // Trimmed in batches so a chatty script costs linear time.
        if self.tail.len() > 2 * KEEP {
            let extra = self.tail.len() - KEEP;
            self.tail.drain(..extra);
            self.dropped += extra as u64;
        }
    }

    pub(crate) fn text(&self) -> String {
        let mut tail: &[u8] = &self.tail;
        let mut dropped = self.dropped;
        if tail.len() > KEEP {
            dropped += (tail.len() - KEEP) as u64;
            tail = &tail[tail.len() - KEEP..];
        }
        let mut out = String::from_utf8_lossy(&self.head).into_owned();
        if dropped > 0 {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("[… {dropped} bytes of output not kept …]\n"));
            // Start the kept end at a line boundary when there is one close by.
            if let Some(pos) = tail.iter().position(|&b| b == b'\n').filter(|&p| p < 1024) {
                tail = &tail[pos + 1..];
            }
        }
        out.push_str(&String::from_utf8_lossy(tail));
        out
    }
}

/// Runs `cmd` with stdin closed, stdout and stderr captured together, for at most `timeout`.
pub(crate) fn run(mut cmd: Command, timeout: Duration) -> std::io::Result<Finished> {
    let (mut reader, writer) = std::io::pipe()?;
    cmd.stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    // The Command holds the pipe's write ends: closed here, so the reader sees the end.
    drop(cmd);

    let kept = Arc::new(Mutex::new(Bounded::default()));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let kept = Arc::clone(&kept);
        thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut k) = kept.lock() {
                            k.push(&buf[..n]);
                        }
                    }
                }
            }
            let _ = done_tx.send(());
        });
    }

    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let seconds = started.elapsed().as_secs_f64();
    // A process the script started may hold the pipe open: do not wait for it long.
    let _ = done_rx.recv_timeout(Duration::from_millis(500));
    let output = kept.lock().map(|k| k.text()).unwrap_or_default();
    Ok(Finished {
        status,
        output,
        seconds,
    })
}

/// Values worth hiding: those of variables whose names say they hold a secret.
pub(crate) fn secret_values<'a>(vars: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    const MARKS: [&str; 7] = [
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "CREDENTIAL",
        "PRIVATE_KEY",
        "API_KEY",
    ];
    let mut out = Vec::new();
    for (name, value) in vars {
        let upper = name.to_ascii_uppercase();
        if !MARKS.iter().any(|m| upper.contains(m)) {
            continue;
        }
        let value = value.trim();
        // Short values would hide ordinary text; a bearer token is also printed bare.
        for candidate in [value, value.strip_prefix("Bearer ").unwrap_or("")] {
            let candidate = candidate.trim();
            if candidate.len() >= 6 && !out.iter().any(|o| o == candidate) {
                out.push(candidate.to_owned());
            }
        }
    }
    // Longest first, so a value containing another is hidden whole.
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out
}

pub(crate) fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "[hidden]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_keeps_both_ends() {
        let mut b = Bounded::default();
        b.push(b"first line\n");
        assert_eq!(b.text(), "first line\n");
        for i in 0..50_000 {
            b.push(format!("line {i:05}\n").as_bytes());
        }
        b.push(b"last line\n");
        let text = b.text();
        assert!(
            text.starts_with("first line\nline 00000\n"),
            "{}",
            &text[..40]
        );
        assert!(text.ends_with("line 49999\nlast line\n"));
        assert!(text.contains("bytes of output not kept"));
        assert!(text.len() < 2 * KEEP + 200, "{}", text.len());
        // The kept end starts at a line.
        let after = text.split("not kept …]\n").nth(1).unwrap();
        assert!(after.starts_with("line "), "{}", &after[..20]);
    }

    #[test]
    fn bounded_survives_cut_characters() {
        let mut b = Bounded::default();
        b.push(&vec![b'a'; KEEP - 1]);
        b.push("é".as_bytes());
        assert!(b.text().ends_with('\u{FFFD}') || b.text().ends_with('é'));
    }

    #[test]
    fn secrets_are_hidden() {
        let env = [
            ("ARGO_TOKEN", "Bearer abc.def-ghi"),
            ("ARGO_NAMESPACE", "vcity"),
            ("HARBOR_PASSWORD", "hunter22"),
            ("MY_SECRET", "x"),
        ];
        let secrets = secret_values(env.iter().map(|(k, v)| (*k, *v)));
        assert_eq!(secrets, ["Bearer abc.def-ghi", "abc.def-ghi", "hunter22"]);
        let text = "token Bearer abc.def-ghi / abc.def-ghi / hunter22 in vcity";
        assert_eq!(
            redact(text, &secrets),
            "token [hidden] / [hidden] / [hidden] in vcity"
        );
    }

    #[cfg(unix)]
    #[test]
    fn run_merges_output_and_stops_at_timeout() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; echo three"]);
        let done = run(cmd, Duration::from_secs(10)).unwrap();
        assert!(done.status.unwrap().success());
        assert_eq!(done.output, "one\ntwo\nthree\n");

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo waiting; exec sleep 30"]);
        let done = run(cmd, Duration::from_millis(300)).unwrap();
        assert!(done.status.is_none());
        assert_eq!(done.output, "waiting\n");
        assert!(done.seconds < 5.0, "{}", done.seconds);
    }
}

//! Errors. Each message says what went wrong, where, and what to do; none holds a value of
//! the environment passed to the script (script output is redacted before it gets here).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why a Hera script could not be captured. Exit codes are the caller's choice.
#[derive(Debug, thiserror::Error)]
pub enum HeraError {
    /// No interpreter: neither `python3` nor `python` on PATH, or the `--python` path does
    /// not run.
    #[error("{}", python_missing(python.as_deref()))]
    PythonMissing { python: Option<PathBuf> },

    /// `python -m venv`, `pip install` or the import check of a new environment failed.
    #[error(
        "could not create the Python environment for Hera {version} in {}: `{command}` {status}{}\n  hint: pip downloads Hera from PyPI (pypi.org), which must be reachable: behind a proxy set HTTPS_PROXY, with a mirror set PIP_INDEX_URL; then run the same command again (the half-made environment is removed first)",
        env.display(), tail_block(tail)
    )]
    EnvCreate {
        version: String,
        env: PathBuf,
        /// The command that failed, as one could type it again.
        command: String,
        /// "exited with status 1", "could not start: …"
        status: String,
        /// The last lines of its output.
        tail: String,
    },

    /// `--python` names an interpreter where Hera cannot be imported.
    #[error(
        "{} cannot import Hera ({detail}): run `{} -m pip install hera=={needed}`, or drop --python and the toolkit installs Hera {needed} under .xtask/python",
        python.display(), python.display()
    )]
    HeraMissing {
        python: PathBuf,
        needed: String,
        detail: String,
    },

    /// `--python` has a Hera the workspace's pin does not accept (another major version, or
    /// older than the pin).
    #[error(
        "{} has Hera {found}, but the workspace pins Hera {needed} (xtask.toml), which needs {}: run `{} -m pip install hera=={needed}`, or drop --python and the toolkit uses its own environment with Hera {needed} under .xtask/python",
        python.display(), accepted(needed), python.display()
    )]
    HeraVersion {
        found: String,
        needed: String,
        python: PathBuf,
    },

    /// The Hera version pinned by the workspace is not a version number.
    #[error(
        "the Hera version pinned in xtask.toml, `{}`, is not a version number such as 5.16.3; fix it in xtask.toml",
        version.escape_debug()
    )]
    InvalidVersion { version: String },

    /// The script raised (or called `sys.exit` with a failure). `summary` is one line such
    /// as `collect.py:42: KeyError: 'x'`; `traceback` is the traceback as Python prints it,
    /// keeping the frames of the script and its own modules.
    #[error("the Hera script {} failed: {summary}{}", script.display(), traceback_block(traceback))]
    Script {
        script: PathBuf,
        summary: String,
        traceback: String,
    },

    /// The script ran to its end without building any workflow.
    #[error(
        "the Hera script {} ran but built no workflow: the toolkit captures the Workflow, WorkflowTemplate, ClusterWorkflowTemplate and CronWorkflow objects a script hands over with create(), submit(), lint() or update(), or builds in a `with` block; check that `python {}` builds one (a workflow made in a function never called, or behind a condition that was false, is not built)",
        script.display(), crate::file_name(script)
    )]
    NoWorkflow { script: PathBuf },

    /// The script ran longer than the request's timeout and was stopped.
    #[error(
        "the Hera script {} did not finish within {} and was stopped; a Hera script should only build workflows: look for a loop that does not end, a network call or an input() waiting for an answer, or allow it more time{}",
        script.display(), seconds_text(*seconds), last_lines(output)
    )]
    Timeout {
        script: PathBuf,
        seconds: f64,
        /// What it printed before being stopped (redacted, bounded).
        output: String,
    },

    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl HeraError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        HeraError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

fn python_missing(python: Option<&Path>) -> String {
    match python {
        Some(p) => format!(
            "the Python interpreter {} does not run: check the --python path, or drop --python and the toolkit uses python3 from PATH",
            p.display()
        ),
        None => "no Python interpreter found: neither python3 nor python is on PATH; install Python 3 (3.9 or newer; Debian: apt install python3 python3-venv) or pass --python /path/to/python".into(),
    }
}

fn accepted(needed: &str) -> String {
    match needed.split('.').next().filter(|m| !m.is_empty()) {
        Some(major) => format!("Hera {major}.x, {needed} or newer"),
        None => format!("Hera {needed}"),
    }
}

fn tail_block(tail: &str) -> String {
    let tail = tail.trim_end();
    if tail.is_empty() {
        return String::new();
    }
    let mut out = String::from(":");
    for line in tail.lines() {
        let _ = write!(out, "\n    {line}");
    }
    out
}

fn traceback_block(traceback: &str) -> String {
    let traceback = traceback.trim_end();
    if traceback.is_empty() {
        String::new()
    } else {
        format!("\n{traceback}")
    }
}

fn seconds_text(seconds: f64) -> String {
    if seconds >= 10.0 || seconds.fract() == 0.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{seconds:.1} s")
    }
}

/// The end of what a stopped script printed: often where it was stuck.
fn last_lines(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("; it printed last:");
    for line in &lines[lines.len().saturating_sub(3)..] {
        let _ = write!(out, "\n    {}", crate::cut_line(line, 200));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = HeraError::HeraMissing {
            python: "/opt/py/bin/python".into(),
            needed: "5.16.3".into(),
            detail: "ModuleNotFoundError: No module named 'hera'".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("/opt/py/bin/python -m pip install hera==5.16.3"),
            "{text}"
        );
        assert!(text.contains("drop --python"), "{text}");

        let e = HeraError::HeraVersion {
            found: "7.1.0".into(),
            needed: "5.16.3".into(),
            python: "/opt/py/bin/python".into(),
        };
        let text = e.to_string();
        assert!(text.contains("has Hera 7.1.0"), "{text}");
        assert!(text.contains("Hera 5.x, 5.16.3 or newer"), "{text}");

        let text = HeraError::PythonMissing { python: None }.to_string();
        assert!(text.contains("--python"), "{text}");

        let e = HeraError::EnvCreate {
            version: "5.16.3".into(),
            env: "/w/.xtask/python/hera-5.16.3".into(),
            command: "/w/.xtask/python/hera-5.16.3/bin/python -m pip install hera==5.16.3".into(),
            status: "exited with status 1".into(),
            tail: "ERROR: Could not find a version\nERROR: No matching distribution\n".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains(
                "pip install hera==5.16.3` exited with status 1:\n    ERROR: Could not find"
            ),
            "{text}"
        );
        assert!(text.contains("PyPI"), "{text}");
        assert!(text.contains("run the same command again"), "{text}");
    }

    #[test]
    fn script_error_shows_summary_then_traceback() {
        let e = HeraError::Script {
            script: "flows/collect.py".into(),
            summary: "collect.py:42: KeyError: 'x'".into(),
            traceback: "Traceback (most recent call last):\n  File \"collect.py\", line 42, in <module>\nKeyError: 'x'\n".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with(
                "the Hera script flows/collect.py failed: collect.py:42: KeyError: 'x'\nTraceback"
            ),
            "{text}"
        );
        assert!(!text.ends_with('\n'), "{text:?}");
    }

    #[test]
    fn timeout_shows_the_last_lines() {
        let e = HeraError::Timeout {
            script: "loop.py".into(),
            seconds: 2.5,
            output: "a\nb\nc\nd\n".into(),
        };
        let text = e.to_string();
        assert!(text.contains("within 2.5 s"), "{text}");
        assert!(
            text.ends_with("printed last:\n    b\n    c\n    d"),
            "{text}"
        );
        let quiet = HeraError::Timeout {
            script: "loop.py".into(),
            seconds: 60.0,
            output: String::new(),
        };
        assert!(quiet.to_string().ends_with("more time"), "{quiet}");
    }

    #[test]
    fn invalid_version_is_escaped() {
        let text = HeraError::InvalidVersion {
            version: "5.1\n".into(),
        }
        .to_string();
        assert!(text.contains("`5.1\\n`"), "{text}");
    }
}

//! Runs a team's Hera script in a managed Python environment and captures the workflows it
//! builds; nothing reaches a cluster.
//!
//! The scripts build `Workflow`, `WorkflowTemplate`, `ClusterWorkflowTemplate` or
//! `CronWorkflow` objects with Hera and end with `w.create()`. [`capture`] runs them the way
//! `python script.py` from the script's folder would, under a shim (`src/capture.py`) that:
//!
//! - replaces `create`, `submit`, `lint` and `update` of those classes by a recorder of
//!   `to_dict()` (the manifest Hera would send) that returns the built model, and `wait` by
//!   a no-op;
//! - records the objects whose `with` block ended but that were never handed over
//!   (call `"built"`);
//! - makes every `WorkflowsService` / `EventsService` call raise an error saying the toolkit
//!   captures workflows and sends nothing.
//!
//! The Python environment is `<env_root>/hera-<version>/`, made once by [`ensure_env`]
//! (venv + `pip install hera[yaml]==<version>`: scripts may print `w.to_yaml()`);
//! `--python` uses an interpreter as it is.
//!
//! ```no_run
//! use std::{path::Path, time::Duration};
//! let settings = kit_hera::HeraSettings {
//!     version: "5.16.3".into(),
//!     python: None,
//!     env_root: ".xtask/python".into(),
//! };
//! let request = kit_hera::CaptureRequest {
//!     script: Path::new("workflows/collect.py"),
//!     env: vec![("ARGO_NAMESPACE".into(), "vcity".into())],
//!     timeout: Duration::from_secs(60),
//! };
//! let captured = kit_hera::capture(&settings, &request, &mut |m| eprintln!("{m}"))?;
//! let all: Vec<_> = captured.workflows.iter().collect();
//! print!("{}", kit_hera::to_yaml(request.script, &captured, &all));
//! # Ok::<(), kit_hera::HeraError>(())
//! ```

mod env;
mod error;
mod result;
mod run;
mod yaml;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

pub use env::{PythonEnv, ensure_env};
pub use error::HeraError;
pub use yaml::to_yaml;

use result::Outcome;

/// The capture shim, written next to the result file at each run.
const SHIM: &str = include_str!("capture.py");

/// Where and with which Hera scripts run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeraSettings {
    /// The Hera version the workspace pins (xtask.toml), e.g. "5.16.3".
    pub version: String,
    /// `--python`: use this interpreter as it is (Hera must be importable there; never
    /// install into it). Its Hera must have the pin's major version and not be older.
    pub python: Option<PathBuf>,
    /// Where managed environments live: `<workspace>/.xtask/python`.
    pub env_root: PathBuf,
}

/// Environment variable naming a folder of managed environments shared by several
/// workspaces (tests and CI keep one warm there).
pub const ENV_ROOT_VAR: &str = "XTASK_HERA_ENV_ROOT";
/// Where managed environments live by default, relative to the workspace root.
pub const ENV_ROOT_DIR: &str = ".xtask/python";

impl HeraSettings {
    /// Settings for `version`, with the environments where [`ENV_ROOT_VAR`] says, else
    /// under `workspace_root`/[`ENV_ROOT_DIR`].
    pub fn for_workspace(workspace_root: &Path, version: &str, python: Option<PathBuf>) -> Self {
        HeraSettings {
            version: version.to_string(),
            python,
            env_root: std::env::var_os(ENV_ROOT_VAR)
                .filter(|v| !v.is_empty())
                .map_or_else(|| workspace_root.join(ENV_ROOT_DIR), PathBuf::from),
        }
    }

    /// The interpreter of the managed environment of these settings (made by
    /// [`ensure_env`]).
    pub fn managed_python(&self) -> PathBuf {
        env::venv_python(&env::env_dir(self))
    }
}

/// One script to capture.
pub struct CaptureRequest<'a> {
    pub script: &'a Path,
    /// Extra environment for the script (the toolkit's resolved settings: ARGO_SERVER,
    /// ARGO_NAMESPACE, ARGO_TOKEN, KUBECONFIG, …). Secrets included: never printed, and
    /// hidden in the script's output and tracebacks.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

impl fmt::Debug for CaptureRequest<'_> {
    // Names only: the values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("CaptureRequest")
            .field("script", &self.script)
            .field("env", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a script built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Captured {
    /// In the order the script handed them over, then those only built.
    pub workflows: Vec<CapturedWorkflow>,
    /// The Hera version the script ran with.
    pub hera_version: String,
    pub python: PathBuf,
    /// Wall time of the script run (interpreter start + Hera import + script).
    pub seconds: f64,
    /// What the script printed on stdout and stderr, in order; its first and last 64 KiB
    /// when longer; secrets hidden.
    pub output: String,
}

/// One workflow a script built.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapturedWorkflow {
    /// Workflow, WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow.
    pub kind: String,
    /// metadata.name, else metadata.generateName, else "".
    pub name: String,
    /// How the script handed it over: "create", "submit", "lint", "update", or "built"
    /// (its `with` block ended but it was never handed over). Each call is one entry: a
    /// workflow linted then created appears twice.
    pub call: String,
    /// Exactly what Hera would send (`to_dict()`).
    pub manifest: serde_json::Value,
}

/// Runs `req.script` and returns the workflows it built. With `settings.python` unset, the
/// managed environment is made first if needed ([`ensure_env`]).
pub fn capture(
    settings: &HeraSettings,
    req: &CaptureRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<Captured, HeraError> {
    env::check_version_text(&settings.version)?;
    let script = fs::canonicalize(req.script)
        .map_err(|e| HeraError::io("read the Hera script", req.script, e))?;
    if !script.is_file() {
        return Err(HeraError::io(
            "run the Hera script",
            req.script,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is a folder, not a Python file",
            ),
        ));
    }
    let mut secrets: Vec<(String, String)> = req.env.clone();
    secrets.extend(std::env::vars());
    let secrets = run::secret_values(secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())));

    let Some(python) = &settings.python else {
        // A managed env found broken is made again once.
        let mut retried = false;
        loop {
            let env = ensure_env(settings, progress)?;
            let ran = run_shim(&env.python, &script, settings, req, &secrets, progress)?;
            match ran {
                Ran::Outcome(outcome, finished) => {
                    match outcome_to_result(outcome, finished, &env.python, req, settings)? {
                        Some(captured) => return Ok(captured),
                        None if !retried => {
                            retried = true;
                            env::discard_env(settings, progress)?;
                        }
                        None => {
                            return Err(HeraError::EnvCreate {
                                version: settings.version.clone(),
                                env: env::env_dir(settings),
                                command: format!(
                                    "{} -c 'import hera.workflows'",
                                    env.python.display()
                                ),
                                status: "failed in the environment just made".into(),
                                tail: String::new(),
                            });
                        }
                    }
                }
                Ran::NotStarted(e) => return Err(HeraError::io("run", &env.python, e)),
            }
        }
    };
    match run_shim(python, &script, settings, req, &secrets, progress)? {
        Ran::Outcome(Outcome::HeraMissing { detail }, _) => Err(HeraError::HeraMissing {
            python: python.clone(),
            needed: settings.version.clone(),
            detail,
        }),
        Ran::Outcome(Outcome::HeraVersion { found }, _) => Err(HeraError::HeraVersion {
            found,
            needed: settings.version.clone(),
            python: python.clone(),
        }),
        Ran::Outcome(outcome, finished) => {
            outcome_to_result(outcome, finished, python, req, settings)?.ok_or_else(|| {
                HeraError::HeraMissing {
                    python: python.clone(),
                    needed: settings.version.clone(),
                    detail: "unknown reason".into(),
                }
            })
        }
        Ran::NotStarted(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            Err(HeraError::PythonMissing {
                python: Some(python.clone()),
            })
        }
        Ran::NotStarted(e) => Err(HeraError::io("run", python, e)),
    }
}

enum Ran {
    Outcome(Outcome, RunInfo),
    /// The interpreter did not start.
    NotStarted(std::io::Error),
}

struct RunInfo {
    output: String,
    seconds: f64,
}

/// `Ok(None)`: Hera is missing or of another version in a managed env (it is broken).
fn outcome_to_result(
    outcome: Outcome,
    finished: RunInfo,
    python: &Path,
    req: &CaptureRequest,
    settings: &HeraSettings,
) -> Result<Option<Captured>, HeraError> {
    match outcome {
        Outcome::Captured {
            hera_version,
            workflows,
        } => {
            if workflows.is_empty() {
                return Err(HeraError::NoWorkflow {
                    script: req.script.to_path_buf(),
                });
            }
            Ok(Some(Captured {
                workflows,
                hera_version: if hera_version.is_empty() {
                    settings.version.clone()
                } else {
                    hera_version
                },
                python: python.to_path_buf(),
                seconds: finished.seconds,
                output: finished.output,
            }))
        }
        Outcome::Script { summary, traceback } => Err(HeraError::Script {
            script: req.script.to_path_buf(),
            summary,
            traceback,
        }),
        Outcome::HeraMissing { .. } | Outcome::HeraVersion { .. } => Ok(None),
    }
}

fn run_shim(
    python: &Path,
    script: &Path,
    settings: &HeraSettings,
    req: &CaptureRequest,
    secrets: &[String],
    progress: &mut dyn FnMut(&str),
) -> Result<Ran, HeraError> {
    let work = tempfile::Builder::new()
        .prefix("xtask-hera-")
        .tempdir()
        .map_err(|e| HeraError::io("create a temporary folder in", &std::env::temp_dir(), e))?;
    let shim = work.path().join("capture.py");
    fs::write(&shim, SHIM).map_err(|e| HeraError::io("write", &shim, e))?;
    let result_path = work.path().join("result.json");

    let mut cmd = Command::new(python);
    cmd.arg(&shim).arg(script);
    if let Some(folder) = script.parent() {
        cmd.current_dir(folder);
    }
    cmd.envs(req.env.iter().map(|(k, v)| (k, v)))
        .env("XTASK_HERA_RESULT", &result_path)
        .env("XTASK_HERA_NEEDED", &settings.version)
        .env(
            "XTASK_HERA_MATCH",
            if settings.python.is_some() {
                "compatible"
            } else {
                "exact"
            },
        )
        // Output in the order printed; stdio in UTF-8 whatever the locale; no __pycache__
        // left in the team's folders by a capture.
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONIOENCODING", "utf-8:backslashreplace")
        .env("PYTHONDONTWRITEBYTECODE", "1");

    progress(&format!(
        "running {} with {}",
        req.script.display(),
        python.display()
    ));
    let done = match run::run(cmd, req.timeout) {
        Ok(done) => done,
        Err(e) => return Ok(Ran::NotStarted(e)),
    };
    let output = run::redact(&done.output, secrets);
    let Some(status) = done.status else {
        return Err(HeraError::Timeout {
            script: req.script.to_path_buf(),
            seconds: req.timeout.as_secs_f64(),
            output,
        });
    };
    let finished = RunInfo {
        output,
        seconds: done.seconds,
    };
    let text = match fs::read_to_string(&result_path) {
        Ok(text) => text,
        Err(_) => {
            // os._exit(), a crash, or an interpreter that could not run the shim.
            let code = match status.code() {
                Some(code) => format!("exit status {code}"),
                None => "killed by a signal".into(),
            };
            return Err(HeraError::Script {
                script: req.script.to_path_buf(),
                summary: format!(
                    "{}: Python stopped ({code}) before the capture finished (does the script call os._exit(), or is {} not a Python 3 interpreter?); its last output is below",
                    file_name(req.script),
                    python.display()
                ),
                traceback: tail_lines(&finished.output, 20),
            });
        }
    };
    match result::parse(&text) {
        Ok(Outcome::Script { summary, traceback }) => Ok(Ran::Outcome(
            Outcome::Script {
                summary: run::redact(&summary, secrets),
                traceback: run::redact(&traceback, secrets),
            },
            finished,
        )),
        Ok(outcome) => Ok(Ran::Outcome(outcome, finished)),
        Err(message) => Err(HeraError::Script {
            script: req.script.to_path_buf(),
            summary: format!(
                "{}: {message}; this is a bug of the toolkit's capture shim, please report it with the script",
                file_name(req.script)
            ),
            traceback: String::new(),
        }),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The last `n` lines of `text`.
pub(crate) fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// `line` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn cut_line(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_and_cuts() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_lines("", 2), "");
        assert_eq!(cut_line("ééé", 2), "éé…");
        assert_eq!(cut_line("abc", 3), "abc");
    }

    #[test]
    fn request_debug_hides_values() {
        let req = CaptureRequest {
            script: Path::new("collect.py"),
            env: vec![("ARGO_TOKEN".into(), "s3cr3t-value".into())],
            timeout: Duration::from_secs(5),
        };
        let text = format!("{req:?}");
        assert!(
            text.contains("ARGO_TOKEN") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    #[test]
    fn missing_script_names_the_file() {
        let settings = HeraSettings {
            version: "5.16.3".into(),
            python: Some("/nonexistent/python".into()),
            env_root: "/nonexistent".into(),
        };
        let req = CaptureRequest {
            script: Path::new("/nonexistent/collect.py"),
            env: vec![],
            timeout: Duration::from_secs(5),
        };
        let err = capture(&settings, &req, &mut |_| {}).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read the Hera script /nonexistent/collect.py:"),
            "{err}"
        );
    }

    #[test]
    fn a_python_that_does_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.py");
        fs::write(&script, "").unwrap();
        let settings = HeraSettings {
            version: "5.16.3".into(),
            python: Some(dir.path().join("no-python")),
            env_root: dir.path().join("envs"),
        };
        let req = CaptureRequest {
            script: &script,
            env: vec![],
            timeout: Duration::from_secs(5),
        };
        let err = capture(&settings, &req, &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, HeraError::PythonMissing { python: Some(_) }),
            "{err}"
        );
    }
}

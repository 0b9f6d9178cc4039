//! The managed Python environments: `<env_root>/hera-<version>/`, one per Hera version,
//! made once (venv + pip install) and reused.
//!
//! A marker file written last means "ready"; a folder without it is a half-made
//! environment (an interrupted install) and is made again. A lock file per version keeps
//! two concurrent runs from installing at the same time. The warm path reads the marker
//! and checks the interpreter exists: no process is started.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{HeraError, HeraSettings};

/// The marker of a ready environment, written last.
const MARKER: &str = "xtask-ready.json";

/// An interpreter where the workspace's Hera can be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    pub python: PathBuf,
    pub hera_version: String,
    /// True when this call made the environment (a cold start).
    pub created: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    hera: String,
    /// What pip was asked for: an env made with another requirement is made again.
    #[serde(default)]
    requirement: String,
    /// The `pip freeze` line of Hera, from the installed distribution's metadata.
    freeze: String,
    /// The interpreter the venv was made from.
    base_python: String,
    created_unix: u64,
}

/// Creates the managed environment once (venv + `pip install hera[yaml]==version`), reuses it
/// after. With `settings.python` set, checks that interpreter instead (never installs).
pub fn ensure_env(
    settings: &HeraSettings,
    progress: &mut dyn FnMut(&str),
) -> Result<PythonEnv, HeraError> {
    check_version_text(&settings.version)?;
    if let Some(python) = &settings.python {
        return probe_external(python, &settings.version);
    }
    let dir = env_dir(settings);
    if let Some(env) = ready(&dir, &settings.version) {
        return Ok(env);
    }
    fs::create_dir_all(&settings.env_root)
        .map_err(|e| HeraError::io("create the folder", &settings.env_root, e))?;
    let _lock = lock(settings, progress)?;
    // Another run may have finished the install while this one waited for the lock.
    if let Some(env) = ready(&dir, &settings.version) {
        return Ok(env);
    }
    create(&dir, &settings.version, progress)?;
    match ready(&dir, &settings.version) {
        Some(env) => Ok(PythonEnv {
            created: true,
            ..env
        }),
        None => Err(HeraError::io(
            "find the marker just written in",
            &dir,
            std::io::Error::from(ErrorKind::NotFound),
        )),
    }
}

/// Removes a managed environment found broken (Hera no longer importable), so the next
/// `ensure_env` makes it again.
pub(crate) fn discard_env(
    settings: &HeraSettings,
    progress: &mut dyn FnMut(&str),
) -> Result<(), HeraError> {
    let dir = env_dir(settings);
    let _lock = lock(settings, progress)?;
    progress(&format!(
        "the Python environment {} is broken (Hera cannot be imported); making it again",
        dir.display()
    ));
    remove_env(&dir)
}

pub(crate) fn env_dir(settings: &HeraSettings) -> PathBuf {
    settings.env_root.join(format!("hera-{}", settings.version))
}

/// The yaml extra: scripts may print `w.to_yaml()`, which needs PyYAML.
fn requirement(version: &str) -> String {
    format!("hera[yaml]=={version}")
}

pub(crate) fn venv_python(dir: &Path) -> PathBuf {
    if cfg!(windows) {
        dir.join("Scripts").join("python.exe")
    } else {
        dir.join("bin").join("python")
    }
}

/// A version such as 5.16.3 or 5.16.3rc1: it names a folder and a pip requirement.
pub(crate) fn check_version_text(version: &str) -> Result<(), HeraError> {
    let ok = version.len() <= 40
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
        && !version.contains("..");
    if ok {
        Ok(())
    } else {
        Err(HeraError::InvalidVersion {
            version: version.to_owned(),
        })
    }
}

/// Whether Hera `found` serves a workspace pinning `needed`: the same major version (Hera
/// breaks its API between majors), not older than the pin.
pub(crate) fn version_fits(found: &str, needed: &str) -> bool {
    match (numbers(found), numbers(needed)) {
        (Some(f), Some(n)) => f[0] == n[0] && f >= n,
        _ => found == needed,
    }
}

fn numbers(version: &str) -> Option<[u64; 3]> {
    let mut out = [0u64; 3];
    let mut parts = version.split('.');
    for (i, slot) in out.iter_mut().enumerate() {
        let Some(part) = parts.next() else { break };
        let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            return if i == 0 { None } else { Some(out) };
        }
        *slot = digits.parse().ok()?;
        if digits.len() != part.len() {
            break;
        }
    }
    Some(out)
}

fn ready(dir: &Path, version: &str) -> Option<PythonEnv> {
    let text = fs::read_to_string(dir.join(MARKER)).ok()?;
    let marker: Marker = serde_json::from_str(&text).ok()?;
    let python = venv_python(dir);
    // Follows the venv's symlink: a removed base interpreter makes the env unusable.
    let runnable = fs::metadata(&python).map(|m| m.is_file()).unwrap_or(false);
    (marker.hera == version && marker.requirement == requirement(version) && runnable).then_some(
        PythonEnv {
            python,
            hera_version: marker.hera,
            created: false,
        },
    )
}

/// Held while an environment is made or removed; released on drop.
struct EnvLock(Option<fs::File>);

impl Drop for EnvLock {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = f.unlock();
        }
    }
}

fn lock(settings: &HeraSettings, progress: &mut dyn FnMut(&str)) -> Result<EnvLock, HeraError> {
    let path = settings
        .env_root
        .join(format!("hera-{}.lock", settings.version));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| HeraError::io("open the lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(EnvLock(Some(file))),
        Err(fs::TryLockError::WouldBlock) => {
            progress(&format!(
                "waiting for another run of the toolkit that is installing Hera {} ({})",
                settings.version,
                path.display()
            ));
            file.lock().map_err(|e| HeraError::io("lock", &path, e))?;
            Ok(EnvLock(Some(file)))
        }
        // Some network file systems have no locks: go on unlocked rather than fail.
        Err(fs::TryLockError::Error(e)) if e.kind() == ErrorKind::Unsupported => Ok(EnvLock(None)),
        Err(fs::TryLockError::Error(e)) => Err(HeraError::io("lock", &path, e)),
    }
}

fn remove_env(dir: &Path) -> Result<(), HeraError> {
    // The marker first: an interrupted removal leaves a half-made env, made again later.
    match fs::remove_file(dir.join(MARKER)) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(HeraError::io("remove", &dir.join(MARKER), e)),
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HeraError::io("remove the half-made environment", dir, e)),
    }
}

fn create(dir: &Path, version: &str, progress: &mut dyn FnMut(&str)) -> Result<(), HeraError> {
    if dir.exists() {
        progress(&format!(
            "replacing the Python environment {} (unfinished, or made for another requirement)",
            dir.display()
        ));
        remove_env(dir)?;
    }
    progress(&format!(
        "creating a Python environment for Hera {version} in {} (once per Hera version)",
        dir.display()
    ));
    let base = make_venv(dir, version)?;
    let python = venv_python(dir);

    let requirement = requirement(version);
    progress(&format!("installing {requirement} from PyPI"));
    // `python -m pip` rather than bin/pip: a deep workspace path can exceed the length a
    // script's #! line may have. PIP_USER=0: a `user = true` pip.conf breaks installs in a venv.
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        &requirement,
    ])
    .env("PIP_USER", "0");
    step(pip, dir, version)?;

    // Hera must import, not only be installed (a broken pydantic, say).
    let mut check = Command::new(&python);
    check.args([
        "-c",
        "import hera, hera.workflows; print(getattr(hera, '__version__', ''))",
    ]);
    let out = step(check, dir, version)?;
    let found = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if found != version {
        let command = format!(
            "{} -c 'import hera; print(hera.__version__)'",
            python.display()
        );
        let _ = remove_env(dir);
        return Err(HeraError::EnvCreate {
            version: version.to_owned(),
            env: dir.to_path_buf(),
            command,
            status: format!(
                "printed Hera version `{}` instead of {version}",
                found.escape_debug()
            ),
            tail: String::new(),
        });
    }

    let marker = Marker {
        hera: version.to_owned(),
        requirement,
        freeze: format!("hera=={found}"),
        base_python: base,
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let text = serde_json::to_string_pretty(&marker).unwrap_or_default();
    let part = dir.join(format!("{MARKER}.part"));
    fs::write(&part, text).map_err(|e| HeraError::io("write", &part, e))?;
    fs::rename(&part, dir.join(MARKER)).map_err(|e| HeraError::io("write", &dir.join(MARKER), e))
}

/// `python3 -m venv DIR`, else `python -m venv DIR`. Returns the interpreter used.
fn make_venv(dir: &Path, version: &str) -> Result<String, HeraError> {
    for base in ["python3", "python"] {
        let mut cmd = Command::new(base);
        cmd.arg("-m").arg("venv").arg(dir);
        match cmd.stdin(Stdio::null()).output() {
            Ok(out) => {
                check_step_named(&out, &command_text(&cmd), dir, version, venv_hint(&out))?;
                return Ok(base.to_owned());
            }
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(HeraError::EnvCreate {
                    version: version.to_owned(),
                    env: dir.to_path_buf(),
                    command: command_text(&cmd),
                    status: format!("could not start: {e}"),
                    tail: String::new(),
                });
            }
        }
    }
    Err(HeraError::PythonMissing { python: None })
}

/// Debian ships venv without ensurepip unless python3-venv is installed.
fn venv_hint(out: &Output) -> &'static str {
    let text = String::from_utf8_lossy(&out.stderr);
    if text.contains("ensurepip") {
        "\n(the venv module lacks ensurepip: on Debian/Ubuntu install python3-venv)"
    } else {
        ""
    }
}

/// Runs one step of the install; on failure removes the env and says which step failed.
fn step(mut cmd: Command, dir: &Path, version: &str) -> Result<Output, HeraError> {
    let text = command_text(&cmd);
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) => {
            check_step_named(&out, &text, dir, version, "")?;
            Ok(out)
        }
        Err(e) => {
            let _ = remove_env(dir);
            Err(HeraError::EnvCreate {
                version: version.to_owned(),
                env: dir.to_path_buf(),
                command: text,
                status: format!("could not start: {e}"),
                tail: String::new(),
            })
        }
    }
}

fn check_step_named(
    out: &Output,
    command: &str,
    dir: &Path,
    version: &str,
    hint: &str,
) -> Result<(), HeraError> {
    if out.status.success() {
        return Ok(());
    }
    let _ = remove_env(dir);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let mut tail = crate::tail_lines(&text, 15);
    tail.push_str(hint);
    Err(HeraError::EnvCreate {
        version: version.to_owned(),
        env: dir.to_path_buf(),
        command: command.to_owned(),
        status: match out.status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".into(),
        },
        tail,
    })
}

/// The command as one could paste it in a shell (`hera[yaml]==…` quoted against globbing).
fn command_text(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_word(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:,+-@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `--python`: Hera must import there in a version the pin accepts. Nothing is installed.
fn probe_external(python: &Path, needed: &str) -> Result<PythonEnv, HeraError> {
    const PROBE: &str = "import sys\ntry:\n    import hera\nexcept ImportError as e:\n    print('missing', type(e).__name__ + ': ' + str(e))\n    sys.exit(0)\nprint('version', getattr(hera, '__version__', ''))\n";
    let out = Command::new(python)
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(_) => {
            return Err(HeraError::PythonMissing {
                python: Some(python.to_path_buf()),
            });
        }
        Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::PermissionDenied => {
            return Err(HeraError::PythonMissing {
                python: Some(python.to_path_buf()),
            });
        }
        Err(e) => return Err(HeraError::io("run", python, e)),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    if let Some(found) = line.strip_prefix("version ") {
        if version_fits(found, needed) {
            return Ok(PythonEnv {
                python: python.to_path_buf(),
                hera_version: found.to_owned(),
                created: false,
            });
        }
        return Err(HeraError::HeraVersion {
            found: found.to_owned(),
            needed: needed.to_owned(),
            python: python.to_path_buf(),
        });
    }
    Err(HeraError::HeraMissing {
        python: python.to_path_buf(),
        needed: needed.to_owned(),
        detail: line.strip_prefix("missing ").unwrap_or(line).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_fit_within_a_major() {
        assert!(version_fits("5.16.3", "5.16.3"));
        assert!(version_fits("5.18.0", "5.16.3"));
        assert!(!version_fits("5.16.2", "5.16.3"));
        assert!(!version_fits("7.1.0", "5.16.3"));
        assert!(!version_fits("4.4.2", "5.1.3"));
        assert!(version_fits("5.16.3rc1", "5.16"));
        assert!(!version_fits("unknown", "5.16.3"));
    }

    #[test]
    fn version_text_is_checked() {
        for ok in ["5.16.3", "7.1.0", "5.16.3rc1", "5.16.3.post1"] {
            assert!(check_version_text(ok).is_ok(), "{ok}");
        }
        for bad in ["", "latest", "5.16.3; rm", "../5", "5..1", "5/1", ">=5"] {
            assert!(
                matches!(
                    check_version_text(bad),
                    Err(HeraError::InvalidVersion { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_folder_without_marker_is_not_ready() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("hera-5.16.3");
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(venv_python(&dir), "").unwrap();
        assert!(ready(&dir, "5.16.3").is_none());
        let marker = Marker {
            hera: "5.16.3".into(),
            requirement: requirement("5.16.3"),
            freeze: "hera==5.16.3".into(),
            base_python: "python3".into(),
            created_unix: 0,
        };
        fs::write(dir.join(MARKER), serde_json::to_string(&marker).unwrap()).unwrap();
        let env = ready(&dir, "5.16.3").unwrap();
        assert_eq!(env.python, venv_python(&dir));
        assert!(!env.created);
        // A marker for another version, or a missing interpreter: not ready.
        assert!(ready(&dir, "5.16.4").is_none());
        fs::remove_file(venv_python(&dir)).unwrap();
        assert!(ready(&dir, "5.16.3").is_none());
    }

    #[test]
    fn removal_takes_the_marker_first_and_tolerates_absence() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("hera-7.1.0");
        fs::create_dir_all(dir.join("lib")).unwrap();
        fs::write(dir.join(MARKER), "{}").unwrap();
        remove_env(&dir).unwrap();
        assert!(!dir.exists());
        remove_env(&dir).unwrap();
    }

    #[test]
    fn commands_are_shown_quoted() {
        let mut cmd = Command::new("/w/env/bin/python");
        cmd.args(["-m", "pip", "install", "hera[yaml]==5.16.3", "it's"]);
        assert_eq!(
            command_text(&cmd),
            "/w/env/bin/python -m pip install 'hera[yaml]==5.16.3' 'it'\\''s'"
        );
    }

    #[test]
    fn external_python_that_does_not_exist() {
        let err = probe_external(Path::new("/nonexistent/python3"), "5.16.3").unwrap_err();
        assert!(
            matches!(err, HeraError::PythonMissing { python: Some(_) }),
            "{err}"
        );
    }
}

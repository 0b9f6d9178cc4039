//! What every benchmark shares: the stack's coordinates (as `tests/stack/env` exports
//! them), the `xtask` binary under test, and scratch folders that clean up after
//! themselves.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use tokio::process::Command;

/// Bad input or configuration (the stack's environment missing, `--runs 0`): the
/// benchmark binary exits 2 for it, as `xtask` does.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

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
                BadInput(format!(
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
    /// The `xtask` binary, as `cargo xtask` builds and runs it.
    pub exe: PathBuf,
    pub stack: Stack,
    pub started: Instant,
    /// Short and unique to this invocation: names of projects, folders and labels.
    pub id: String,
    /// `fetch --link`: the slow links to measure over, and the data's size.
    pub links: Vec<crate::link::LinkShape>,
    pub link_data_mb: usize,
    /// `--reduced`: every benchmark at a small size, as CI runs them to keep them
    /// working (the figures then say little).
    pub reduced: bool,
    /// `follow`: pods of the wide workflow.
    pub wide_pods: usize,
}

impl Context {
    pub fn new(runs: usize, exe: PathBuf) -> anyhow::Result<Self> {
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
            links: Vec::new(),
            link_data_mb: 300,
            reduced: false,
            wide_pods: 500,
        })
    }

    /// `full`, or `reduced` under `--reduced`.
    pub fn sized(&self, full: usize, reduced: usize) -> usize {
        if self.reduced { reduced } else { full }
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

    /// The `xtask` binary with `args`, as a user would run it from `cwd`.
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

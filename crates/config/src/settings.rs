//! The resolved settings and the inputs they are resolved from.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Warning;
use crate::origin::Sourced;
use crate::secret::Secret;

/// The Hera the team's scripts use today (5.x); a workspace pins another in xtask.toml
/// (`[hera] version`).
pub const DEFAULT_HERA_VERSION: &str = "5.16.3";

/// Values given on the command line; `None` means the flag was not given. The flag
/// names recorded as origins are those of [`crate::SETTINGS`] (`--namespace`, …).
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub kubeconfig: Option<PathBuf>,
    pub kube_context: Option<String>,
    pub configmap_name: Option<String>,
    pub volume_claim_name: Option<String>,
    pub argo_server: Option<String>,
    pub argo_namespace: Option<String>,
    pub argo_service_account: Option<String>,
    pub argo_token: Option<Secret>,
    pub argo_insecure_skip_verify: Option<bool>,
    pub argo_secure: Option<bool>,
    pub argo_base_href: Option<String>,
    pub argo_server_ca: Option<PathBuf>,
    /// `kube`, `argo-server` or `auto`.
    pub via: Option<String>,
    /// `host[:port][/project]`, parsed like `XTASK_REGISTRY`.
    pub registry: Option<String>,
    pub registry_user: Option<String>,
    pub registry_password: Option<Secret>,
    pub registry_ca_file: Option<PathBuf>,
    pub registry_plain_http: Option<bool>,
    pub results_dir: Option<PathBuf>,
    pub pvc_mount_path: Option<String>,
    pub build_parallelism: Option<usize>,
    pub pull_base_images: Option<bool>,
    pub stall_grace_secs: Option<u64>,
    pub controller_grace_secs: Option<u64>,
    pub run_timeout_secs: Option<u64>,
    pub hera_version: Option<String>,
}

/// Everything resolution reads. Tests build it by hand; nothing else is read from
/// the process (no real environment, no real home), only the files it points to.
#[derive(Clone, Default)]
pub struct Inputs {
    pub flags: FlagOverrides,
    /// The environment (the CLI passes the process environment).
    pub env: BTreeMap<String, String>,
    /// Working directory: where files are looked for and the base of relative paths
    /// given by flags or environment. Should be absolute.
    pub cwd: PathBuf,
    /// Home directory: `~` in paths, `~/hera.config`, `~/.kube/config`.
    pub home: Option<PathBuf>,
    /// `--env-file`: must exist when given. Otherwise `<cwd>/hera.bash` if present.
    pub env_file: Option<PathBuf>,
    /// `--profile`; else `XTASK_PROFILE` (environment, then env file); else the TOML's
    /// `default_profile`.
    pub profile: Option<String>,
}

// The environment may hold any secret (ours or not): Debug shows variable names only.
impl fmt::Debug for Inputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inputs")
            .field("flags", &self.flags)
            .field("env (names only)", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .field("home", &self.home)
            .field("env_file", &self.env_file)
            .field("profile", &self.profile)
            .finish()
    }
}

impl Inputs {
    /// Inputs with the given working directory and nothing else.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        Self {
            cwd: cwd.into(),
            ..Self::default()
        }
    }

    /// Inputs from this process: its environment (variables that are not UTF-8 are
    /// skipped), working directory and `HOME`. Flags are left empty for the caller.
    pub fn from_process() -> std::io::Result<Self> {
        let env: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let home = env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        Ok(Self {
            cwd: std::env::current_dir()?,
            env,
            home,
            ..Self::default()
        })
    }
}

/// An image registry and the project (Harbor) or path prefix images go under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistryRef {
    /// `host` or `host:port`.
    pub host: String,
    pub project: Option<String>,
}

impl RegistryRef {
    /// The repository for an image: `host/project/name`.
    pub fn repository(&self, name: &str) -> String {
        match &self.project {
            Some(p) => format!("{}/{p}/{name}", self.host),
            None => format!("{}/{name}", self.host),
        }
    }

    /// The full image reference `host/project/name:tag`.
    pub fn image(&self, name: &str, tag: &str) -> String {
        format!("{}:{tag}", self.repository(name))
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.project {
            Some(p) => write!(f, "{}/{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// A third-party image copied into our registry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mirror {
    /// The upstream reference, e.g. `docker.io/library/postgres:16`.
    pub source: String,
    /// The name under our registry; `None`: the last path segment of `source`.
    pub target_name: Option<String>,
}

/// How long to wait before calling a run stuck.
#[derive(Debug, Clone)]
pub struct Timeouts {
    pub stall_grace_secs: Sourced<u64>,
    pub controller_grace_secs: Sourced<u64>,
    /// `None`: follow a run without limit.
    pub run_timeout_secs: Option<Sourced<u64>>,
}

impl Timeouts {
    pub fn stall_grace(&self) -> Duration {
        Duration::from_secs(self.stall_grace_secs.value)
    }

    pub fn controller_grace(&self) -> Duration {
        Duration::from_secs(self.controller_grace_secs.value)
    }

    pub fn run_timeout(&self) -> Option<Duration> {
        self.run_timeout_secs
            .as_ref()
            .map(|t| Duration::from_secs(t.value))
    }
}

/// Every setting with its origin. Paths are absolute when `Inputs::cwd` is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kubeconfig files, merged in order like `KUBECONFIG` (never empty). From the
    /// environment or env file, `KUBECONFIG` is split at `:`; a flag or file key
    /// gives one path. Default: `~/.kube/config` when that file exists.
    pub kubeconfig: Option<Sourced<Vec<PathBuf>>>,
    pub kube_context: Option<Sourced<String>>,
    pub configmap_name: Option<Sourced<String>>,
    pub volume_claim_name: Option<Sourced<String>>,
    /// Normalized to a URL: `http://` or `https://` kept as given; without a scheme
    /// `https://` is added, as the Argo CLI does with `ARGO_SERVER`, and the port is
    /// kept as given (none means 443, as for the Argo CLI). A trailing `/` is removed.
    pub argo_server: Option<Sourced<String>>,
    /// Default `argo`.
    pub argo_namespace: Sourced<String>,
    pub argo_service_account: Option<Sourced<String>>,
    /// Without any `Bearer ` prefix; see [`Settings::argo_bearer`].
    pub argo_token: Option<Sourced<Secret>>,
    /// Default false.
    pub argo_insecure_skip_verify: Sourced<bool>,
    /// Default true; `false` makes an `ARGO_SERVER` without a scheme `http://`.
    pub argo_secure: Sourced<bool>,
    /// A path like `/argo` (no trailing `/`), added after the server's address.
    pub argo_base_href: Option<Sourced<String>>,
    pub argo_server_ca: Option<Sourced<PathBuf>>,
    /// Default [`Via::Auto`].
    pub via: Sourced<Via>,
    pub registry: Option<Sourced<RegistryRef>>,
    pub registry_user: Option<Sourced<String>>,
    pub registry_password: Option<Sourced<Secret>>,
    pub registry_ca_file: Option<Sourced<PathBuf>>,
    /// Default false.
    pub registry_plain_http: Sourced<bool>,
    /// Default `results` under the workspace root (the folder of xtask.toml), else
    /// under the working directory.
    pub results_dir: Sourced<PathBuf>,
    /// Absolute path inside workflow containers. Default `/data`.
    pub pvc_mount_path: Sourced<String>,
    /// At least 1. Default 2.
    pub build_parallelism: Sourced<usize>,
    /// Default true; false on a machine that cannot pull (the local stack).
    pub pull_base_images: Sourced<bool>,
    /// The Hera version `.py` workflows run with. Default [`DEFAULT_HERA_VERSION`].
    pub hera_version: Sourced<String>,
    pub timeouts: Timeouts,
    /// From the workspace TOML only; default empty.
    pub mirrors: Sourced<Vec<Mirror>>,
    /// The active profile of the workspace TOML.
    pub profile: Option<Sourced<String>>,
    /// The folder holding the workspace TOML, when one was found.
    pub workspace_root: Option<PathBuf>,
}

/// Which API the commands talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// A usable kubeconfig, else the Argo Server when `ARGO_SERVER` and `ARGO_TOKEN` are
    /// set.
    Auto,
    Kube,
    ArgoServer,
}

impl std::str::FromStr for Via {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Via::Auto),
            "kube" | "kubernetes" => Ok(Via::Kube),
            "argo-server" | "argo" => Ok(Via::ArgoServer),
            other => Err(format!(
                "{other:?} is not a way in: write kube, argo-server or auto"
            )),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Auto => "auto",
            Via::Kube => "kube",
            Via::ArgoServer => "argo-server",
        })
    }
}

/// The API the commands use, and why: what `config` and `doctor` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WayIn {
    /// [`Via::Kube`] or [`Via::ArgoServer`], never [`Via::Auto`].
    pub via: Via,
    pub why: String,
}

impl Settings {
    /// Chooses the way in: `--via` when given; else a usable kubeconfig (every file it
    /// lists exists); else the Argo Server when both `ARGO_SERVER` and `ARGO_TOKEN` are
    /// set; else the Kubernetes API, whose missing kubeconfig is then reported.
    pub fn way_in(&self) -> WayIn {
        let server = self.argo_server.as_ref();
        let token = self.argo_token.as_ref();
        match self.via.value {
            Via::Kube => WayIn {
                via: Via::Kube,
                why: format!("chosen by via (from {})", self.via.origin),
            },
            Via::ArgoServer => WayIn {
                via: Via::ArgoServer,
                why: format!("chosen by via (from {})", self.via.origin),
            },
            Via::Auto => {
                let usable = self
                    .kubeconfig
                    .as_ref()
                    // As kubectl: a list may name missing files as long as one exists.
                    .filter(|k| k.value.iter().any(|p| p.is_file()));
                match (usable, server, token) {
                    (Some(k), _, _) => WayIn {
                        via: Via::Kube,
                        why: format!(
                            "a kubeconfig is usable ({}, from {})",
                            k.value
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(":"),
                            k.origin
                        ),
                    },
                    (None, Some(s), Some(t)) => WayIn {
                        via: Via::ArgoServer,
                        why: format!(
                            "no usable kubeconfig; argo_server (from {}) and argo_token (from {}) are set",
                            s.origin, t.origin
                        ),
                    },
                    (None, _, _) => WayIn {
                        via: Via::Kube,
                        why: "no usable kubeconfig and no ARGO_SERVER with ARGO_TOKEN: the Kubernetes API is tried".into(),
                    },
                }
            }
        }
    }

    /// The Argo Server's URL with the base href: what requests are made under.
    pub fn argo_server_url(&self) -> Option<String> {
        let server = &self.argo_server.as_ref()?.value;
        let href = self
            .argo_base_href
            .as_ref()
            .map_or("", |h| h.value.as_str());
        Some(format!("{server}{href}"))
    }

    /// The `Authorization` header value for the Argo server.
    pub fn argo_bearer(&self) -> Option<Secret> {
        self.argo_token.as_ref().map(|t| t.value.bearer())
    }
}

/// Whether a place looked at gave anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// At least one setting comes from it.
    Used,
    /// It exists (or is set) but every value in it was overridden or empty.
    Found,
    /// Not there (file missing, variable unset or empty).
    Absent,
    /// Not looked at because an earlier candidate was found.
    Skipped,
}

impl fmt::Display for SourceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceStatus::Used => "used",
            SourceStatus::Found => "found, not used",
            SourceStatus::Absent => "absent",
            SourceStatus::Skipped => "skipped",
        })
    }
}

/// The kind of a place looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Flag,
    Env,
    EnvFile,
    HeraConfig,
    WorkspaceToml,
}

/// One place resolution looked at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceReport {
    pub kind: SourceKind,
    /// A flag, a variable name, or a file path (shown like origins).
    pub location: String,
    pub status: SourceStatus,
    /// Why, when the status alone does not say it.
    pub note: Option<String>,
}

impl fmt::Display for SourceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            SourceKind::Flag => "flag",
            SourceKind::Env => "env",
            SourceKind::EnvFile => "env file",
            SourceKind::HeraConfig => "hera.config",
            SourceKind::WorkspaceToml => "workspace toml",
        };
        write!(f, "{kind} {}: {}", self.location, self.status)?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

/// The outcome of [`crate::resolve`].
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: Settings,
    pub warnings: Vec<Warning>,
    pub sources: Vec<SourceReport>,
}

impl Resolved {
    /// The folder of the workspace TOML; the working directory when there is none.
    pub fn workspace_root(&self) -> PathBuf {
        self.settings
            .workspace_root
            .clone()
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
    }
}

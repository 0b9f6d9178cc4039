//! Where a value came from.

use std::fmt;
use std::path::{Path, PathBuf};

/// The source of one setting's value.
///
/// File paths are stored as they are shown to the user: relative to the working
/// directory when the file lies inside it (`hera.bash`), absolute otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--namespace`.
    Flag(String),
    /// An environment variable, e.g. `ARGO_NAMESPACE`.
    Env(String),
    /// A line of the env file (hera.bash).
    EnvFile { path: PathBuf, line: usize },
    /// A line of hera.config.
    HeraConfig { path: PathBuf, line: usize },
    /// A key of the workspace TOML, dotted from the root, e.g.
    /// `profiles.local.registry.host`.
    WorkspaceToml { path: PathBuf, key: String },
    /// The built-in default.
    Default,
}

impl Origin {
    /// A short machine-readable name of the kind of source.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Flag(_) => "flag",
            Origin::Env(_) => "env",
            Origin::EnvFile { .. } => "env_file",
            Origin::HeraConfig { .. } => "hera_config",
            Origin::WorkspaceToml { .. } => "workspace_toml",
            Origin::Default => "default",
        }
    }

    /// The file this origin points into, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::EnvFile { path, .. }
            | Origin::HeraConfig { path, .. }
            | Origin::WorkspaceToml { path, .. } => Some(path),
            Origin::Flag(_) | Origin::Env(_) | Origin::Default => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env(var) => write!(f, "env {var}"),
            Origin::EnvFile { path, line } | Origin::HeraConfig { path, line } => {
                write!(f, "{}:{line}", path.display())
            }
            Origin::WorkspaceToml { path, key } => {
                let (table, rest) = split_toml_key(key);
                match table {
                    Some(table) => write!(f, "{} [{table}] {rest}", path.display()),
                    None => write!(f, "{} {rest}", path.display()),
                }
            }
            Origin::Default => f.write_str("default"),
        }
    }
}

/// Splits `profiles.local.registry.host` into (`profiles.local`, `registry.host`) and
/// `registry.host` into (`registry`, `host`), the way a reader finds it in the file.
fn split_toml_key(key: &str) -> (Option<&str>, &str) {
    if let Some(after) = key.strip_prefix("profiles.") {
        if let Some(dot) = after.find('.') {
            let cut = "profiles.".len() + dot;
            return (Some(&key[..cut]), &key[cut + 1..]);
        }
        return (None, key);
    }
    match key.split_once('.') {
        Some((table, rest)) => (Some(table), rest),
        None => (None, key),
    }
}

/// A value with the place it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Sourced<T> {
    pub fn new(value: T, origin: Origin) -> Self {
        Self { value, origin }
    }

    /// A value that comes from the built-in default.
    pub fn default_value(value: T) -> Self {
        Self {
            value,
            origin: Origin::Default,
        }
    }

    /// Transforms the value, keeping the origin.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Sourced<U> {
        Sourced {
            value: f(self.value),
            origin: self.origin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(
            Origin::Flag("--namespace".into()).to_string(),
            "--namespace"
        );
        assert_eq!(
            Origin::Env("ARGO_NAMESPACE".into()).to_string(),
            "env ARGO_NAMESPACE"
        );
        assert_eq!(
            Origin::EnvFile {
                path: "hera.bash".into(),
                line: 3
            }
            .to_string(),
            "hera.bash:3"
        );
        assert_eq!(
            Origin::HeraConfig {
                path: "/home/u/hera.config".into(),
                line: 7
            }
            .to_string(),
            "/home/u/hera.config:7"
        );
        assert_eq!(
            Origin::WorkspaceToml {
                path: "xtask.toml".into(),
                key: "profiles.local.registry.host".into()
            }
            .to_string(),
            "xtask.toml [profiles.local] registry.host"
        );
        assert_eq!(
            Origin::WorkspaceToml {
                path: "xtask.toml".into(),
                key: "registry.host".into()
            }
            .to_string(),
            "xtask.toml [registry] host"
        );
        assert_eq!(
            Origin::WorkspaceToml {
                path: "xtask.toml".into(),
                key: "default_profile".into()
            }
            .to_string(),
            "xtask.toml default_profile"
        );
        assert_eq!(Origin::Default.to_string(), "default");
    }
}

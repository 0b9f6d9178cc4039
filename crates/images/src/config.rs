//! The part of the settings this crate uses, each value with a description of its origin
//! for error messages. Built from `kit_config::Settings`, or by hand in tests.

use std::path::PathBuf;

use kit_config::{Secret, Settings};

/// The registry images are pushed to.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `host` or `host:port`.
    pub host: String,
    /// Harbor project / path prefix (`vcity`).
    pub project: Option<String>,
    /// Where host and project were set (`env XTASK_REGISTRY`, a file and line…).
    pub origin: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Where the user/password were set.
    pub credentials_origin: String,
    /// An extra CA certificate (PEM) to trust for this registry, with its origin.
    pub ca_file: Option<(PathBuf, String)>,
    /// Talk plain HTTP to this registry.
    pub plain_http: bool,
}

impl RegistryConfig {
    /// A registry at `host` with a project, no credentials, no CA, HTTPS.
    pub fn new(host: impl Into<String>, project: Option<&str>) -> Self {
        RegistryConfig {
            host: host.into(),
            project: project.map(str::to_string),
            origin: "given by the caller".into(),
            user: None,
            password: None,
            credentials_origin: "given by the caller".into(),
            ca_file: None,
            plain_http: false,
        }
    }

    /// From the resolved settings; `None` when no registry is configured.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let reg = settings.registry.as_ref()?;
        let mut origins = Vec::new();
        if let Some(u) = &settings.registry_user {
            origins.push(format!("user from {}", u.origin));
        }
        if let Some(p) = &settings.registry_password {
            origins.push(format!("password from {}", p.origin));
        }
        Some(RegistryConfig {
            host: reg.value.host.clone(),
            project: reg.value.project.clone(),
            origin: reg.origin.to_string(),
            user: settings.registry_user.as_ref().map(|u| u.value.clone()),
            password: settings.registry_password.as_ref().map(|p| p.value.clone()),
            credentials_origin: origins.join(", "),
            ca_file: settings
                .registry_ca_file
                .as_ref()
                .map(|c| (c.value.clone(), c.origin.to_string())),
            plain_http: settings.registry_plain_http.value,
        })
    }

    /// `host/project/name` (or `host/name`).
    pub fn repository(&self, name: &str) -> String {
        match &self.project {
            Some(p) => format!("{}/{p}/{name}", self.host),
            None => format!("{}/{name}", self.host),
        }
    }

    /// `host/project/name:tag`.
    pub fn image(&self, name: &str, tag: &str) -> String {
        format!("{}:{tag}", self.repository(name))
    }
}

/// A third-party image to copy into the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Upstream reference (`postgres:15.2`, `docker.io/library/postgres:15.2`).
    pub source: String,
    /// Name under our registry; default: the last path component of `source`.
    pub target_name: Option<String>,
    /// Where it was configured.
    pub origin: String,
}

impl MirrorConfig {
    /// The mirrors of the settings.
    pub fn from_settings(settings: &Settings) -> Vec<MirrorConfig> {
        settings
            .mirrors
            .value
            .iter()
            .map(|m| MirrorConfig {
                source: m.source.clone(),
                target_name: m.target_name.clone(),
                origin: settings.mirrors.origin.to_string(),
            })
            .collect()
    }
}

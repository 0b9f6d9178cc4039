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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_resolved_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = kit_config::Inputs::new(dir.path());
        for (k, v) in [
            ("XTASK_REGISTRY", "harbor.example:5443/vcity"),
            ("XTASK_REGISTRY_USER", "alice"),
            ("XTASK_REGISTRY_PASSWORD", "s3cret-value"),
            ("XTASK_REGISTRY_CA", "/etc/ca.crt"),
        ] {
            inputs.env.insert(k.into(), v.into());
        }
        let resolved = kit_config::resolve(&inputs).unwrap();
        let cfg = RegistryConfig::from_settings(&resolved.settings).unwrap();
        assert_eq!(cfg.host, "harbor.example:5443");
        assert_eq!(cfg.project.as_deref(), Some("vcity"));
        assert_eq!(
            cfg.image("collect", "1"),
            "harbor.example:5443/vcity/collect:1"
        );
        assert_eq!(cfg.user.as_deref(), Some("alice"));
        assert_eq!(
            cfg.password.as_ref().map(|p| p.expose()),
            Some("s3cret-value")
        );
        assert!(
            cfg.credentials_origin.contains("XTASK_REGISTRY_PASSWORD"),
            "{}",
            cfg.credentials_origin
        );
        assert!(cfg.origin.contains("XTASK_REGISTRY"), "{}", cfg.origin);
        let (ca, origin) = cfg.ca_file.clone().unwrap();
        assert_eq!(ca, PathBuf::from("/etc/ca.crt"));
        assert!(origin.contains("XTASK_REGISTRY_CA"));
        assert!(!cfg.plain_http);
        assert!(!format!("{cfg:?}").contains("s3cret"));
        assert!(MirrorConfig::from_settings(&resolved.settings).is_empty());

        let resolved = kit_config::resolve(&kit_config::Inputs::new(dir.path())).unwrap();
        assert!(RegistryConfig::from_settings(&resolved.settings).is_none());
    }
}

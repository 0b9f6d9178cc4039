//! A kube client built from an explicit kubeconfig and context, with errors that say
//! which file, which context and what to do.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where the client's settings came from, for error messages.
#[derive(Debug, Clone)]
pub struct KubeTarget {
    /// The kubeconfig files, merged as kubectl merges a `KUBECONFIG` list: missing files
    /// are skipped, the first file to set a value wins. Empty: kube's own defaults
    /// (in-cluster or ~/.kube/config).
    pub kubeconfigs: Vec<PathBuf>,
    /// Where those paths came from, e.g. "env KUBECONFIG" or "hera.config:3".
    pub kubeconfig_origin: String,
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "kubeconfig {path} (from {origin}) does not exist; point KUBECONFIG, --kubeconfig or k8s_config_file in hera.config at your cluster's file"
    )]
    KubeconfigMissing { path: PathBuf, origin: String },
    #[error("kubeconfig {path} (from {origin}) cannot be used: {source}")]
    KubeconfigInvalid {
        path: PathBuf,
        origin: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error(
        "context {context:?} is not in {path}; contexts there: {available}. Set --context or XTASK_KUBE_CONTEXT"
    )]
    UnknownContext {
        context: String,
        path: PathBuf,
        available: String,
    },
    #[error("no kubeconfig found ({source}); set KUBECONFIG or k8s_config_file in hera.config")]
    NoDefault {
        #[source]
        source: kube::config::InferConfigError,
    },
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// A connected-to-be client and the namespace it should use by default.
pub async fn client(target: &KubeTarget) -> Result<kube::Client, ClientError> {
    let config = if target.kubeconfigs.is_empty() {
        kube::Config::infer()
            .await
            .map_err(|source| ClientError::NoDefault { source })?
    } else {
        config_from_files(
            &target.kubeconfigs,
            &target.kubeconfig_origin,
            target.context.clone(),
        )
        .await?
    };
    kube::Client::try_from(config).map_err(ClientError::Client)
}

async fn config_from_files(
    paths: &[PathBuf],
    origin: &str,
    context: Option<String>,
) -> Result<kube::Config, ClientError> {
    // The list as written, for messages about all of them.
    let listed = PathBuf::from(std::env::join_paths(paths).unwrap_or_default());
    let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        return Err(ClientError::KubeconfigMissing {
            path: listed,
            origin: origin.to_string(),
        });
    }
    let invalid = |path: &Path, source| ClientError::KubeconfigInvalid {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        source,
    };
    let mut kubeconfig = Kubeconfig::default();
    for path in existing {
        let one = Kubeconfig::read_from(path).map_err(|e| invalid(path, e))?;
        kubeconfig = kubeconfig.merge(one).map_err(|e| invalid(path, e))?;
    }
    let path = listed.as_path();
    if let Some(wanted) = &context
        && !kubeconfig.contexts.iter().any(|c| &c.name == wanted)
    {
        let available: Vec<_> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(ClientError::UnknownContext {
            context: wanted.clone(),
            path: path.to_path_buf(),
            available: available.join(", "),
        });
    }
    let options = KubeConfigOptions {
        context,
        ..KubeConfigOptions::default()
    };
    kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| invalid(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl's way with `KUBECONFIG=a:b`: the cluster from one file, the user and the
    /// context from the other, one configuration.
    #[tokio::test]
    async fn a_kubeconfig_list_is_merged() {
        let dir = tempfile::tempdir().unwrap();
        let clusters = dir.path().join("clusters.yaml");
        let users = dir.path().join("users.yaml");
        std::fs::write(
            &clusters,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://10.1.2.3:6443\n",
        )
        .unwrap();
        std::fs::write(
            &users,
            "apiVersion: v1\nkind: Config\nusers:\n- name: me\n  user:\n    token: t0ken\n\
             contexts:\n- name: work\n  context:\n    cluster: lab\n    user: me\n    namespace: vcity\n\
             current-context: work\n",
        )
        .unwrap();
        let missing = dir.path().join("absent.yaml");
        let paths = vec![clusters, missing, users];
        let config = config_from_files(&paths, "env KUBECONFIG", None)
            .await
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://10.1.2.3:6443/");
        assert_eq!(config.default_namespace, "vcity");
        assert!(config.auth_info.token.is_some());

        // A context named explicitly is looked for in every file.
        let config = config_from_files(&paths, "env KUBECONFIG", Some("work".into()))
            .await
            .unwrap();
        assert_eq!(config.default_namespace, "vcity");
        let err = config_from_files(&paths, "env KUBECONFIG", Some("other".into()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("contexts there: work"), "{err}");
    }

    #[tokio::test]
    async fn a_list_of_missing_files_names_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let paths = vec![dir.path().join("a"), dir.path().join("b")];
        let err = config_from_files(&paths, "env KUBECONFIG", None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::KubeconfigMissing { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("/a:") && text.contains("/b"), "{text}");
    }
}

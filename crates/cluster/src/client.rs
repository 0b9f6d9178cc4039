//! A kube client built from an explicit kubeconfig and context, with errors that say
//! which file, which context and what to do.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Where the client's settings came from, for error messages.
#[derive(Debug, Clone)]
pub struct KubeTarget {
    /// The kubeconfig file; `None` means kube's own defaults (in-cluster or ~/.kube/config).
    pub kubeconfig: Option<PathBuf>,
    /// Where that path came from, e.g. "env KUBECONFIG" or "hera.config:3".
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
    let config = match &target.kubeconfig {
        Some(path) => {
            config_from_file(path, &target.kubeconfig_origin, target.context.clone()).await?
        }
        None => kube::Config::infer()
            .await
            .map_err(|source| ClientError::NoDefault { source })?,
    };
    kube::Client::try_from(config).map_err(ClientError::Client)
}

async fn config_from_file(
    path: &Path,
    origin: &str,
    context: Option<String>,
) -> Result<kube::Config, ClientError> {
    if !path.exists() {
        return Err(ClientError::KubeconfigMissing {
            path: path.to_path_buf(),
            origin: origin.to_string(),
        });
    }
    let invalid = |source| ClientError::KubeconfigInvalid {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(invalid)?;
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
        .map_err(invalid)
}

//! The way in: the Kubernetes API (a kubeconfig) or the Argo Server (a token), as the
//! configuration chooses ([`kit_config::Settings::way_in`]), and what the commands do
//! through either.

use kit_argo::Workflow;
use kit_argo_server::{ArgoServer, ServerError, ServerTarget};
use kit_config::{Resolved, Via};

use crate::Exit;

/// A connected way in.
#[derive(Clone)]
pub enum Api {
    Kube(kube::Client),
    Server(ArgoServer),
}

/// Connects the way the configuration chooses.
pub async fn connect(resolved: &Resolved) -> anyhow::Result<Api> {
    match resolved.settings.way_in().via {
        Via::ArgoServer => Ok(Api::Server(server(resolved)?)),
        Via::Kube | Via::Auto => Ok(Api::Kube(crate::kube::client(resolved).await?)),
    }
}

/// The Argo Server client from the settings (no request is made).
pub fn server(resolved: &Resolved) -> anyhow::Result<ArgoServer> {
    let s = &resolved.settings;
    let (Some(url), Some(token)) = (s.argo_server_url(), s.argo_token.as_ref()) else {
        return Err(Exit::input(
            "the Argo Server needs ARGO_SERVER and ARGO_TOKEN (`cargo xtask config` shows what is set)",
        )
        .into());
    };
    let target = ServerTarget {
        url,
        bearer: kit_argo_server::bearer(token.value.expose()),
        ca_file: s.argo_server_ca.as_ref().map(|c| c.value.clone()),
        insecure_skip_verify: s.argo_insecure_skip_verify.value,
    };
    ArgoServer::new(&target).map_err(|e| Exit::input(e.to_string()).into())
}

/// A server error as the command's exit: settings to change exit 2, the rest 1.
pub fn server_exit(err: ServerError) -> anyhow::Error {
    match err {
        ServerError::Setup(_)
        | ServerError::Dns { .. }
        | ServerError::TlsName { .. }
        | ServerError::TlsUntrusted { .. }
        | ServerError::PlainServer { .. }
        | ServerError::TlsServer { .. }
        | ServerError::NotTheApi { .. }
        | ServerError::Unauthorized { .. }
        | ServerError::Forbidden { .. } => Exit::input(err.to_string()).into(),
        _ => Exit::failure(err.to_string()).into(),
    }
}

impl Api {
    /// Creates the workflow (named from its `generateName`) and returns it as stored.
    pub async fn submit(&self, namespace: &str, workflow: &Workflow) -> anyhow::Result<Workflow> {
        match self {
            Api::Kube(client) => kit_argo::submit(client.clone(), namespace, workflow)
                .await
                .map_err(|e| Exit::failure(e.to_string()).into()),
            Api::Server(server) => server
                .create_workflow(namespace, &kit_argo::for_submission(namespace, workflow))
                .await
                .map_err(server_exit),
        }
    }

    /// Stops a workflow: running steps stop, exit handlers still run.
    pub async fn stop(&self, namespace: &str, name: &str) -> anyhow::Result<()> {
        match self {
            Api::Kube(client) => kit_argo::stop(client.clone(), namespace, name)
                .await
                .map(|_| ())
                .map_err(|e| Exit::failure(e.to_string()).into()),
            Api::Server(server) => server
                .stop_workflow(namespace, name)
                .await
                .map_err(server_exit),
        }
    }

    pub async fn get(&self, namespace: &str, name: &str) -> anyhow::Result<Workflow> {
        match self {
            Api::Kube(client) => kit_argo::get(client.clone(), namespace, name)
                .await
                .map_err(|e| Exit::failure(e.to_string()).into()),
            Api::Server(server) => server
                .get_workflow(namespace, name)
                .await
                .map_err(server_exit),
        }
    }

    /// One read of a workflow and all that explains it (pods or their stand-ins, events,
    /// failed steps' log tails), with the workflow object as the API returned it.
    /// `missing`: the error when there is no such workflow.
    pub async fn snapshot_once(
        &self,
        namespace: &str,
        name: &str,
        config: kit_diagnose::DiagnoseConfig,
        missing: impl FnOnce() -> Exit,
    ) -> anyhow::Result<(kit_diagnose::Snapshot, serde_json::Value)> {
        match self {
            Api::Kube(client) => {
                kit_cluster::follow::snapshot_once(client.clone(), namespace, name, config)
                    .await
                    .map_err(|e| match &e {
                        kube::Error::Api(s) if s.code == 404 => missing().into(),
                        _ => Exit::failure(kit_cluster::errors::describe(&e)).into(),
                    })
            }
            Api::Server(server) => kit_argo_server::snapshot_once(server, namespace, name, config)
                .await
                .map_err(|e| match e {
                    ServerError::NotFound { .. } => missing().into(),
                    e => server_exit(e),
                }),
        }
    }

    /// The kube client, for what only the Kubernetes API offers (companion documents).
    pub fn kube(&self) -> Option<&kube::Client> {
        match self {
            Api::Kube(client) => Some(client),
            Api::Server(_) => None,
        }
    }
}

//! The Kubernetes client as the configuration describes it.

use kit_cluster::KubeTarget;
use kit_config::Resolved;

use crate::Exit;

pub fn target(resolved: &Resolved) -> KubeTarget {
    let s = &resolved.settings;
    // Like kubectl, several KUBECONFIG files are possible; the first one holds the
    // context we use (merging is what kubectl does and what kube-rs does not).
    let (kubeconfig, origin) = match &s.kubeconfig {
        Some(k) => (k.value.first().cloned(), k.origin.to_string()),
        None => (None, "kube's defaults".to_string()),
    };
    KubeTarget {
        kubeconfig,
        kubeconfig_origin: origin,
        context: s.kube_context.as_ref().map(|c| c.value.clone()),
    }
}

pub async fn client(resolved: &Resolved) -> anyhow::Result<kube::Client> {
    kit_cluster::client(&target(resolved))
        .await
        .map_err(|e| Exit::input(e.to_string()).into())
}

//! The Kubernetes client as the configuration describes it.

use kit_cluster::KubeTarget;
use kit_config::Resolved;

use crate::Exit;

pub fn target(resolved: &Resolved) -> KubeTarget {
    let s = &resolved.settings;
    // Every file of a KUBECONFIG list: kit-cluster merges them as kubectl does.
    let (kubeconfigs, origin) = match &s.kubeconfig {
        Some(k) => (k.value.clone(), k.origin.to_string()),
        None => (Vec::new(), "kube's defaults".to_string()),
    };
    KubeTarget {
        kubeconfigs,
        kubeconfig_origin: origin,
        context: s.kube_context.as_ref().map(|c| c.value.clone()),
    }
}

pub async fn client(resolved: &Resolved) -> anyhow::Result<kube::Client> {
    kit_cluster::client(&target(resolved))
        .await
        .map_err(|e| Exit::input(e.to_string()).into())
}

//! `cleanup_helper_pods` against the local stack. A test binary of its own: it deletes
//! every helper pod of the namespace, which would break fetches running in parallel.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kit_cluster::KubeTarget;
use kit_cluster::fetch::helper_pod::helper_pod;
use kit_cluster::fetch::{HelperSpec, cleanup_helper_pods};
use kube::api::{Api, ListParams, PostParams};

#[tokio::test]
async fn leftover_helpers_are_found_by_label_and_deleted() {
    let Ok(kubeconfig) = std::env::var("KUBECONFIG") else {
        println!("skipping cleanup: KUBECONFIG not set (eval \"$(tests/stack/env)\")");
        return;
    };
    if std::env::var("STACK_PVC_DIR").is_err() {
        println!("skipping cleanup: STACK_PVC_DIR not set, not the local stack");
        return;
    }
    let target = KubeTarget {
        kubeconfig: Some(PathBuf::from(kubeconfig)),
        kubeconfig_origin: "env KUBECONFIG".into(),
        context: None,
    };
    let Ok(client) = kit_cluster::client(&target).await else {
        println!("skipping cleanup: no client");
        return;
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), "argo");
    let reachable = tokio::time::timeout(
        Duration::from_secs(5),
        pods.list(&ListParams::default().limit(1)),
    )
    .await;
    if !matches!(reachable, Ok(Ok(_))) {
        println!("skipping cleanup: stack not reachable");
        return;
    }
    let claim = std::env::var("KUBEVOLUMECLAIMNAME").unwrap_or_else(|_| "vcity-pvc".into());
    // A helper whose client was killed before it could delete it.
    let leftover = pods
        .create(
            &PostParams::default(),
            &helper_pod(&HelperSpec::new("stack/busybox:1"), &claim, "/data"),
        )
        .await
        .unwrap();
    let name = leftover.metadata.name.unwrap();
    // Too young for a cleanup that spares pods of running fetches.
    let spared = cleanup_helper_pods(&client, "argo", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(!spared.contains(&name));
    let deleted = cleanup_helper_pods(&client, "argo", Duration::ZERO)
        .await
        .unwrap();
    assert!(deleted.contains(&name), "{deleted:?}");
    let mut gone = false;
    for _ in 0..100 {
        if pods.get_opt(&name).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(gone, "{name} still there");
}

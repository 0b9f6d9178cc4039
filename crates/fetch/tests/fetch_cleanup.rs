//! `cleanup_helper_pods` against the local stack. A test binary of its own: it deletes
//! every helper pod of the namespace, which would break fetches running in parallel.

#[path = "../../cluster/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kit_fetch::helper_pod::helper_pod;
use kit_fetch::{HelperSpec, cleanup_helper_pods};
use kube::api::{Api, PostParams};

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn leftover_helpers_are_found_by_label_and_deleted() {
    // Only the local stack: its helper pods are ours to delete.
    common::stack_var("STACK_PVC_DIR");
    let client = common::client("KUBECONFIG").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "argo");
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

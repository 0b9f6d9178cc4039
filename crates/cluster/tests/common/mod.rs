//! The local stack (tests/stack) for the tests that need it. These tests are ignored by
//! default; run with `--include-ignored` and no stack, they fail saying how to bring it up.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kit_cluster::KubeTarget;
use kube::api::{Api, ListParams};

pub const NAMESPACE: &str = "argo";

const BRING_UP: &str = "tests/stack/up && eval \"$(tests/stack/env)\"";

/// A variable `tests/stack/env` exports; missing, the test fails with the way out.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs the local stack: {BRING_UP}")
    })
}

/// A client from the kubeconfig in `variable`, checked to reach the stack's namespace.
pub async fn client(variable: &str) -> kube::Client {
    let path = stack_var(variable);
    let target = KubeTarget {
        kubeconfigs: vec![PathBuf::from(&path)],
        kubeconfig_origin: format!("env {variable}"),
        context: None,
    };
    let client = kit_cluster::client(&target)
        .await
        .unwrap_or_else(|err| panic!("no client from {variable}={path}: {err}; {BRING_UP}"));
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    match tokio::time::timeout(
        Duration::from_secs(5),
        pods.list(&ListParams::default().limit(1)),
    )
    .await
    {
        Ok(Ok(_)) => client,
        Ok(Err(err)) => panic!("the stack is not reachable through {variable}: {err}; {BRING_UP}"),
        Err(_) => panic!("the stack is not reachable through {variable}: timeout; {BRING_UP}"),
    }
}

//! One rustls crypto provider in the whole tree: oci-client (reqwest) and kube must be
//! able to build TLS clients in the same process. With two providers compiled in
//! (aws-lc-rs and ring) rustls panics at the first TLS client ("Could not automatically
//! determine the process-level CryptoProvider"). No network is needed: both clients
//! are built and each makes one attempt against a closed loopback port.

use std::io::Write;

use base64::prelude::*;

#[tokio::test]
async fn kube_and_registry_clients_share_one_tls_provider() {
    let dir = tempfile::TempDir::new().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // Any valid PEM will do as the CA: the point is that TLS is configured.
    let ca_pem = include_str!("fixtures/test-ca.pem");
    let ca_b64 = BASE64_STANDARD.encode(ca_pem.as_bytes());
    std::fs::File::create(&kubeconfig)
        .unwrap()
        .write_all(
            format!(
                "apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1', certificate-authority-data: {ca_b64}}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"
            )
            .as_bytes(),
        )
        .unwrap();
    let target = kit_cluster::KubeTarget {
        kubeconfigs: vec![kubeconfig],
        kubeconfig_origin: "test".into(),
        context: None,
    };
    let kube = kit_cluster::client(&target)
        .await
        .expect("kube client with TLS");
    let version = kube.apiserver_version().await;
    assert!(version.is_err(), "nothing listens on port 1");

    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let mut config = kit_images::RegistryConfig::new("127.0.0.1:1", Some("vcity"));
    config.ca_file = Some((ca_file, "test".into()));
    let registry =
        kit_images::RegistryClient::from_config(&config).expect("registry client with TLS");
    let check = registry.check_access("vcity/probe", false).await;
    assert!(check.is_err(), "nothing listens on port 1");
}

//! Which API the commands use: `--via`, else a usable kubeconfig, else the Argo Server.

mod common;

use common::Sandbox;
use kit_config::Via;

#[test]
fn a_usable_kubeconfig_wins_even_with_argo_server_variables() {
    let s = Sandbox::new();
    let kc = s.write("kc.yaml", "apiVersion: v1\nkind: Config\n");
    let kc = kc.display().to_string();
    let inputs = s.inputs_with_env(&[
        ("KUBECONFIG", kc.as_str()),
        ("ARGO_SERVER", "argo.example.org:2746"),
        ("ARGO_TOKEN", "v2:abc"),
    ]);
    let way = s.resolve(&inputs).settings.way_in();
    assert_eq!(way.via, Via::Kube);
    assert!(way.why.contains("kc.yaml"), "{}", way.why);
}

#[test]
fn without_a_kubeconfig_the_argo_server_is_used_and_the_reason_names_both_origins() {
    let s = Sandbox::new();
    let inputs = s.inputs_with_env(&[
        ("KUBECONFIG", "/nonexistent/kubeconfig"),
        ("ARGO_SERVER", "argo.example.org:2746"),
        ("ARGO_TOKEN", "Bearer v2:abc"),
    ]);
    let settings = s.resolve(&inputs).settings;
    let way = settings.way_in();
    assert_eq!(way.via, Via::ArgoServer);
    assert!(
        way.why.contains("ARGO_SERVER") && way.why.contains("ARGO_TOKEN"),
        "{}",
        way.why
    );
    assert!(!way.why.contains("v2:abc"), "the token leaked: {}", way.why);
}

#[test]
fn via_forces_a_way_and_a_wrong_value_is_refused_with_the_choices() {
    let s = Sandbox::new();
    let kc = s.write("kc.yaml", "apiVersion: v1\nkind: Config\n");
    let kc = kc.display().to_string();
    let inputs = s.inputs_with_env(&[("KUBECONFIG", kc.as_str()), ("XTASK_VIA", "argo-server")]);
    assert_eq!(s.resolve(&inputs).settings.way_in().via, Via::ArgoServer);

    let mut inputs = s.inputs();
    inputs.flags.via = Some("grpc".into());
    let err = s.error(&inputs).to_string();
    assert!(err.contains("kube, argo-server or auto"), "{err}");
}

#[test]
fn argo_secure_false_and_a_base_href_shape_the_servers_url() {
    let s = Sandbox::new();
    let inputs = s.inputs_with_env(&[
        ("ARGO_SERVER", "argo.example.org:2746"),
        ("ARGO_SECURE", "false"),
        ("ARGO_BASE_HREF", "/argo/"),
    ]);
    let settings = s.resolve(&inputs).settings;
    assert_eq!(
        settings.argo_server_url().as_deref(),
        Some("http://argo.example.org:2746/argo")
    );
}

#[test]
fn through_the_argo_server_run_needs_no_kubeconfig_but_fetch_says_what_it_needs() {
    let s = Sandbox::new();
    let inputs = s.inputs_with_env(&[
        ("ARGO_SERVER", "argo.example.org:2746"),
        ("ARGO_TOKEN", "v2:abc"),
        ("ARGO_SERVICE_ACCOUNT", "argo-workflow"),
        ("KUBEVOLUMECLAIMNAME", "vcity-pvc"),
        ("KUBECONFIGMAP", "proxy"),
    ]);
    let settings = s.resolve(&inputs).settings;
    assert!(settings.missing_for(kit_config::Need::Run).is_empty());
    let fetch = settings.missing_for(kit_config::Need::Fetch);
    assert_eq!(fetch.len(), 1, "{fetch:?}");
    let text = fetch[0].to_string();
    assert!(
        text.contains("needs the Kubernetes API") && text.contains("Rancher"),
        "{text}"
    );
}

#[test]
fn through_the_argo_server_a_missing_token_is_named() {
    let s = Sandbox::new();
    let inputs = s.inputs_with_env(&[
        ("ARGO_SERVER", "argo.example.org:2746"),
        ("XTASK_VIA", "argo-server"),
    ]);
    let missing = s
        .resolve(&inputs)
        .settings
        .missing_for(kit_config::Need::Cluster);
    let names: Vec<&str> = missing.iter().map(|m| m.setting).collect();
    assert_eq!(names, ["argo_token"]);
}

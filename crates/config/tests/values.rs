//! Environment values: parsing, normalization and their errors.

mod common;

use common::Sandbox;
use kit_config::{ConfigError, Origin, Secret};

fn env_error(pairs: &[(&str, &str)]) -> String {
    let s = Sandbox::new();
    s.error(&s.inputs_with_env(pairs)).to_string()
}

#[test]
fn defaults_when_nothing_is_set() {
    let s = Sandbox::new();
    let r = s.resolve(&s.inputs());
    let st = &r.settings;
    assert!(st.kubeconfig.is_none(), "no ~/.kube/config in the sandbox");
    assert_eq!(st.argo_namespace.value, "argo");
    assert_eq!(st.argo_namespace.origin, Origin::Default);
    assert!(!st.argo_insecure_skip_verify.value);
    assert!(!st.registry_plain_http.value);
    assert_eq!(st.results_dir.value, s.cwd.join("results"));
    assert_eq!(st.pvc_mount_path.value, "/data");
    assert_eq!(st.build_parallelism.value, 2);
    assert_eq!(st.timeouts.stall_grace_secs.value, 60);
    assert_eq!(st.timeouts.controller_grace_secs.value, 20);
    assert!(st.timeouts.run_timeout_secs.is_none());
    assert!(st.mirrors.value.is_empty());
    for unset in [
        st.kube_context.is_none(),
        st.configmap_name.is_none(),
        st.volume_claim_name.is_none(),
        st.argo_server.is_none(),
        st.argo_service_account.is_none(),
        st.argo_token.is_none(),
        st.registry.is_none(),
        st.registry_user.is_none(),
        st.registry_password.is_none(),
        st.registry_ca_file.is_none(),
        st.profile.is_none(),
    ] {
        assert!(unset);
    }
}

#[test]
fn every_environment_variable() {
    let s = Sandbox::new();
    let r = s.resolve(&s.inputs_with_env(&[
        ("KUBECONFIG", "/k/a:/k/b"),
        ("XTASK_KUBE_CONTEXT", "ctx"),
        ("KUBECONFIGMAP", "proxy"),
        ("KUBEVOLUMECLAIMNAME", "data"),
        ("ARGO_SERVER", "argo.example:2746"),
        ("ARGO_NAMESPACE", "vcity"),
        ("ARGO_SERVICE_ACCOUNT", "sa"),
        ("ARGO_TOKEN", "abc"),
        ("ARGO_INSECURE_SKIP_VERIFY", "YES"),
        ("XTASK_REGISTRY", "127.0.0.1:5443/vcity"),
        ("XTASK_REGISTRY_USER", "robot"),
        ("XTASK_REGISTRY_PASSWORD", " pw with spaces "),
        ("XTASK_REGISTRY_CA", "certs/ca.pem"),
        ("XTASK_REGISTRY_PLAIN_HTTP", "1"),
        ("XTASK_RESULTS_DIR", "~/out"),
        ("XTASK_PVC_MOUNT_PATH", "/mnt/data/"),
        ("XTASK_BUILD_PARALLELISM", "4"),
        ("XTASK_STALL_GRACE_SECS", "30"),
        ("XTASK_CONTROLLER_GRACE_SECS", "5"),
        ("XTASK_RUN_TIMEOUT_SECS", "600"),
    ]));
    let st = &r.settings;
    let k = st.kubeconfig.as_ref().unwrap();
    assert_eq!(
        k.value,
        vec![std::path::PathBuf::from("/k/a"), "/k/b".into()]
    );
    assert_eq!(k.origin, Origin::Env("KUBECONFIG".into()));
    assert_eq!(st.kube_context.as_ref().unwrap().value, "ctx");
    assert_eq!(st.configmap_name.as_ref().unwrap().value, "proxy");
    assert_eq!(st.volume_claim_name.as_ref().unwrap().value, "data");
    assert_eq!(
        st.argo_server.as_ref().unwrap().value,
        "https://argo.example:2746"
    );
    assert_eq!(st.argo_namespace.value, "vcity");
    assert_eq!(st.argo_service_account.as_ref().unwrap().value, "sa");
    assert_eq!(st.argo_token.as_ref().unwrap().value.expose(), "abc");
    assert!(st.argo_insecure_skip_verify.value);
    let reg = &st.registry.as_ref().unwrap().value;
    assert_eq!(
        (reg.host.as_str(), reg.project.as_deref()),
        ("127.0.0.1:5443", Some("vcity"))
    );
    assert_eq!(st.registry_user.as_ref().unwrap().value, "robot");
    // passwords are kept byte for byte
    assert_eq!(
        st.registry_password.as_ref().unwrap().value.expose(),
        " pw with spaces "
    );
    assert_eq!(
        st.registry_ca_file.as_ref().unwrap().value,
        s.cwd.join("certs/ca.pem")
    );
    assert!(st.registry_plain_http.value);
    assert_eq!(st.results_dir.value, s.home.join("out"));
    assert_eq!(st.pvc_mount_path.value, "/mnt/data");
    assert_eq!(st.build_parallelism.value, 4);
    assert_eq!(st.timeouts.stall_grace().as_secs(), 30);
    assert_eq!(st.timeouts.controller_grace().as_secs(), 5);
    assert_eq!(st.timeouts.run_timeout().unwrap().as_secs(), 600);
    assert!(r.warnings.is_empty());
}

#[test]
fn argo_server_forms() {
    let s = Sandbox::new();
    for (given, want) in [
        ("argo.example:2746", "https://argo.example:2746"),
        ("argo.example", "https://argo.example"),
        ("https://argo.example:443/", "https://argo.example:443"),
        ("http://127.0.0.1:2746", "http://127.0.0.1:2746"),
        ("HTTPS://argo.example/argo/", "https://argo.example/argo"),
    ] {
        let r = s.resolve(&s.inputs_with_env(&[("ARGO_SERVER", given)]));
        assert_eq!(r.settings.argo_server.unwrap().value, want, "{given}");
    }
    let e = env_error(&[("ARGO_SERVER", "grpc://h:1")]);
    assert_eq!(
        e,
        "env ARGO_SERVER: invalid argo_server: `grpc://h:1`: only http:// and https:// are supported"
    );
    let e = env_error(&[("ARGO_SERVER", "h:notaport")]);
    assert!(e.contains("`notaport` is not a port number"), "{e}");
}

#[test]
fn argo_token_with_or_without_bearer() {
    let s = Sandbox::new();
    for given in [
        "abc.def",
        "Bearer abc.def",
        "bearer   abc.def",
        "  Bearer abc.def \n",
    ] {
        let r = s.resolve(&s.inputs_with_env(&[("ARGO_TOKEN", given)]));
        let t = r.settings.argo_token.as_ref().unwrap();
        assert_eq!(t.value.expose(), "abc.def", "{given:?}");
        assert_eq!(r.settings.argo_bearer().unwrap().expose(), "Bearer abc.def");
    }
    let e = env_error(&[("ARGO_TOKEN", "Bearer ")]);
    assert_eq!(
        e,
        "env ARGO_TOKEN: invalid argo_token: the token is empty once `Bearer ` is removed"
    );
    let e = env_error(&[("ARGO_TOKEN", "Bearer abc\ndef-SECRET")]);
    assert!(e.contains("control character"), "{e}");
    assert!(!e.contains("SECRET"), "{e}");
}

#[test]
fn token_flag_is_a_secret_too() {
    let s = Sandbox::new();
    let mut inputs = s.inputs();
    inputs.flags.argo_token = Some(Secret::new("Bearer from-flag"));
    let r = s.resolve(&inputs);
    let t = r.settings.argo_token.unwrap();
    assert_eq!(t.value.expose(), "from-flag");
    assert_eq!(t.origin.to_string(), "--argo-token");
}

#[test]
fn bad_bools_name_the_value_and_origin() {
    assert_eq!(
        env_error(&[("ARGO_INSECURE_SKIP_VERIFY", "maybe")]),
        "env ARGO_INSECURE_SKIP_VERIFY: invalid argo_insecure_skip_verify: `maybe` is not a boolean; use true/false, 1/0 or yes/no"
    );
    let e = env_error(&[("XTASK_REGISTRY_PLAIN_HTTP", "on")]);
    assert!(
        e.starts_with("env XTASK_REGISTRY_PLAIN_HTTP: invalid registry_plain_http: `on`"),
        "{e}"
    );
}

#[test]
fn bad_numbers() {
    let e = env_error(&[("XTASK_BUILD_PARALLELISM", "two")]);
    assert_eq!(
        e,
        "env XTASK_BUILD_PARALLELISM: invalid build_parallelism: `two` is not a non-negative whole number"
    );
    let e = env_error(&[("XTASK_BUILD_PARALLELISM", "0")]);
    assert!(e.contains("must be at least 1"), "{e}");
    let e = env_error(&[("XTASK_RUN_TIMEOUT_SECS", "0")]);
    assert!(e.contains("leave it unset for no limit"), "{e}");
    let e = env_error(&[("XTASK_STALL_GRACE_SECS", "-5")]);
    assert!(e.contains("`-5`"), "{e}");
}

#[test]
fn bad_names_and_paths() {
    let e = env_error(&[("ARGO_NAMESPACE", "Argo Prod")]);
    assert!(
        e.starts_with(
            "env ARGO_NAMESPACE: invalid argo_namespace: `Argo Prod` is not a valid Kubernetes name"
        ),
        "{e}"
    );
    let e = env_error(&[("KUBEVOLUMECLAIMNAME", "data # comment")]);
    assert!(e.contains("not a valid Kubernetes name"), "{e}");
    let e = env_error(&[("XTASK_PVC_MOUNT_PATH", "data")]);
    assert!(
        e.contains("must be an absolute path inside the container"),
        "{e}"
    );
    let e = env_error(&[("XTASK_REGISTRY", "https://harbor/vcity")]);
    assert!(e.contains("without a scheme"), "{e}");
    let e = env_error(&[("XTASK_REGISTRY", "harbor/VCity")]);
    assert!(e.contains("must be lowercase"), "{e}");
}

#[test]
fn tilde_without_home_is_an_error() {
    let s = Sandbox::new();
    let mut inputs = s.inputs_with_env(&[("KUBECONFIG", "~/.kube/config")]);
    inputs.home = None;
    let e = s.error(&inputs);
    assert!(matches!(e, ConfigError::InvalidValue { .. }));
    assert!(e.to_string().contains("no home directory is known"), "{e}");
}

#[test]
fn default_kubeconfig_only_when_it_exists() {
    let s = Sandbox::new();
    assert!(s.resolve(&s.inputs()).settings.kubeconfig.is_none());
    s.write_home(".kube/config", "apiVersion: v1\n");
    let k = s.resolve(&s.inputs()).settings.kubeconfig.unwrap();
    assert_eq!(k.value, vec![s.home.join(".kube/config")]);
    assert_eq!(k.origin, Origin::Default);
}

#[test]
fn relative_flag_paths_start_from_cwd() {
    let s = Sandbox::new();
    let mut inputs = s.inputs();
    inputs.flags.kubeconfig = Some("../other/kube.yaml".into());
    inputs.flags.results_dir = Some("out".into());
    let r = s.resolve(&inputs);
    assert_eq!(
        r.settings.kubeconfig.unwrap().value,
        vec![s.root.join("work/other/kube.yaml")]
    );
    assert_eq!(r.settings.results_dir.value, s.cwd.join("out"));
}

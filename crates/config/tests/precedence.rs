//! flag > env > env file > hera.config > TOML (active profile, then top level) > default.

mod common;

use common::Sandbox;
use kit_config::{Inputs, Origin, Settings};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Layer {
    Flag,
    Env,
    EnvFile,
    HeraConfig,
    TomlProfile,
    Toml,
    Default,
}

const ORDER: [Layer; 7] = [
    Layer::Flag,
    Layer::Env,
    Layer::EnvFile,
    Layer::HeraConfig,
    Layer::TomlProfile,
    Layer::Toml,
    Layer::Default,
];

/// Sets the namespace and the kubeconfig in each of `layers`, with values naming the
/// layer.
fn setup(s: &Sandbox, layers: &[Layer]) -> Inputs {
    let mut inputs = s.inputs();
    let mut toml = String::from("[profiles.p]\n");
    let has = |l| layers.contains(&l);
    if has(Layer::Flag) {
        inputs.flags.argo_namespace = Some("from-flag".into());
        inputs.flags.kubeconfig = Some("flag.yaml".into());
    }
    if has(Layer::Env) {
        inputs
            .env
            .insert("ARGO_NAMESPACE".into(), "from-env".into());
        inputs.env.insert("KUBECONFIG".into(), "env.yaml".into());
    }
    if has(Layer::EnvFile) {
        s.write(
            "hera.bash",
            "ARGO_NAMESPACE=from-env-file\nKUBECONFIG=envfile.yaml\n",
        );
    }
    if has(Layer::HeraConfig) {
        s.write(
            "hera.config",
            "argo_namespace='from-hera'\nk8s_config_file=hera.yaml\n",
        );
    }
    if has(Layer::TomlProfile) {
        inputs.profile = Some("p".into());
        toml.push_str(
            "[profiles.p.cluster]\nnamespace = \"from-profile\"\nkubeconfig = \"profile.yaml\"\n",
        );
    }
    if has(Layer::Toml) {
        toml.push_str("[cluster]\nnamespace = \"from-toml\"\nkubeconfig = \"toml.yaml\"\n");
    }
    if has(Layer::Default) {
        s.write_home(".kube/config", "");
    }
    s.write("xtask.toml", &toml);
    inputs
}

fn expected(s: &Sandbox, layer: Layer) -> (String, Origin, std::path::PathBuf, String) {
    let toml = |key: &str| Origin::WorkspaceToml {
        path: "xtask.toml".into(),
        key: key.into(),
    };
    match layer {
        Layer::Flag => (
            "from-flag".into(),
            Origin::Flag("--namespace".into()),
            s.cwd.join("flag.yaml"),
            "--kubeconfig".into(),
        ),
        Layer::Env => (
            "from-env".into(),
            Origin::Env("ARGO_NAMESPACE".into()),
            s.cwd.join("env.yaml"),
            "env KUBECONFIG".into(),
        ),
        Layer::EnvFile => (
            "from-env-file".into(),
            Origin::EnvFile {
                path: "hera.bash".into(),
                line: 1,
            },
            s.cwd.join("envfile.yaml"),
            "hera.bash:2".into(),
        ),
        Layer::HeraConfig => (
            "from-hera".into(),
            Origin::HeraConfig {
                path: "hera.config".into(),
                line: 1,
            },
            s.cwd.join("hera.yaml"),
            "hera.config:2".into(),
        ),
        Layer::TomlProfile => (
            "from-profile".into(),
            toml("profiles.p.cluster.namespace"),
            s.cwd.join("profile.yaml"),
            "xtask.toml [profiles.p] cluster.kubeconfig".into(),
        ),
        Layer::Toml => (
            "from-toml".into(),
            toml("cluster.namespace"),
            s.cwd.join("toml.yaml"),
            "xtask.toml [cluster] kubeconfig".into(),
        ),
        Layer::Default => (
            "argo".into(),
            Origin::Default,
            s.home.join(".kube/config"),
            "default".into(),
        ),
    }
}

fn check(s: &Sandbox, st: &Settings, winner: Layer) {
    let (ns, ns_origin, kube, kube_origin) = expected(s, winner);
    assert_eq!(st.argo_namespace.value, ns, "{winner:?}");
    assert_eq!(st.argo_namespace.origin, ns_origin, "{winner:?}");
    let k = st.kubeconfig.as_ref().expect("kubeconfig");
    assert_eq!(k.value, vec![kube], "{winner:?}");
    assert_eq!(k.origin.to_string(), kube_origin, "{winner:?}");
}

#[test]
fn each_adjacent_pair() {
    for pair in ORDER.windows(2) {
        let s = Sandbox::new();
        let inputs = setup(&s, pair);
        let r = s.resolve(&inputs);
        check(&s, &r.settings, pair[0]);
    }
}

#[test]
fn each_layer_alone() {
    for layer in ORDER {
        let s = Sandbox::new();
        let r = s.resolve(&setup(&s, &[layer]));
        check(&s, &r.settings, layer);
    }
}

#[test]
fn removing_the_top_layer_one_at_a_time() {
    for i in 0..ORDER.len() {
        let s = Sandbox::new();
        let r = s.resolve(&setup(&s, &ORDER[i..]));
        check(&s, &r.settings, ORDER[i]);
    }
}

#[test]
fn empty_values_fall_through() {
    let s = Sandbox::new();
    s.write("hera.bash", "ARGO_NAMESPACE=\n");
    s.write("hera.config", "argo_namespace=from-hera\n");
    let mut inputs = s.inputs_with_env(&[("ARGO_NAMESPACE", "  ")]);
    inputs.flags.argo_namespace = Some(String::new());
    let r = s.resolve(&inputs);
    assert_eq!(r.settings.argo_namespace.value, "from-hera");
}

#[test]
fn profile_choice_flag_env_env_file_default() {
    let toml = "default_profile = \"d\"\n[profiles.d.cluster]\nnamespace = \"d\"\n[profiles.e.cluster]\nnamespace = \"e\"\n[profiles.f.cluster]\nnamespace = \"f\"\n[profiles.g.cluster]\nnamespace = \"g\"\n";
    let s = Sandbox::new();
    s.write("xtask.toml", toml);
    s.write("hera.bash", "XTASK_PROFILE=f\n");
    let mut inputs = s.inputs_with_env(&[("XTASK_PROFILE", "e")]);
    inputs.profile = Some("g".into());
    let ns = |inputs: &Inputs| {
        let r = s.resolve(inputs);
        let p = r.settings.profile.unwrap();
        (r.settings.argo_namespace.value, p.origin.to_string())
    };
    assert_eq!(ns(&inputs), ("g".into(), "--profile".into()));
    inputs.profile = None;
    assert_eq!(ns(&inputs), ("e".into(), "env XTASK_PROFILE".into()));
    inputs.env.clear();
    assert_eq!(ns(&inputs), ("f".into(), "hera.bash:1".into()));
    std::fs::remove_file(s.cwd.join("hera.bash")).unwrap();
    assert_eq!(
        ns(&inputs),
        ("d".into(), "xtask.toml default_profile".into())
    );
}

#[test]
fn inactive_profiles_are_ignored() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[cluster]\nnamespace = \"top\"\n[profiles.other.cluster]\nnamespace = \"other\"\n",
    );
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.argo_namespace.value, "top");
    assert!(r.settings.profile.is_none());
}

#[test]
fn registry_precedence_flag_env_env_file_toml() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[registry]\nhost = \"toml.example\"\nproject = \"p\"\n",
    );
    s.write("hera.bash", "XTASK_REGISTRY=envfile.example/q\n");
    let mut inputs = s.inputs_with_env(&[("XTASK_REGISTRY", "env.example:5000")]);
    inputs.flags.registry = Some("flag.example/r".into());
    let get = |i: &Inputs| {
        let r = s.resolve(i).settings.registry.unwrap();
        (r.value.to_string(), r.origin.to_string())
    };
    assert_eq!(get(&inputs), ("flag.example/r".into(), "--registry".into()));
    inputs.flags.registry = None;
    // the whole value comes from one place: no project from the TOML
    assert_eq!(
        get(&inputs),
        ("env.example:5000".into(), "env XTASK_REGISTRY".into())
    );
    inputs.env.clear();
    assert_eq!(
        get(&inputs),
        ("envfile.example/q".into(), "hera.bash:1".into())
    );
    std::fs::remove_file(s.cwd.join("hera.bash")).unwrap();
    assert_eq!(
        get(&inputs),
        ("toml.example/p".into(), "xtask.toml [registry] host".into())
    );
}

#[test]
fn typed_flags_win() {
    let s = Sandbox::new();
    s.write(
        "hera.bash",
        "ARGO_INSECURE_SKIP_VERIFY=yes\nXTASK_BUILD_PARALLELISM=8\n",
    );
    let mut inputs = s.inputs();
    inputs.flags.argo_insecure_skip_verify = Some(false);
    inputs.flags.build_parallelism = Some(3);
    inputs.flags.run_timeout_secs = Some(10);
    let r = s.resolve(&inputs);
    assert!(!r.settings.argo_insecure_skip_verify.value);
    assert_eq!(
        r.settings.argo_insecure_skip_verify.origin.to_string(),
        "--insecure-skip-verify"
    );
    assert_eq!(r.settings.build_parallelism.value, 3);
    assert_eq!(r.settings.timeouts.run_timeout().unwrap().as_secs(), 10);
}

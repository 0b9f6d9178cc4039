//! xtask.toml: the example, profiles, unknown keys, wrong types, forbidden secrets.

mod common;

use common::Sandbox;
use kit_config::{ConfigError, Mirror, Origin, RegistryRef, WORKSPACE_TOML_EXAMPLE};

#[test]
fn example_with_its_default_profile() {
    let s = Sandbox::new();
    s.write("xtask.toml", WORKSPACE_TOML_EXAMPLE);
    let r = s.resolve(&s.inputs());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let st = &r.settings;
    let profile = st.profile.as_ref().unwrap();
    assert_eq!(profile.value, "pagoda");
    assert_eq!(profile.origin.to_string(), "xtask.toml default_profile");
    assert_eq!(
        st.kubeconfig.as_ref().unwrap().value,
        vec![s.home.join(".kube/pagoda.yaml")]
    );
    assert_eq!(st.kube_context.as_ref().unwrap().value, "pagoda");
    assert_eq!(st.argo_namespace.value, "vcity");
    assert_eq!(
        st.argo_namespace.origin.to_string(),
        "xtask.toml [cluster] namespace"
    );
    assert_eq!(
        st.argo_service_account.as_ref().unwrap().value,
        "vcity-workflows"
    );
    assert_eq!(st.configmap_name.as_ref().unwrap().value, "vcity-proxy");
    assert_eq!(st.volume_claim_name.as_ref().unwrap().value, "vcity-data");
    assert_eq!(
        st.argo_server.as_ref().unwrap().value,
        "https://argo.pagoda.os.univ-lyon1.fr:443"
    );
    assert!(!st.argo_insecure_skip_verify.value);
    assert_eq!(
        st.argo_insecure_skip_verify.origin.to_string(),
        "xtask.toml [cluster] insecure_skip_verify"
    );
    let reg = st.registry.as_ref().unwrap();
    assert_eq!(
        reg.value,
        RegistryRef {
            host: "harbor.pagoda.os.univ-lyon1.fr".into(),
            project: Some("vcity".into())
        }
    );
    assert_eq!(reg.origin.to_string(), "xtask.toml [registry] host");
    assert_eq!(st.registry_user.as_ref().unwrap().value, "robot$vcity");
    assert_eq!(
        st.registry_ca_file.as_ref().unwrap().value,
        s.cwd.join("certs/harbor-ca.pem")
    );
    assert!(!st.registry_plain_http.value);
    assert_eq!(st.build_parallelism.value, 2);
    assert_eq!(
        st.build_parallelism.origin.to_string(),
        "xtask.toml [images] parallelism"
    );
    assert_eq!(st.results_dir.value, s.cwd.join("results"));
    assert_eq!(st.pvc_mount_path.value, "/data");
    assert_eq!(st.timeouts.stall_grace_secs.value, 60);
    assert_eq!(st.timeouts.controller_grace_secs.value, 20);
    assert_eq!(st.timeouts.run_timeout_secs.as_ref().unwrap().value, 7200);
    assert_eq!(
        st.mirrors.value,
        vec![Mirror {
            source: "docker.io/library/postgres:16".into(),
            target_name: Some("postgres".into())
        }]
    );
    assert_eq!(st.mirrors.origin.to_string(), "xtask.toml mirrors");
    assert_eq!(st.workspace_root.as_deref(), Some(s.cwd.as_path()));
}

#[test]
fn example_with_the_local_profile_overrides_key_by_key() {
    let s = Sandbox::new();
    s.write("xtask.toml", WORKSPACE_TOML_EXAMPLE);
    let mut inputs = s.inputs();
    inputs.profile = Some("local".into());
    let r = s.resolve(&inputs);
    let st = &r.settings;
    assert_eq!(st.profile.as_ref().unwrap().origin.to_string(), "--profile");
    assert_eq!(st.argo_namespace.value, "argo");
    assert_eq!(
        st.argo_namespace.origin.to_string(),
        "xtask.toml [profiles.local] cluster.namespace"
    );
    assert_eq!(
        st.kubeconfig.as_ref().unwrap().value,
        vec![s.cwd.join("tests/stack/state/user.kubeconfig")]
    );
    assert_eq!(
        st.argo_server.as_ref().unwrap().value,
        "http://127.0.0.1:2746"
    );
    // host from the profile, project still from the top level
    let reg = st.registry.as_ref().unwrap();
    assert_eq!(reg.value.to_string(), "127.0.0.1:5443/vcity");
    assert_eq!(
        reg.origin.to_string(),
        "xtask.toml [profiles.local] registry.host"
    );
    assert_eq!(
        reg.origin,
        Origin::WorkspaceToml {
            path: "xtask.toml".into(),
            key: "profiles.local.registry.host".into()
        }
    );
    // keys the profile does not set stay from the top level
    assert_eq!(
        st.argo_service_account.as_ref().unwrap().value,
        "vcity-workflows"
    );
    assert_eq!(
        st.argo_service_account.as_ref().unwrap().origin.to_string(),
        "xtask.toml [cluster] service_account"
    );
    // the profile's mirror list replaces the top-level one
    assert_eq!(st.mirrors.value.len(), 1);
    assert_eq!(st.mirrors.value[0].target_name, None);
    assert_eq!(
        st.mirrors.origin.to_string(),
        "xtask.toml [profiles.local] mirrors"
    );
}

#[test]
fn found_in_a_parent_folder_with_paths_relative_to_it() {
    let s = Sandbox::new();
    let toml = s.write_root(
        "work/xtask.toml",
        "[registry]\nca_file = \"ca/ca.pem\"\n[results]\nlocal_dir = \"out\"\n",
    );
    let r = s.resolve(&s.inputs());
    let ca = r.settings.registry_ca_file.unwrap();
    assert_eq!(ca.value, s.root.join("work/ca/ca.pem"));
    assert_eq!(
        ca.origin.to_string(),
        format!("{} [registry] ca_file", toml.display())
    );
    assert_eq!(r.settings.results_dir.value, s.root.join("work/out"));
    assert_eq!(r.settings.workspace_root, Some(s.root.join("work")));
}

#[test]
fn default_results_dir_is_under_the_workspace_root() {
    let s = Sandbox::new();
    s.write_root("work/xtask.toml", "");
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.results_dir.value, s.root.join("work/results"));
    assert_eq!(r.settings.results_dir.origin, Origin::Default);

    let s = Sandbox::new();
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.results_dir.value, s.cwd.join("results"));
}

#[test]
fn unknown_keys_warn_with_line_and_closest_key() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "default_profil = \"x\"\n\n[cluster]\nnamspace = \"a\"\nproject = \"p\"\n\n[registy]\nhost = \"h\"\n\n[profiles.p.cluster]\nservice_acount = \"s\"\n\n[[mirrors]]\nsource = \"a/b:1\"\nnmae = \"b\"\n",
    );
    let r = s.resolve(&s.inputs());
    let w: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            "xtask.toml:1: unknown key `default_profil`; did you mean `default_profile`?",
            "xtask.toml:4: unknown key `cluster.namspace`; did you mean `cluster.namespace`?",
            "xtask.toml:5: unknown key `cluster.project`; `project` belongs in [registry]",
            "xtask.toml:7: unknown key `registy`; did you mean `registry`?",
            "xtask.toml:11: unknown key `profiles.p.cluster.service_acount`; did you mean `profiles.p.cluster.service_account`?",
            "xtask.toml:15: unknown key `nmae` in mirrors[0]; did you mean `name`?",
        ]
    );
}

#[test]
fn wrong_types_are_errors_naming_file_line_and_key() {
    let cases = [
        (
            "[cluster]\nnamespace = 3\n",
            2,
            "cluster.namespace",
            "a string",
            "an integer",
        ),
        (
            "[images]\nparallelism = \"2\"\n",
            2,
            "images.parallelism",
            "a non-negative integer",
            "a string",
        ),
        (
            "[registry]\nplain_http = \"yes\"\n",
            2,
            "registry.plain_http",
            "a boolean (true or false)",
            "a string",
        ),
        (
            "[timeouts]\nstall_grace_secs = -1\n",
            2,
            "timeouts.stall_grace_secs",
            "a non-negative integer",
            "a negative integer",
        ),
        ("cluster = \"x\"\n", 1, "cluster", "a table", "a string"),
        (
            "default_profile = 1\n",
            1,
            "default_profile",
            "a string",
            "an integer",
        ),
        (
            "\n[profiles.p]\ncluster = []\n",
            3,
            "profiles.p.cluster",
            "a table",
            "an array",
        ),
        (
            "mirrors = \"x\"\n",
            1,
            "mirrors",
            "an array of tables ([[mirrors]])",
            "a string",
        ),
        (
            "[[mirrors]]\nname = \"x\"\n",
            1,
            "mirrors[0].source",
            "a non-empty string (the image to mirror)",
            "missing or empty",
        ),
    ];
    for (src, line, key, expected, found) in cases {
        let s = Sandbox::new();
        s.write("xtask.toml", src);
        match s.error(&s.inputs()) {
            ConfigError::TomlType {
                line: l,
                key: k,
                expected: e,
                found: f,
                ..
            } => {
                assert_eq!((l, k.as_str(), e, f), (line, key, expected, found), "{src}");
            }
            other => panic!("{src}: unexpected {other}"),
        }
    }
    let s = Sandbox::new();
    s.write("xtask.toml", "[cluster]\nnamespace = 3\n");
    assert_eq!(
        s.error(&s.inputs()).to_string(),
        "xtask.toml:2: `cluster.namespace` must be a string, not an integer"
    );
}

#[test]
fn password_in_toml_is_an_error_with_the_way_out() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[registry]\nhost = \"h\"\npassword = \"hunter2-in-toml\"\n",
    );
    let e = s.error(&s.inputs());
    assert!(matches!(e, ConfigError::SecretInToml { line: 3, .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with("xtask.toml:3: `registry.password` is not allowed"),
        "{msg}"
    );
    assert!(msg.contains("XTASK_REGISTRY_PASSWORD"), "{msg}");
    assert!(msg.contains("docker login"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");

    let s = Sandbox::new();
    s.write("xtask.toml", "[profiles.x.registry]\npassword = \"p\"\n");
    let msg = s.error(&s.inputs()).to_string();
    assert!(msg.contains("`profiles.x.registry.password`"), "{msg}");

    let s = Sandbox::new();
    s.write("xtask.toml", "[cluster]\ntoken = \"t\"\n");
    let msg = s.error(&s.inputs()).to_string();
    assert!(
        msg.contains("`cluster.token`") && msg.contains("ARGO_TOKEN"),
        "{msg}"
    );
}

#[test]
fn invalid_toml_names_the_line_without_echoing_it() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[cluster]\nnamespace = \"a\"\nuser = \"secret-ish\n",
    );
    let e = s.error(&s.inputs());
    assert!(matches!(e, ConfigError::TomlSyntax { line: 3, .. }), "{e}");
    assert!(!e.to_string().contains("secret-ish"), "{e}");

    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[cluster]\nnamespace = \"a\"\nnamespace = \"b\"\n",
    );
    let e = s.error(&s.inputs());
    assert!(matches!(e, ConfigError::TomlSyntax { line: 3, .. }), "{e}");
}

#[test]
fn project_in_host_and_project_key_conflict() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[registry]\nhost = \"h/a\"\nproject = \"b\"\n",
    );
    let msg = s.error(&s.inputs()).to_string();
    assert!(
        msg.starts_with("xtask.toml [registry] host: invalid registry:"),
        "{msg}"
    );
    assert!(msg.contains("[registry] project"), "{msg}");
}

#[test]
fn host_with_project_alone_is_accepted() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[registry]\nhost = \"127.0.0.1:5443/vcity\"\n",
    );
    let r = s.resolve(&s.inputs());
    assert_eq!(
        r.settings.registry.unwrap().value.project.as_deref(),
        Some("vcity")
    );
}

#[test]
fn unknown_profile_is_an_error_with_a_suggestion() {
    let s = Sandbox::new();
    s.write("xtask.toml", WORKSPACE_TOML_EXAMPLE);
    let mut inputs = s.inputs();
    inputs.profile = Some("lokal".into());
    let msg = s.error(&inputs).to_string();
    assert_eq!(
        msg,
        "profile `lokal` (--profile) is not defined in xtask.toml; did you mean `local`?; defined profiles: local, pagoda"
    );

    let s = Sandbox::new();
    let msg = s
        .error(&s.inputs_with_env(&[("XTASK_PROFILE", "local")]))
        .to_string();
    assert_eq!(
        msg,
        "profile `local` (env XTASK_PROFILE) was asked for, but no xtask.toml was found"
    );

    let s = Sandbox::new();
    s.write("xtask.toml", "default_profile = \"gone\"\n");
    let msg = s.error(&s.inputs()).to_string();
    assert!(
        msg.starts_with("profile `gone` (xtask.toml default_profile) is not defined"),
        "{msg}"
    );
}

#[test]
fn numbers_in_other_radixes() {
    let s = Sandbox::new();
    s.write("xtask.toml", "[timeouts]\nstall_grace_secs = 0x10\n");
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.timeouts.stall_grace_secs.value, 16);
}

//! The table, the JSON, the sources list, masking, and `missing_for`.

mod common;

use common::Sandbox;
use kit_config::{
    Need, Secret, SourceKind, SourceStatus, WORKSPACE_TOML_EXAMPLE, render_table, resolve, to_json,
};

const TOKEN: &str = "tok3n-SECRET-value";
const PASSWORD: &str = "passw0rd-SECRET-value";

fn assert_no_secret(text: &str, what: &str) {
    for needle in [TOKEN, PASSWORD, "SECRET", "tok3n", "passw0rd"] {
        assert!(!text.contains(needle), "{what} shows `{needle}`:\n{text}");
    }
}

#[test]
fn secrets_never_show_whatever_their_source() {
    type Setup = fn(&Sandbox) -> kit_config::Inputs;
    let setups: [(&str, Setup); 4] = [
        ("env", |s| {
            s.inputs_with_env(&[
                ("ARGO_TOKEN", &format!("Bearer {TOKEN}")),
                ("XTASK_REGISTRY_PASSWORD", PASSWORD),
            ])
        }),
        ("env file", |s| {
            s.write(
                "hera.bash",
                &format!("ARGO_TOKEN='Bearer {TOKEN}'\nXTASK_REGISTRY_PASSWORD={PASSWORD}\n"),
            );
            s.inputs()
        }),
        ("hera.config", |s| {
            s.write("hera.config", &format!("argo_token='{TOKEN}'\n"));
            s.inputs_with_env(&[("XTASK_REGISTRY_PASSWORD", PASSWORD)])
        }),
        ("flags", |s| {
            let mut i = s.inputs();
            i.flags.argo_token = Some(Secret::new(TOKEN));
            i.flags.registry_password = Some(Secret::new(PASSWORD));
            i
        }),
    ];
    for (name, setup) in setups {
        let s = Sandbox::new();
        s.write("xtask.toml", WORKSPACE_TOML_EXAMPLE);
        let inputs = setup(&s);
        assert_no_secret(&format!("{inputs:?}"), "Debug of Inputs");
        let r = resolve(&inputs).unwrap();
        assert_eq!(
            r.settings.argo_token.as_ref().unwrap().value.expose(),
            TOKEN
        );
        assert_eq!(
            r.settings
                .registry_password
                .as_ref()
                .unwrap()
                .value
                .expose(),
            PASSWORD
        );
        let table = render_table(&r);
        assert!(table.contains("***"), "{table}");
        assert_no_secret(&table, name);
        let json = to_json(&r);
        assert_eq!(json["settings"]["argo_token"]["value"], "***");
        assert_eq!(json["settings"]["registry_password"]["value"], "***");
        assert_no_secret(&json.to_string(), name);
        assert_no_secret(&format!("{r:?}"), name);
        assert_no_secret(&format!("{r:#?}"), name);
        assert_no_secret(&format!("{:?}", r.settings.argo_bearer()), name);
    }
}

#[test]
fn parsed_file_debug_hides_values() {
    let p = kit_config::env_file::parse(
        std::path::Path::new("hera.bash"),
        format!("ARGO_TOKEN={TOKEN}\n").as_bytes(),
        &Default::default(),
    )
    .unwrap();
    assert_no_secret(&format!("{p:?}"), "ParsedFile");
}

#[test]
fn table_lists_every_setting_value_and_origin() {
    let s = Sandbox::new();
    s.write("hera.config", "argo_namespace='vcity'\n");
    let r = s.resolve(&s.inputs_with_env(&[("ARGO_SERVER", "h:1")]));
    let table = render_table(&r);
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(table.starts_with("SETTING"), "{table}");
    assert_eq!(line("argo_namespace"), "argo_namespace vcity hera.config:1");
    assert_eq!(
        line("argo_server"),
        "argo_server https://h:1 env ARGO_SERVER"
    );
    assert_eq!(line("argo_token"), "argo_token (unset) -");
    assert_eq!(line("build_parallelism"), "build_parallelism 2 default");
    assert_eq!(line("mirrors"), "mirrors (none) default");
    for info in kit_config::SETTINGS {
        line(info.name);
    }
    assert!(table.contains("sources looked at:"), "{table}");
    assert!(table.contains("env ARGO_SERVER: used"), "{table}");
    assert!(table.contains("hera.config hera.config: used"), "{table}");
}

#[test]
fn table_shows_warnings() {
    let s = Sandbox::new();
    s.write("hera.config", "argo_namspace=x\n");
    let table = render_table(&s.resolve(&s.inputs()));
    assert!(
        table.contains("warnings:\n  hera.config:1: unknown key `argo_namspace`; did you mean `argo_namespace`?"),
        "{table}"
    );
}

#[test]
fn json_shape() {
    let s = Sandbox::new();
    s.write("xtask.toml", WORKSPACE_TOML_EXAMPLE);
    s.write("hera.bash", "\nARGO_NAMESPACE=team\n");
    let mut inputs = s.inputs_with_env(&[("ARGO_SERVER", "h:1")]);
    inputs.flags.kube_context = Some("ctx".into());
    let j = to_json(&s.resolve(&inputs));
    let ns = &j["settings"]["argo_namespace"];
    assert_eq!(ns["value"], "team");
    assert_eq!(ns["origin"]["kind"], "env_file");
    assert_eq!(ns["origin"]["path"], "hera.bash");
    assert_eq!(ns["origin"]["line"], 2);
    assert_eq!(ns["origin"]["display"], "hera.bash:2");
    let server = &j["settings"]["argo_server"];
    assert_eq!(server["origin"]["kind"], "env");
    assert_eq!(server["origin"]["var"], "ARGO_SERVER");
    assert_eq!(j["settings"]["kube_context"]["origin"]["flag"], "--context");
    let reg = &j["settings"]["registry"];
    assert_eq!(reg["value"]["host"], "harbor.pagoda.os.univ-lyon1.fr");
    assert_eq!(reg["value"]["project"], "vcity");
    assert_eq!(reg["origin"]["key"], "registry.host");
    assert_eq!(
        j["settings"]["argo_token"]["value"],
        serde_json::Value::Null
    );
    assert_eq!(
        j["settings"]["argo_token"]["origin"],
        serde_json::Value::Null
    );
    assert_eq!(j["settings"]["build_parallelism"]["value"], 2);
    assert_eq!(j["settings"]["argo_insecure_skip_verify"]["value"], false);
    assert_eq!(
        j["settings"]["kubeconfig"]["value"][0],
        s.home.join(".kube/pagoda.yaml").display().to_string()
    );
    assert_eq!(
        j["settings"]["mirrors"]["value"][0]["target_name"],
        "postgres"
    );
    assert_eq!(j["settings"]["profile"]["value"], "pagoda");
    assert_eq!(j["settings"]["timeouts.run_timeout_secs"]["value"], 7200);
    assert!(j["warnings"].as_array().unwrap().is_empty());
    assert_eq!(j["workspace_root"], s.cwd.display().to_string());
    let sources = j["sources"].as_array().unwrap();
    assert!(
        sources
            .iter()
            .any(|x| x["kind"] == "flag" && x["location"] == "--context" && x["status"] == "used")
    );
}

#[test]
fn sources_report_every_place_looked_at() {
    let s = Sandbox::new();
    s.write("hera.config", "argo_namespace=from-cwd\n");
    s.write_home("hera.config", "argo_namespace=from-home\n");
    let mut inputs = s.inputs_with_env(&[
        ("ARGO_SERVER", "h:1"),
        ("KUBECONFIGMAP", ""),
        ("ARGO_SERVICE_ACCOUNT", "sa"),
    ]);
    inputs.flags.argo_service_account = Some("flag-sa".into());
    let r = s.resolve(&inputs);
    let find = |kind: SourceKind, loc: &str| {
        r.sources
            .iter()
            .find(|x| x.kind == kind && x.location == loc)
            .unwrap_or_else(|| panic!("no source {kind:?} {loc}: {:#?}", r.sources))
    };
    assert_eq!(
        find(SourceKind::Flag, "--service-account").status,
        SourceStatus::Used
    );
    assert_eq!(
        find(SourceKind::Env, "ARGO_SERVER").status,
        SourceStatus::Used
    );
    let overridden = find(SourceKind::Env, "ARGO_SERVICE_ACCOUNT");
    assert_eq!(overridden.status, SourceStatus::Found);
    assert_eq!(overridden.note.as_deref(), Some("overridden by a flag"));
    let empty = find(SourceKind::Env, "KUBECONFIGMAP");
    assert_eq!(empty.status, SourceStatus::Absent);
    assert!(empty.note.as_deref().unwrap().contains("empty"));
    assert_eq!(
        find(SourceKind::Env, "ARGOCONFIG").status,
        SourceStatus::Absent
    );
    assert_eq!(
        find(SourceKind::Env, "ARGO_TOKEN").status,
        SourceStatus::Absent
    );
    assert_eq!(
        find(SourceKind::EnvFile, "hera.bash").status,
        SourceStatus::Absent
    );
    assert_eq!(
        find(SourceKind::HeraConfig, "hera.config").status,
        SourceStatus::Used
    );
    let home = s.home.join("hera.config").display().to_string();
    assert_eq!(
        find(SourceKind::HeraConfig, &home).status,
        SourceStatus::Skipped
    );
    let toml = find(SourceKind::WorkspaceToml, "xtask.toml");
    assert_eq!(toml.status, SourceStatus::Absent);
    assert!(toml.note.as_deref().unwrap().contains("its parents"));
    // every variable the crate reads is listed
    for var in kit_config::env_vars() {
        find(SourceKind::Env, var);
    }
}

#[test]
fn a_file_whose_values_are_all_overridden_is_found_not_used() {
    let s = Sandbox::new();
    s.write("hera.bash", "ARGO_NAMESPACE=file\n");
    s.write("xtask.toml", "[cluster]\nnamespace = \"toml\"\n");
    let r = s.resolve(&s.inputs_with_env(&[("ARGO_NAMESPACE", "env")]));
    let status = |kind| r.sources.iter().find(|x| x.kind == kind).unwrap().status;
    assert_eq!(status(SourceKind::EnvFile), SourceStatus::Found);
    assert_eq!(status(SourceKind::WorkspaceToml), SourceStatus::Found);
}

#[test]
fn argoconfig_marks_its_source_used() {
    let s = Sandbox::new();
    let conf = s.write_root("conf/h.config", "argo_namespace=x\n");
    s.write("hera.config", "argo_namespace=unused\n");
    let r = s.resolve(&s.inputs_with_env(&[("ARGOCONFIG", conf.to_str().unwrap())]));
    let find = |loc: &str| {
        r.sources
            .iter()
            .find(|x| x.location == loc)
            .unwrap()
            .clone()
    };
    assert_eq!(find("ARGOCONFIG").status, SourceStatus::Used);
    assert_eq!(find(conf.to_str().unwrap()).status, SourceStatus::Used);
    assert_eq!(find("hera.config").status, SourceStatus::Skipped);
}

#[test]
fn missing_for_each_need() {
    let s = Sandbox::new();
    let r = s.resolve(&s.inputs());
    let names = |need| {
        r.settings
            .missing_for(need)
            .into_iter()
            .map(|m| m.setting)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(Need::Cluster), vec!["kubeconfig"]);
    assert_eq!(names(Need::Registry), vec!["registry"]);
    assert_eq!(
        names(Need::Run),
        vec![
            "kubeconfig",
            "argo_service_account",
            "volume_claim_name",
            "configmap_name"
        ]
    );
    assert_eq!(names(Need::Fetch), vec!["kubeconfig", "volume_claim_name"]);

    let m = &r.settings.missing_for(Need::Run)[1];
    assert_eq!(
        m.to_string(),
        "argo_service_account: not set; set it with --service-account, ARGO_SERVICE_ACCOUNT (environment or hera.bash), argo_service_account in hera.config, cluster.service_account in xtask.toml"
    );
}

#[test]
fn missing_for_is_empty_when_complete() {
    let s = Sandbox::new();
    let kube = s.write("kube.yaml", "");
    let ca = s.write("ca.pem", "");
    let r = s.resolve(&s.inputs_with_env(&[
        ("KUBECONFIG", kube.to_str().unwrap()),
        ("ARGO_SERVICE_ACCOUNT", "sa"),
        ("KUBEVOLUMECLAIMNAME", "data"),
        ("KUBECONFIGMAP", "proxy"),
        ("XTASK_REGISTRY", "h/p"),
        ("XTASK_REGISTRY_CA", ca.to_str().unwrap()),
    ]));
    for need in [Need::Cluster, Need::Registry, Need::Run, Need::Fetch] {
        assert!(r.settings.missing_for(need).is_empty(), "{need:?}");
    }
}

#[test]
fn nonexistent_files_are_problems_naming_path_and_origin() {
    let s = Sandbox::new();
    s.write("hera.config", "\nk8s_config_file=nope.yaml\n");
    let r = s.resolve(
        &s.inputs_with_env(&[("XTASK_REGISTRY", "h"), ("XTASK_REGISTRY_CA", "/no/ca.pem")]),
    );
    let m = r.settings.missing_for(Need::Cluster);
    assert_eq!(m.len(), 1);
    let text = m[0].to_string();
    assert!(
        text.starts_with(&format!(
            "kubeconfig: {} (from hera.config:2) does not exist",
            s.cwd.join("nope.yaml").display()
        )),
        "{text}"
    );
    let m = r.settings.missing_for(Need::Registry);
    assert_eq!(m.len(), 1);
    assert!(
        m[0].to_string().starts_with(
            "registry_ca_file: /no/ca.pem (from env XTASK_REGISTRY_CA) does not exist"
        ),
        "{}",
        m[0]
    );
}

#[test]
fn kubeconfig_list_is_fine_when_one_file_exists() {
    let s = Sandbox::new();
    let kube = s.write("kube.yaml", "");
    let list = format!("/nonexistent.yaml:{}", kube.display());
    let r = s.resolve(&s.inputs_with_env(&[("KUBECONFIG", &list)]));
    assert!(r.settings.missing_for(Need::Cluster).is_empty());
}

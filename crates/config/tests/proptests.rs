//! Both line parsers, and resolution over arbitrary files: never a panic; valid
//! values round-trip.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::Sandbox;
use kit_config::{env_file, hera_config};
use proptest::prelude::*;

/// Lines mixing valid forms, near misses and noise.
fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("argo_namespace".to_string()),
        Just("ARGO_TOKEN".to_string()),
        Just("KUBECONFIG".to_string()),
        "[A-Za-z_][A-Za-z0-9_.-]{0,12}",
    ];
    let value = "[ -~]{0,20}";
    prop_oneof![
        (key.clone(), value).prop_map(|(k, v)| format!("{k}={v}")),
        (key.clone(), "[a-z0-9 ]{0,10}").prop_map(|(k, v)| format!("{k}='{v}'")),
        (key.clone(), "[a-z0-9 $]{0,10}").prop_map(|(k, v)| format!("export {k}=\"{v}\"")),
        (key.clone(), "[a-z0-9]{0,10}").prop_map(|(k, v)| format!("{k}: {v}")),
        (key, "[a-z0-9]{0,10}").prop_map(|(k, v)| format!("{k} {v}   # c")),
        Just("# comment".to_string()),
        Just("; comment".to_string()),
        Just("[section]".to_string()),
        Just(String::new()),
        "[=:'\"`$#;{}()\\\\ \t\r\u{feff}a-zA-Z0-9é]{0,30}",
        any::<String>(),
    ]
}

fn lines() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..20).prop_map(|l| l.join("\n"))
}

/// No regression files written into the repository.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines as the parsers count them: `\n`, `\r\n` and a lone `\r` each end one.
fn line_count(text: &str) -> usize {
    text.replace("\r\n", "\n").split(['\n', '\r']).count()
}

fn env() -> BTreeMap<String, String> {
    BTreeMap::from([("HOME".to_string(), "/home/u".to_string())])
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn hera_config_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = hera_config::parse(Path::new("hera.config"), &bytes);
    }

    #[test]
    fn env_file_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = env_file::parse(Path::new("hera.bash"), &bytes, &env());
    }

    #[test]
    fn hera_config_never_panics_on_line_mixes(text in lines()) {
        let total = line_count(&text);
        if let Ok(p) = hera_config::parse(Path::new("hera.config"), text.as_bytes()) {
            for e in &p.entries {
                prop_assert!(e.line >= 1 && e.line <= total);
            }
        }
    }

    #[test]
    fn env_file_never_panics_on_line_mixes(text in lines()) {
        let total = line_count(&text);
        if let Ok(p) = env_file::parse(Path::new("hera.bash"), text.as_bytes(), &env()) {
            for e in &p.entries {
                prop_assert!(e.line >= 1 && e.line <= total);
            }
        }
    }

    #[test]
    fn hera_config_values_round_trip_in_every_form(value in "[A-Za-z0-9/._@-][A-Za-z0-9:/._@ -]{0,30}[A-Za-z0-9:/._@-]") {
        for form in ["k8s_config_file='{}'", "k8s_config_file=\"{}\"", "k8s_config_file: '{}'  ", "k8s_config_file {}"] {
            let src = form.replace("{}", &value);
            // an unquoted value with spaces is still taken whole; a leading `:` or
            // `=` would be read as the separator, hence the first character class
            let p = hera_config::parse(Path::new("hera.config"), src.as_bytes()).unwrap();
            prop_assert_eq!(&p.entries[0].value, &value);
        }
    }

    #[test]
    fn env_file_single_quoted_values_round_trip(value in any::<String>()) {
        let quoted = format!("'{}'", value.replace('\'', r"'\''"));
        let src = format!("# c\nexport ARGO_TOKEN={quoted}  # c\nARGO_NAMESPACE=x\n");
        let p = env_file::parse(Path::new("hera.bash"), src.as_bytes(), &env()).unwrap();
        prop_assert_eq!(&p.entries[0].value, &value.replace("\r\n", "\n").replace('\r', "\n"));
        prop_assert_eq!(p.entries[0].line, 2);
        prop_assert_eq!(&p.entries[1].key, "ARGO_NAMESPACE");
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn resolve_never_panics_on_arbitrary_files(
        bash in lines(),
        hera in lines(),
        toml in prop_oneof![
            lines(),
            Just(kit_config::WORKSPACE_TOML_EXAMPLE.to_string()),
            "(\\[[a-z.]{1,20}\\]\n|[a-z_]{1,12} = (\"[ -~]{0,10}\"|[0-9-]{1,4}|true|\\[\\])\n){0,8}",
        ],
        ns in proptest::option::of("[ -~]{0,12}"),
        profile in proptest::option::of("[a-z]{0,6}"),
    ) {
        let s = Sandbox::new();
        s.write("hera.bash", &bash);
        s.write("hera.config", &hera);
        s.write("xtask.toml", &toml);
        let mut inputs = s.inputs_with_env(&[("HOME", "/home/u")]);
        inputs.profile = profile;
        if let Some(ns) = ns {
            inputs.env.insert("ARGO_NAMESPACE".into(), ns);
        }
        if let Ok(r) = kit_config::resolve(&inputs) {
            let _ = kit_config::render_table(&r);
            let _ = kit_config::to_json(&r);
            for need in [kit_config::Need::Cluster, kit_config::Need::Run] {
                let _ = r.settings.missing_for(need);
            }
        }
    }
}

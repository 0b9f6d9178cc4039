//! hera.config: every syntax form, its errors, and its lookup.

mod common;

use std::path::Path;

use common::{Sandbox, fixture};
use kit_config::{ConfigError, Origin, hera_config};

fn parse(src: &str) -> kit_config::ParsedFile {
    hera_config::parse(Path::new("hera.config"), src.as_bytes()).expect("parses")
}

fn single(src: &str) -> (String, String) {
    let p = parse(src);
    assert_eq!(p.entries.len(), 1, "{src:?}");
    (p.entries[0].key.clone(), p.entries[0].value.clone())
}

fn error(src: &str) -> String {
    hera_config::parse(Path::new("hera.config"), src.as_bytes())
        .expect_err(src)
        .to_string()
}

#[test]
fn each_form_gives_the_same_value() {
    for src in [
        "argo_namespace='vcity'",
        "argo_namespace=\"vcity\"",
        "argo_namespace=vcity",
        "argo_namespace: vcity",
        "argo_namespace vcity",
        "argo_namespace = 'vcity'",
        "argo_namespace   :   \"vcity\"",
        "  argo_namespace='vcity'   ",
        "argo_namespace='vcity'  # trailing comment",
        "argo_namespace='vcity' ; trailing comment",
        "argo_namespace\tvcity\t",
    ] {
        assert_eq!(
            single(src),
            ("argo_namespace".into(), "vcity".into()),
            "{src:?}"
        );
    }
}

#[test]
fn quotes_keep_spaces_and_only_one_pair_is_removed() {
    assert_eq!(
        single("argo_token='Bearer v2:abc def'").1,
        "Bearer v2:abc def"
    );
    assert_eq!(single("argo_token=\"a b\"").1, "a b");
    assert_eq!(single("argo_token='\"a\"'").1, "\"a\"");
    assert_eq!(single("argo_token=''''").1, "''");
    assert_eq!(single("argo_token='it's'").1, "it's");
}

#[test]
fn unquoted_values_are_taken_whole() {
    assert_eq!(single("argo_token=ab#cd;ef").1, "ab#cd;ef");
    assert_eq!(
        single("argo_server=https://h:2746/x?y=1").1,
        "https://h:2746/x?y=1"
    );
}

#[test]
fn empty_value_is_recorded_but_not_used() {
    let p = parse("argo_token=\nargo_namespace=''\nargo_server: \n");
    assert_eq!(p.entries.len(), 3);
    assert!(p.get("argo_token").is_none());
    assert!(p.get("argo_namespace").is_none());
    assert!(p.get("argo_server").is_none());
}

#[test]
fn comments_sections_blank_lines_bom_and_crlf() {
    let p = parse("\u{feff}# c\n; c\n\n[hera]\n  [ spaced section ]  \r\nargo_namespace=a\r\n");
    assert_eq!(p.entries.len(), 1);
    assert_eq!(p.entries[0].value, "a");
    assert_eq!(p.entries[0].line, 6);
    assert!(p.warnings.is_empty());
}

#[test]
fn fixture_file_lines_and_values() {
    let p = parse(&fixture("hera.config"));
    let got: Vec<(&str, &str, usize)> = p
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("argo_server", "argo.pagoda.example:443", 4),
            ("argo_namespace", "vcity", 5),
            ("argo_service_account", "vcity-sa", 6),
            ("k8s_configmap_name", "vcity-proxy", 7),
            ("k8s_volume_claim_name", "vcity-data", 8),
            ("argo_token", "Bearer v2:abc def", 9),
            ("k8s_config_file", "", 10),
            ("k8s_config_file", "kube/pagoda.yaml", 12),
        ]
    );
    assert_eq!(p.get("k8s_config_file").unwrap().line, 12);
    // The repeated key warns, naming both lines.
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(
        p.warnings[0].to_string(),
        "hera.config:12: `k8s_config_file` is set again (first at line 10); the last one wins"
    );
}

#[test]
fn unknown_keys_warn_with_the_closest_key() {
    let p = parse("argo_namspace=x\nARGO_TOKEN=y\nsomething_else=z\n");
    let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w[0],
        "hera.config:1: unknown key `argo_namspace`; did you mean `argo_namespace`?"
    );
    assert_eq!(
        w[1],
        "hera.config:2: unknown key `ARGO_TOKEN`; did you mean `argo_token`?"
    );
    assert!(w[2].starts_with("hera.config:3: unknown key `something_else`; known keys: "));
    assert!(w[2].contains("k8s_config_file"));
}

#[test]
fn malformed_lines_name_file_line_and_hint() {
    let e = error("# ok\n= value\n");
    assert!(e.starts_with("hera.config:2: expected a key name"), "{e}");
    assert!(
        e.contains("hint: write one setting per line as key='value'"),
        "{e}"
    );

    let e = error("argo_namespace\n");
    assert!(e.starts_with("hera.config:1: a key without a value"), "{e}");
    assert!(e.contains("hint: "), "{e}");

    let e = error("argo_namespace='vcity\n");
    assert!(
        e.starts_with("hera.config:1: the quote that opens the value is never closed"),
        "{e}"
    );

    let e = error("argo_namespace='a' b\n");
    assert!(
        e.starts_with("hera.config:1: unexpected text after the closing quote"),
        "{e}"
    );

    let e = error("\n\n[section\n");
    assert!(
        e.starts_with("hera.config:3: a section header must end with `]`"),
        "{e}"
    );

    let e = error("argo/namespace=x\n");
    assert!(
        e.starts_with("hera.config:1: unexpected character after the key name"),
        "{e}"
    );
}

#[test]
fn malformed_line_errors_do_not_echo_the_line() {
    let e = error("sup3rs3cret/t0ken\n");
    assert!(!e.contains("sup3rs3cret"), "{e}");
}

#[test]
fn invalid_utf8_names_the_line() {
    let e = hera_config::parse(
        Path::new("hera.config"),
        b"argo_namespace=a\nargo_token=\xff\xfe\n",
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e}");
}

#[test]
fn lookup_prefers_argoconfig_then_cwd_then_home() {
    let s = Sandbox::new();
    s.write_home("hera.config", "argo_namespace=from-home\n");
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.argo_namespace.value, "from-home");
    assert_eq!(
        r.settings.argo_namespace.origin,
        Origin::HeraConfig {
            path: s.home.join("hera.config"),
            line: 1
        }
    );

    s.write("hera.config", "# cwd\nargo_namespace=from-cwd\n");
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.argo_namespace.value, "from-cwd");
    assert_eq!(
        r.settings.argo_namespace.origin.to_string(),
        "hera.config:2"
    );

    let elsewhere = s.write_root("conf/team.config", "argo_namespace=from-argoconfig\n");
    let inputs = s.inputs_with_env(&[("ARGOCONFIG", elsewhere.to_str().unwrap())]);
    let r = s.resolve(&inputs);
    assert_eq!(r.settings.argo_namespace.value, "from-argoconfig");
    assert_eq!(
        r.settings.argo_namespace.origin.to_string(),
        format!("{}:1", elsewhere.display())
    );
}

#[test]
fn argoconfig_relative_and_tilde_paths() {
    let s = Sandbox::new();
    s.write("conf/h.config", "argo_namespace=rel\n");
    s.write_home("h.config", "argo_namespace=tilde\n");
    let r = s.resolve(&s.inputs_with_env(&[("ARGOCONFIG", "conf/h.config")]));
    assert_eq!(r.settings.argo_namespace.value, "rel");
    let r = s.resolve(&s.inputs_with_env(&[("ARGOCONFIG", "~/h.config")]));
    assert_eq!(r.settings.argo_namespace.value, "tilde");
}

#[test]
fn missing_argoconfig_file_is_an_error_naming_it() {
    let s = Sandbox::new();
    s.write("hera.config", "argo_namespace=x\n");
    let e = s.error(&s.inputs_with_env(&[("ARGOCONFIG", "/nonexistent/hera.config")]));
    assert!(matches!(e, ConfigError::ArgoconfigMissing { .. }));
    let msg = e.to_string();
    assert!(msg.contains("ARGOCONFIG"), "{msg}");
    assert!(msg.contains("/nonexistent/hera.config"), "{msg}");
    assert!(msg.contains("env ARGOCONFIG"), "{msg}");
}

#[test]
fn relative_kubeconfig_is_resolved_from_the_file_folder() {
    let s = Sandbox::new();
    let conf = s.write_root("conf/hera.config", "k8s_config_file='kube/c.yaml'\n");
    let r = s.resolve(&s.inputs_with_env(&[("ARGOCONFIG", conf.to_str().unwrap())]));
    assert_eq!(
        r.settings.kubeconfig.unwrap().value,
        vec![s.root.join("conf/kube/c.yaml")]
    );
}

#[test]
fn token_bearer_prefix_is_removed() {
    let s = Sandbox::new();
    s.write("hera.config", &fixture("hera.config"));
    let r = s.resolve(&s.inputs());
    let token = r.settings.argo_token.as_ref().unwrap();
    assert_eq!(token.value.expose(), "v2:abc def");
    assert_eq!(token.origin.to_string(), "hera.config:9");
    assert_eq!(
        r.settings.argo_bearer().unwrap().expose(),
        "Bearer v2:abc def"
    );
    assert_eq!(
        r.settings.argo_server.unwrap().value,
        "https://argo.pagoda.example:443"
    );
}

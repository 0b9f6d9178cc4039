//! hera.bash: every syntax form, its errors, and its lookup.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Sandbox, fixture};
use kit_config::{ConfigError, Origin, env_file};

fn parse_with(src: &str, env: &[(&str, &str)]) -> kit_config::ParsedFile {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env_file::parse(Path::new("hera.bash"), src.as_bytes(), &env).expect(src)
}

fn value(src: &str) -> String {
    let p = parse_with(src, &[]);
    assert_eq!(p.entries.len(), 1, "{src:?}");
    p.entries[0].value.clone()
}

fn error(src: &str) -> String {
    env_file::parse(Path::new("hera.bash"), src.as_bytes(), &BTreeMap::new())
        .expect_err(src)
        .to_string()
}

#[test]
fn plain_and_export_forms() {
    assert_eq!(value("ARGO_NAMESPACE=vcity"), "vcity");
    assert_eq!(value("export ARGO_NAMESPACE=vcity"), "vcity");
    assert_eq!(value("  export\tARGO_NAMESPACE=vcity  "), "vcity");
    assert_eq!(parse_with("export=1", &[]).entries[0].key, "export");
}

#[test]
fn inline_comments_only_after_a_space() {
    assert_eq!(value("ARGO_NAMESPACE=vcity # the team namespace"), "vcity");
    assert_eq!(value("ARGO_NAMESPACE=vcity\t# tab before"), "vcity");
    assert_eq!(value("ARGO_TOKEN=abc#def"), "abc#def");
    assert_eq!(value("ARGO_TOKEN='abc # def'"), "abc # def");
    assert_eq!(
        value("ARGO_TOKEN=\"abc # def\" # real comment"),
        "abc # def"
    );
}

#[test]
fn quoted_values_with_spaces() {
    assert_eq!(value("ARGO_TOKEN='Bearer v2:abc def'"), "Bearer v2:abc def");
    assert_eq!(
        value("ARGO_TOKEN=\"Bearer v2:abc def\""),
        "Bearer v2:abc def"
    );
    assert_eq!(value("ARGO_TOKEN=Bearer\\ v2"), "Bearer v2");
    assert_eq!(value("ARGO_TOKEN='a'\"b c\"d"), "ab cd");
}

#[test]
fn double_quote_escapes_follow_bash() {
    assert_eq!(value(r#"A="q\"q \\ \$x \`y\` \n""#), r#"q"q \ $x `y` \n"#);
    assert_eq!(value(r"A='no \escapes\'"), r"no \escapes\");
}

#[test]
fn empty_values_are_unset() {
    let p = parse_with(
        "ARGO_TOKEN=\nARGO_SERVER=''\nARGO_NAMESPACE=\"\" # c\nKUBECONFIG= # c\n",
        &[],
    );
    assert_eq!(p.entries.len(), 4);
    for k in ["ARGO_TOKEN", "ARGO_SERVER", "ARGO_NAMESPACE", "KUBECONFIG"] {
        assert!(p.get(k).is_none(), "{k}");
    }
}

#[test]
fn export_without_value_is_ignored() {
    let p = parse_with(
        "ARGO_NAMESPACE=a\nexport ARGO_NAMESPACE\nexport ARGO_SERVER # c\n",
        &[],
    );
    assert_eq!(p.entries.len(), 1);
}

#[test]
fn multi_line_quoted_value_keeps_its_first_line() {
    let p = parse_with("A='one\ntwo'\nARGO_NAMESPACE=x\n", &[]);
    assert_eq!(p.entries[0].value, "one\ntwo");
    assert_eq!(p.entries[0].line, 1);
    assert_eq!(p.entries[1].line, 3);
}

#[test]
fn backslash_newline_continues_an_unquoted_value() {
    let p = parse_with("A=ab\\\ncd\nB=x\n", &[]);
    assert_eq!(p.entries[0].value, "abcd");
    assert_eq!(p.entries[1].line, 3);
}

#[test]
fn variables_expand_from_earlier_lines_then_the_given_env() {
    let p = parse_with(
        "BASE=/opt/kube\nKUBECONFIG=$BASE/a:${HOME}/b\nARGO_TOKEN='$NOT'\n",
        &[("HOME", "/home/u")],
    );
    assert_eq!(p.get("KUBECONFIG").unwrap().value, "/opt/kube/a:/home/u/b");
    assert_eq!(p.get("ARGO_TOKEN").unwrap().value, "$NOT");
    assert!(p.warnings.is_empty());
}

#[test]
fn unset_variables_expand_to_nothing_with_a_warning() {
    let p = parse_with("ARGO_NAMESPACE=a$MISSING\n", &[]);
    assert_eq!(p.entries[0].value, "a");
    assert_eq!(
        p.warnings[0].to_string(),
        "hera.bash:1: `$MISSING` is not set here; it expands to nothing"
    );
}

#[test]
fn command_substitution_is_an_error_for_our_keys_and_skipped_otherwise() {
    let p = parse_with("OTHER=$(cat file)\nALSO=`date`\nX=${A:-b}\n", &[]);
    assert!(p.entries.is_empty());
    assert_eq!(p.warnings.len(), 3);
    assert!(
        p.warnings[0]
            .to_string()
            .starts_with("hera.bash:1: `OTHER` skipped: command substitution")
    );

    let e = error("\nARGO_TOKEN=$(pass show argo)\n");
    assert!(
        e.starts_with("hera.bash:2: command substitution `$(...)` cannot be evaluated"),
        "{e}"
    );
    assert!(
        e.contains("hint: write the value of ARGO_TOKEN itself"),
        "{e}"
    );
    assert!(!e.contains("pass show"), "{e}");
}

#[test]
fn fixture_file() {
    let p = parse_with(&fixture("hera.bash"), &[("HOME", "/home/u")]);
    let get = |k: &str| p.get(k).map(|e| (e.value.as_str(), e.line));
    assert_eq!(get("ARGO_NAMESPACE"), Some(("vcity", 3)));
    assert_eq!(get("ARGO_SERVER"), Some(("argo.pagoda.example:443", 4)));
    assert_eq!(get("ARGO_TOKEN"), Some(("Bearer v2:abc def", 5)));
    assert_eq!(get("ARGO_SERVICE_ACCOUNT"), Some(("vcity-sa", 6)));
    assert_eq!(get("KUBECONFIGMAP"), None);
    assert_eq!(
        get("KUBEVOLUMECLAIMNAME"),
        Some(("vcity-data#not-a-comment", 8))
    );
    assert_eq!(
        get("XTASK_REGISTRY"),
        Some(("harbor.pagoda.os.univ-lyon1.fr/vcity", 9))
    );
    assert_eq!(get("XTASK_REGISTRY_USER"), Some(("robot$vcity", 10)));
    assert_eq!(get("KUBECONFIG"), Some(("/home/u/.kube/pagoda.yaml", 11)));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn crlf_file() {
    let p = parse_with(&fixture("crlf.bash"), &[]);
    assert_eq!(p.get("ARGO_NAMESPACE").unwrap().value, "vcity");
    assert_eq!(p.get("ARGO_SERVER").unwrap().line, 2);
}

#[test]
fn duplicates_and_near_misses_warn() {
    let p = parse_with(
        "ARGO_NAMESPACE=a\nARGO_NAMESPACE=b\nARGO_NAMESPACES=c\nPATH=/bin\n",
        &[],
    );
    assert_eq!(p.get("ARGO_NAMESPACE").unwrap().value, "b");
    let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            "hera.bash:2: `ARGO_NAMESPACE` is set again (first at line 1); the last one wins",
            "hera.bash:3: `ARGO_NAMESPACES` is not a variable this tool reads; did you mean `ARGO_NAMESPACE`?",
        ]
    );
}

#[test]
fn malformed_lines() {
    let cases = [
        ("A = b", "hera.bash:1: space before `=`"),
        ("A= b", "hera.bash:1: space after `=`"),
        ("A=a b", "hera.bash:1: unquoted space in the value"),
        (
            "\nA='abc",
            "hera.bash:2: the ' quote opened on this line is never closed",
        ),
        (
            "A=\"abc",
            "hera.bash:1: the \" quote opened on this line is never closed",
        ),
        (
            "alias k=kubectl",
            "hera.bash:1: this line is not an assignment",
        ),
        ("1A=b", "hera.bash:1: this line is not an assignment"),
        (
            "A-B=c",
            "hera.bash:1: unexpected character in the variable name",
        ),
        (
            "A=b; B=c",
            "hera.bash:1: `;` outside quotes is shell syntax",
        ),
        ("A=${B", "hera.bash:1: `${` is never closed"),
        ("JUSTAWORD", "hera.bash:1: this line is not an assignment"),
        ("export", "hera.bash:1: this line is not an assignment"),
    ];
    for (src, want) in cases {
        let e = error(src);
        assert!(e.starts_with(want), "{src:?}: {e}");
        assert!(e.contains("\n  hint: "), "{src:?}: {e}");
    }
}

#[test]
fn malformed_line_errors_do_not_echo_values() {
    let e = error("ARGO_TOKEN=s3cr3t-value and more\n");
    assert!(!e.contains("s3cr3t"), "{e}");
    let e = error("s3cr3tvalue\n");
    assert!(!e.contains("s3cr3t"), "{e}");
}

#[test]
fn lookup_cwd_hera_bash_and_env_file_flag() {
    let s = Sandbox::new();
    s.write("hera.bash", "ARGO_NAMESPACE=from-cwd\n");
    let r = s.resolve(&s.inputs());
    assert_eq!(r.settings.argo_namespace.value, "from-cwd");
    assert_eq!(r.settings.argo_namespace.origin.to_string(), "hera.bash:1");

    let other = s.write_root("envs/pagoda.bash", "\nARGO_NAMESPACE=from-flag-file\n");
    let mut inputs = s.inputs();
    inputs.env_file = Some(other.clone());
    let r = s.resolve(&inputs);
    assert_eq!(r.settings.argo_namespace.value, "from-flag-file");
    assert_eq!(
        r.settings.argo_namespace.origin,
        Origin::EnvFile {
            path: other,
            line: 2
        }
    );
}

#[test]
fn env_file_flag_relative_to_cwd() {
    let s = Sandbox::new();
    s.write("envs/a.bash", "ARGO_NAMESPACE=rel\n");
    let mut inputs = s.inputs();
    inputs.env_file = Some("envs/a.bash".into());
    let r = s.resolve(&inputs);
    assert_eq!(
        r.settings.argo_namespace.origin.to_string(),
        "envs/a.bash:1"
    );
}

#[test]
fn missing_env_file_flag_is_an_error() {
    let s = Sandbox::new();
    let mut inputs = s.inputs();
    inputs.env_file = Some("nope.bash".into());
    let e = s.error(&inputs);
    assert!(matches!(e, ConfigError::EnvFileMissing { .. }));
    let msg = e.to_string();
    assert!(msg.starts_with("--env-file "), "{msg}");
    assert!(msg.contains("nope.bash"), "{msg}");
    assert!(msg.contains("does not exist"), "{msg}");
}

#[test]
fn kubeconfig_list_is_split_and_relative_to_the_file() {
    let s = Sandbox::new();
    s.write("cfg/hera.bash", "KUBECONFIG=a.yaml::~/b.yaml\n");
    let mut inputs = s.inputs();
    inputs.env_file = Some("cfg/hera.bash".into());
    let r = s.resolve(&inputs);
    assert_eq!(
        r.settings.kubeconfig.unwrap().value,
        vec![s.cwd.join("cfg/a.yaml"), s.home.join("b.yaml")]
    );
}

#[test]
fn bad_bool_in_env_file_names_file_and_line() {
    let s = Sandbox::new();
    s.write("hera.bash", "# tls\nARGO_INSECURE_SKIP_VERIFY=sometimes\n");
    let e = s.error(&s.inputs()).to_string();
    assert_eq!(
        e,
        "hera.bash:2: invalid argo_insecure_skip_verify: `sometimes` is not a boolean; use true/false, 1/0 or yes/no"
    );
}

#[test]
fn expansion_reads_only_the_injected_env() {
    let s = Sandbox::new();
    s.write("hera.bash", "ARGO_NAMESPACE=$TEAM_NS\n");
    let r = s.resolve(&s.inputs_with_env(&[("TEAM_NS", "vcity")]));
    assert_eq!(r.settings.argo_namespace.value, "vcity");
}

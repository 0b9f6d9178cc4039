//! Issue 18, hostile and odd input: odd line endings, huge values, `$` in secrets,
//! inline comments, absurd durations, dotted TOML keys. Secrets never show.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Sandbox, fixture};
use kit_config::{ConfigError, env_file, hera_config};

const TEN_MB: usize = 10_000_000;

/// An error message stays short and never holds `secret`.
fn assert_short_without(message: &str, secret: &str) {
    assert!(
        message.len() < 600,
        "{} bytes: {}",
        message.len(),
        &message[..600]
    );
    assert!(!message.contains(secret), "{message}");
}

#[test]
fn cr_only_hera_config_reads_line_by_line() {
    let p = hera_config::parse(
        Path::new("hera.config"),
        fixture("cr-only.config").as_bytes(),
    )
    .unwrap();
    let got: Vec<(&str, &str, usize)> = p
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("argo_namespace", "Bad_Namespace", 2),
            ("argo_token", "Bearer v2:cr0nly-s3cr3t", 3),
            ("argo_server", "argo.example:2746", 4),
        ]
    );
}

#[test]
fn cr_only_hera_config_error_names_the_line_not_the_token() {
    let s = Sandbox::new();
    s.write("hera.config", &fixture("cr-only.config"));
    let e = s.error(&s.inputs()).to_string();
    assert!(
        e.starts_with("hera.config:2: invalid argo_namespace: `Bad_Namespace` is not"),
        "{e}"
    );
    assert_short_without(&e, "cr0nly-s3cr3t");
}

#[test]
fn cr_only_and_mixed_endings_in_hera_bash_and_xtask_toml() {
    let p = env_file::parse(
        Path::new("hera.bash"),
        b"ARGO_NAMESPACE=a\rARGO_SERVER=h:1\r\nKUBECONFIGMAP=c\n",
        &BTreeMap::new(),
    )
    .unwrap();
    let lines: Vec<(&str, usize)> = p.entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        lines,
        vec![
            ("ARGO_NAMESPACE", 1),
            ("ARGO_SERVER", 2),
            ("KUBECONFIGMAP", 3)
        ]
    );

    let s = Sandbox::new();
    s.write("xtask.toml", "# c\r[cluster]\rnamespace = 5\r");
    match s.error(&s.inputs()) {
        ConfigError::TomlType { line, .. } => assert_eq!(line, 3),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn invalid_utf8_after_cr_only_lines_names_its_line() {
    let e = hera_config::parse(Path::new("hera.config"), b"a=1\rb=2\r\xff\n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 3, .. }), "{e}");
}

#[test]
fn huge_invalid_values_are_cut_whatever_their_source() {
    let huge = "X".repeat(TEN_MB);
    let cut = format!("`{}…` ({TEN_MB} bytes)", "X".repeat(80));

    // Environment.
    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("ARGO_NAMESPACE", &huge)]))
        .to_string();
    assert!(
        e.starts_with("env ARGO_NAMESPACE: invalid argo_namespace: "),
        "{}",
        &e[..200]
    );
    assert!(e.contains(&cut), "{}", &e[..300.min(e.len())]);
    assert_short_without(&e, &"X".repeat(81));

    // hera.bash, hera.config and xtask.toml.
    for (file, text, origin) in [
        (
            "hera.bash",
            format!("ARGO_INSECURE_SKIP_VERIFY={huge}\n"),
            "hera.bash:1: ",
        ),
        (
            "hera.config",
            format!("argo_namespace={huge}\n"),
            "hera.config:1: ",
        ),
        (
            "xtask.toml",
            format!("[results]\npvc_mount_path = \"{huge}\"\n"),
            "xtask.toml [results] pvc_mount_path: ",
        ),
    ] {
        let s = Sandbox::new();
        s.write(file, &text);
        let e = s.error(&s.inputs()).to_string();
        assert!(e.starts_with(origin), "{file}: {}", &e[..200.min(e.len())]);
        assert!(e.contains(&cut), "{file}: {}", &e[..300.min(e.len())]);
        assert_short_without(&e, &"X".repeat(81));
    }
}

#[test]
fn huge_paths_and_profile_names_are_cut() {
    let huge = format!("/{}", "p".repeat(TEN_MB));
    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("ARGOCONFIG", &huge)]))
        .to_string();
    assert!(e.starts_with("ARGOCONFIG is set to /ppp"), "{}", &e[..200]);
    assert!(
        e.contains(&format!("… ({} bytes)", TEN_MB + 1)),
        "{}",
        &e[..300]
    );
    assert_short_without(&e, &"p".repeat(81));

    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("XTASK_PROFILE", &huge)]))
        .to_string();
    assert_short_without(&e, &"p".repeat(81));
}

#[test]
fn a_value_that_mentions_a_secret_is_never_echoed() {
    // A multi-line value glues the next assignment, token and all, to a plain setting.
    let s = Sandbox::new();
    s.write(
        "hera.bash",
        "KUBECONFIGMAP='Bad\nARGO_TOKEN=gl7ed-s3cr3t'\n",
    );
    let e = s.error(&s.inputs()).to_string();
    assert!(e.starts_with("hera.bash:1: invalid configmap_name: <a 27-byte value, not shown: it mentions a token or password>"), "{e}");
    assert_short_without(&e, "gl7ed-s3cr3t");

    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("ARGO_SERVER", "Bearer v2:p4st3d-t0ken")]))
        .to_string();
    assert_short_without(&e, "p4st3d");
    assert!(
        e.starts_with("env ARGO_SERVER: invalid argo_server: <a 22-byte value"),
        "{e}"
    );
}

fn env_file_parse(src: &str, env: &[(&str, &str)]) -> Result<kit_config::ParsedFile, ConfigError> {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env_file::parse(Path::new("hera.bash"), src.as_bytes(), &env)
}

#[test]
fn a_robot_name_unquoted_is_an_error_and_quoted_is_kept_whole() {
    let e = env_file_parse("XTASK_REGISTRY_USER=robot$vcity+ci\n", &[])
        .expect_err("unquoted robot name")
        .to_string();
    assert!(
        e.starts_with(
            "hera.bash:1: the value of XTASK_REGISTRY_USER expands `$vcity`, which is not set here"
        ),
        "{e}"
    );
    assert!(
        e.contains("XTASK_REGISTRY_USER='robot$PROJECT+NAME'"),
        "{e}"
    );
    for src in [
        "XTASK_REGISTRY_USER='robot$vcity+ci'\n",
        "XTASK_REGISTRY_USER=robot\\$vcity+ci\n",
    ] {
        let parsed = env_file_parse(src, &[]).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(
            parsed.get("XTASK_REGISTRY_USER").map(|e| e.value.as_str()),
            Some("robot$vcity+ci"),
            "{src}"
        );
        assert!(parsed.warnings.is_empty(), "{src}: {:?}", parsed.warnings);
    }
    // Set earlier, the variable expands as in bash: no error.
    let parsed = env_file_parse("P=vcity\nXTASK_REGISTRY_USER=robot$P+ci\n", &[]).unwrap();
    assert_eq!(
        parsed.get("XTASK_REGISTRY_USER").map(|e| e.value.as_str()),
        Some("robotvcity+ci")
    );
}

#[test]
fn a_dollar_name_in_a_secret_is_an_error_that_echoes_nothing_of_it() {
    for (src, line, key) in [
        (
            "XTASK_REGISTRY_PASSWORD=\"abc$S3CR3Tpart\"\n",
            1,
            "XTASK_REGISTRY_PASSWORD",
        ),
        (
            "# token\nARGO_TOKEN=Bearer\\ ab${S3CR3T}cd\n",
            2,
            "ARGO_TOKEN",
        ),
        ("export ARGO_TOKEN=abc$S3CR3Tpart\n", 1, "ARGO_TOKEN"),
    ] {
        let e = env_file_parse(src, &[]).expect_err(src).to_string();
        assert!(
            e.starts_with(&format!(
                "hera.bash:{line}: the value of {key} expands a variable that is not set here"
            )),
            "{e}"
        );
        assert!(e.contains("so it is not used"), "{e}");
        assert!(
            e.contains(&format!("hint: if the `$` is part of the secret, write the value in single quotes ({key}='...')")),
            "{e}"
        );
        assert!(!e.contains("S3CR3T") && !e.contains("abc"), "{e}");
    }
}

#[test]
fn a_dollar_in_single_quotes_or_a_set_variable_keeps_the_secret_as_meant() {
    let p = env_file_parse("XTASK_REGISTRY_PASSWORD='abc$S3CR3Tpart'\n", &[]).unwrap();
    assert_eq!(p.entries[0].value, "abc$S3CR3Tpart");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let p = env_file_parse("XTASK_REGISTRY_PASSWORD=\"abc\\$S3CR3Tpart\"\n", &[]).unwrap();
    assert_eq!(p.entries[0].value, "abc$S3CR3Tpart");
    let p = env_file_parse("ARGO_TOKEN=\"$MY_TOKEN\"\n", &[("MY_TOKEN", "v2:t")]).unwrap();
    assert_eq!(p.entries[0].value, "v2:t");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn a_dollar_name_in_a_variable_that_looks_secret_warns_without_the_name() {
    let p = env_file_parse("MY_PASSWORD=\"abc$S3CR3Tpart\"\n", &[]).unwrap();
    assert_eq!(p.warnings.len(), 1);
    let w = p.warnings[0].to_string();
    assert!(
        w.starts_with("hera.bash:1: the value of `MY_PASSWORD` expands 1 variable(s) that are not set here (names not shown"),
        "{w}"
    );
    assert!(!w.contains("S3CR3T") && !w.contains("abc"), "{w}");
}

#[test]
fn resolve_fails_on_a_dollar_name_in_the_registry_password() {
    let s = Sandbox::new();
    s.write("hera.bash", "XTASK_REGISTRY_PASSWORD=\"abc$S3CR3Tpart\"\n");
    let e = s.error(&s.inputs()).to_string();
    assert!(
        e.starts_with("hera.bash:1: the value of XTASK_REGISTRY_PASSWORD"),
        "{e}"
    );
    assert!(!e.contains("S3CR3T"), "{e}");
}

fn hera(src: &str) -> kit_config::ParsedFile {
    hera_config::parse(Path::new("hera.config"), src.as_bytes()).expect(src)
}

#[test]
fn an_inline_comment_in_hera_config_is_kept_with_a_warning() {
    let p = hera("# ns\nargo_namespace=vcity # ns\n");
    assert_eq!(p.entries[0].value, "vcity # ns");
    let w: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            "hera.config:2: the value of `argo_namespace` holds ` #`, but hera.config has no comments after a value (Python's ConfigParser keeps them too): the whole text `vcity # ns` is kept as the value; put the comment on a line of its own"
        ]
    );
    let p = hera("argo_server: h:2746\t; prod\n");
    assert_eq!(p.entries[0].value, "h:2746\t; prod");
    assert!(
        p.warnings[0].to_string().contains("holds ` ;`"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn an_inline_comment_after_a_token_warns_without_echoing_the_token() {
    let p = hera("argo_token=Bearer v2:t0k3n-s3cr3t # my token\n");
    assert_eq!(p.entries[0].value, "Bearer v2:t0k3n-s3cr3t # my token");
    assert_eq!(p.warnings.len(), 1);
    let w = p.warnings[0].to_string();
    assert!(
        w.starts_with("hera.config:1: the value of `argo_token` holds ` #`"),
        "{w}"
    );
    assert!(
        w.contains("the whole text after the separator (33 bytes, not shown) is kept"),
        "{w}"
    );
    assert!(!w.contains("t0k3n") && !w.contains("my token"), "{w}");
}

#[test]
fn no_warning_for_a_hash_inside_a_value_or_a_comment_after_quotes() {
    for src in [
        "argo_token=ab#cd;ef\n",
        "argo_namespace='vcity' # ns\n",
        "argo_namespace=\"vcity\" ; ns\n",
        "# argo_namespace=vcity # ns\n",
    ] {
        assert!(
            hera(src).warnings.is_empty(),
            "{src}: {:?}",
            hera(src).warnings
        );
    }
}

#[test]
fn durations_beyond_30_days_are_errors_naming_their_source() {
    let more = "`2592001` seconds is more than 30 days (2592000 s), the longest duration accepted; use a smaller number";

    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("XTASK_RUN_TIMEOUT_SECS", "2592001")]))
        .to_string();
    assert_eq!(
        e,
        format!("env XTASK_RUN_TIMEOUT_SECS: invalid timeouts.run_timeout_secs: {more}")
    );

    let s = Sandbox::new();
    s.write("hera.bash", "\nXTASK_STALL_GRACE_SECS=2592001\n");
    let e = s.error(&s.inputs()).to_string();
    assert_eq!(
        e,
        format!("hera.bash:2: invalid timeouts.stall_grace_secs: {more}")
    );

    let s = Sandbox::new();
    let mut inputs = s.inputs();
    inputs.flags.controller_grace_secs = Some(u64::MAX);
    let e = s.error(&inputs).to_string();
    assert!(
        e.starts_with("--controller-grace-secs: invalid timeouts.controller_grace_secs: `18446744073709551615` seconds is more than 30 days"),
        "{e}"
    );

    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[timeouts]\ncontroller_grace_secs = 2592001\n",
    );
    assert_eq!(
        s.error(&s.inputs()).to_string(),
        "xtask.toml:2: `timeouts.controller_grace_secs` must be a number of seconds up to 2592000 (30 days), not a larger number"
    );
}

#[test]
fn a_number_beyond_64_bits_is_too_large_not_malformed() {
    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("XTASK_RUN_TIMEOUT_SECS", "99999999999999999999999")]))
        .to_string();
    assert_eq!(
        e,
        "env XTASK_RUN_TIMEOUT_SECS: invalid timeouts.run_timeout_secs: `99999999999999999999999` is too large"
    );
}

#[test]
fn thirty_days_exactly_is_accepted() {
    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "[timeouts]\nrun_timeout_secs = 2592000\nstall_grace_secs = 2_592_000\n",
    );
    let r = s.resolve(&s.inputs_with_env(&[("XTASK_CONTROLLER_GRACE_SECS", "2592000")]));
    let t = &r.settings.timeouts;
    assert_eq!(t.run_timeout_secs.as_ref().unwrap().value, 2_592_000);
    assert_eq!(t.stall_grace_secs.value, 2_592_000);
    assert_eq!(t.controller_grace_secs.value, 2_592_000);
}

/// The error of an xtask.toml holding `src`, as the user reads it.
fn toml_error(src: &str) -> String {
    let s = Sandbox::new();
    s.write("xtask.toml", src);
    s.error(&s.inputs()).to_string()
}

#[test]
fn dotted_keys_are_reported_at_their_own_line() {
    assert_eq!(
        toml_error("# c\n\nregistry.host = 5\n"),
        "xtask.toml:3: `registry.host` must be a string, not an integer"
    );
    assert_eq!(
        toml_error("# c\n\n[profiles]\np.cluster.namespace = true\n"),
        "xtask.toml:4: `profiles.p.cluster.namespace` must be a string, not a boolean"
    );
    assert_eq!(
        toml_error("# c\n\n[cluster]\nnamespace.x = 1\n"),
        "xtask.toml:4: `cluster.namespace` must be a string, not a table"
    );
    assert_eq!(
        toml_error("# c\n\nregistry.host = \"a\"\nregistry.host = \"b\"\n"),
        "xtask.toml:4: duplicate key"
    );

    let s = Sandbox::new();
    s.write(
        "xtask.toml",
        "# c\n\n[a]\nb.c = 1\n\n[registry]\nhots.x = 1\n\n[profiles.p]\nregistry.hots = 1\n",
    );
    let r = s.resolve(&s.inputs());
    let lines: Vec<Option<usize>> = r.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![Some(3), Some(7), Some(10)], "{:?}", r.warnings);
    assert!(
        r.warnings[1]
            .to_string()
            .contains("`registry.hots`; did you mean `registry.host`?")
    );
}

#[test]
fn wrong_types_name_the_type_found() {
    for (src, found) in [
        (
            "[images]\nparallelism = 99999999999999999999\n",
            "an integer too large for 64 bits",
        ),
        (
            "[images]\nparallelism = -99999999999999999999\n",
            "a negative integer",
        ),
        ("[images]\nparallelism = 1.5\n", "a float"),
        ("[images]\nparallelism = 1979-05-27\n", "a date"),
        ("[images]\nparallelism = [1]\n", "an array"),
        ("[images]\nparallelism = { n = 1 }\n", "a table"),
        ("[images]\nparallelism = \"2\"\n", "a string"),
        ("[images]\nparallelism = true\n", "a boolean"),
    ] {
        assert_eq!(
            toml_error(src),
            format!(
                "xtask.toml:2: `images.parallelism` must be a non-negative integer, not {found}"
            ),
            "{src}"
        );
    }
}

#[test]
fn huge_profile_names_in_xtask_toml_are_cut() {
    let name = "q".repeat(100_000);
    let s = Sandbox::new();
    s.write("xtask.toml", &format!("[profiles.{name}]\n"));
    let e = s
        .error(&s.inputs_with_env(&[("XTASK_PROFILE", "other")]))
        .to_string();
    assert!(
        e.contains(&format!("{}… (100000 bytes)", "q".repeat(80))),
        "{}",
        &e[..300.min(e.len())]
    );
    assert_short_without(&e, &"q".repeat(81));
}

#[test]
fn the_hera_version_is_a_release_number_with_its_source() {
    let s = Sandbox::new();
    let e = s
        .error(&s.inputs_with_env(&[("XTASK_HERA_VERSION", "latest")]))
        .to_string();
    assert_eq!(
        e,
        "env XTASK_HERA_VERSION: invalid hera_version: `latest`: a release number such as 5.16.3 or 7.1.0 is expected (the `hera` package on PyPI)"
    );
    let s = Sandbox::new();
    assert_eq!(
        s.resolve(&s.inputs()).settings.hera_version.value,
        kit_config::DEFAULT_HERA_VERSION
    );
    s.write("xtask.toml", "[hera]\nversion = \"7.1.0\"\n");
    let resolved = s.resolve(&s.inputs());
    assert_eq!(resolved.settings.hera_version.value, "7.1.0");
}

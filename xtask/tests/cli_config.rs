//! The CLI as a user meets it: `--help`, `config` on the README's examples, masking of
//! secrets in every output, and `config --check`. No cluster needed.

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

const TOKEN: &str = "v2:s3cr3t-t0ken-value";
const PASSWORD: &str = "hunter2-registry-password";

mod common;

fn xtask(dir: &TempDir) -> Command {
    common::offline_xtask(dir)
}

fn write(dir: &TempDir, name: &str, text: &str) {
    common::write_file(dir, name, text)
}

#[test]
fn help_lists_every_command_with_an_example() {
    let dir = TempDir::new().unwrap();
    let out = xtask(&dir).arg("--help").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for cmd in [
        "up",
        "run",
        "fetch-results",
        "config",
        "doctor",
        "diagnose",
        "lint",
        "watch",
    ] {
        assert!(text.contains(cmd), "--help does not list {cmd}:\n{text}");
    }
    assert!(text.contains("Examples:"));
    assert!(text.contains("Exit codes"));
    // Benchmarks are `cargo bench-xtask`, not a user command.
    assert!(!text.contains("bench"), "--help lists bench:\n{text}");
}

#[test]
fn hera_config_values_show_with_their_file_and_line() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "hera.config",
        "# PaGoDA\nk8s_configmap_name='vcity-pagoda-proxy-environment'\nk8s_volume_claim_name=vcity-pvc\nargo_namespace: vcity\nargo_token='Bearer v2:s3cr3t-t0ken-value'\n",
    );
    let out = xtask(&dir)
        .args(["config", "--output", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        common::document_keys(&json),
        [
            "missing",
            "settings",
            "sources",
            "via",
            "via_reason",
            "warnings",
            "workspace_root"
        ]
    );
    let settings = &json["settings"];
    assert_eq!(settings["argo_namespace"]["value"], "vcity");
    let origin = settings["argo_namespace"]["origin"]["display"]
        .as_str()
        .unwrap();
    assert!(origin.ends_with("hera.config:4"), "origin was {origin}");
    assert_eq!(settings["volume_claim_name"]["value"], "vcity-pvc");
    assert_eq!(settings["argo_token"]["value"], "***");
}

#[test]
fn environment_beats_env_file_beats_hera_config() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "hera.config",
        "argo_namespace=from-hera\nargo_service_account=sa-hera\n",
    );
    write(
        &dir,
        "hera.bash",
        "export ARGO_NAMESPACE=from-bash  # inline comment\n",
    );
    let out = xtask(&dir)
        .args(["config", "-o", "json"])
        .env("ARGO_SERVICE_ACCOUNT", "sa-env")
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["settings"]["argo_namespace"]["value"], "from-bash");
    assert_eq!(json["settings"]["argo_service_account"]["value"], "sa-env");
    let out = xtask(&dir)
        .args(["config", "-o", "json", "--namespace", "from-flag"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["settings"]["argo_namespace"]["value"], "from-flag");
    assert_eq!(
        json["settings"]["argo_namespace"]["origin"]["display"],
        "--namespace"
    );
}

#[test]
fn secrets_never_appear_in_any_output() {
    let dir = TempDir::new().unwrap();
    write(&dir, "hera.bash", &format!("ARGO_TOKEN='Bearer {TOKEN}'\n"));
    for args in [
        vec!["config"],
        vec!["config", "-o", "json"],
        vec!["config", "--check"],
        vec!["-v", "config"],
        vec!["doctor"],
    ] {
        let out = xtask(&dir)
            .args(&args)
            .env("XTASK_REGISTRY_PASSWORD", PASSWORD)
            .env("XTASK_REGISTRY", "127.0.0.1:9/vcity")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(TOKEN), "{args:?} printed the token:\n{all}");
        assert!(
            !all.contains(PASSWORD),
            "{args:?} printed the password:\n{all}"
        );
        assert!(
            !all.contains("s3cr3t"),
            "{args:?} printed part of the token"
        );
    }
}

#[test]
fn check_fails_listing_what_is_missing_and_every_source() {
    let dir = TempDir::new().unwrap();
    xtask(&dir)
        .args(["config", "--check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("kubeconfig"))
        .stderr(predicate::str::contains("hera.config"))
        .stderr(predicate::str::contains("env ARGO_NAMESPACE"));
}

#[test]
fn malformed_line_names_file_and_line() {
    let dir = TempDir::new().unwrap();
    write(&dir, "hera.bash", "ARGO_NAMESPACE=ok\nexport = broken\n");
    xtask(&dir)
        .arg("config")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hera.bash:2"));
}

#[test]
fn unknown_key_suggests_the_closest() {
    let dir = TempDir::new().unwrap();
    write(&dir, "hera.config", "argo_namespce=vcity\n");
    xtask(&dir)
        .arg("config")
        .assert()
        .success()
        .stderr(predicate::str::contains("argo_namespace"));
}

#[test]
fn missing_kubeconfig_names_the_path_and_its_origin() {
    let dir = TempDir::new().unwrap();
    xtask(&dir)
        .arg("doctor")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/nonexistent/kubeconfig"))
        .stderr(predicate::str::contains("KUBECONFIG"));
}

#[test]
fn completions_are_generated() {
    let dir = TempDir::new().unwrap();
    xtask(&dir)
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("fetch-results"))
        .stdout(predicate::str::contains("bench").not());
}

/// stdout and stderr of `config` and `config -o json` run in `dir`.
fn config_outputs(dir: &TempDir) -> Vec<(Vec<&'static str>, std::process::Output)> {
    [vec!["config"], vec!["config", "--output", "json"]]
        .into_iter()
        .map(|args| {
            let out = xtask(dir).args(&args).output().unwrap();
            (args, out)
        })
        .collect()
}

#[test]
fn a_dollar_name_in_the_registry_password_fails_without_echoing_it() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "hera.bash",
        "ARGO_NAMESPACE=vcity\nXTASK_REGISTRY_PASSWORD=\"abc$S3CR3Tpart\"\n",
    );
    for (args, out) in config_outputs(&dir) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(
            stderr.contains("hera.bash:2: the value of XTASK_REGISTRY_PASSWORD expands a variable that is not set here"),
            "{args:?}: {all}"
        );
        assert!(!all.contains("S3CR3T"), "{args:?} echoed the secret: {all}");
    }
}

#[test]
fn a_dollar_name_in_a_secret_looking_variable_warns_without_echoing_it() {
    let dir = TempDir::new().unwrap();
    write(&dir, "hera.bash", "MY_PASSWORD=\"abc$S3CR3Tpart\"\n");
    for (args, out) in config_outputs(&dir) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {all}");
        assert!(all.contains("names not shown"), "{args:?}: {all}");
        assert!(!all.contains("S3CR3T"), "{args:?} echoed part of it: {all}");
        if args.contains(&"json") {
            let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let warnings = json["warnings"].to_string();
            assert!(warnings.contains("MY_PASSWORD"), "{warnings}");
        }
    }
}

#[test]
fn an_inline_comment_after_a_token_in_hera_config_warns_without_echoing_it() {
    let dir = TempDir::new().unwrap();
    write(
        &dir,
        "hera.config",
        "argo_namespace=vcity\nargo_token=Bearer v2:s3cr3t-t0ken-value # my token\n",
    );
    for (args, out) in config_outputs(&dir) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {all}");
        assert!(!all.contains("s3cr3t"), "{args:?} echoed the token: {all}");
        assert!(
            !all.contains("my token"),
            "{args:?} echoed the comment: {all}"
        );
        let warning = "the value of `argo_token` holds ` #`";
        if args.contains(&"json") {
            let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
            let w = &json["warnings"][0];
            assert_eq!(w["path"], "hera.config", "{w}");
            assert_eq!(w["line"], 2, "{w}");
            assert!(w["message"].as_str().unwrap().starts_with(warning), "{w}");
        } else {
            assert!(all.contains(&format!("hera.config:2: {warning}")), "{all}");
        }
    }
}

#[test]
fn an_inline_comment_after_the_namespace_fails_naming_the_line() {
    let dir = TempDir::new().unwrap();
    write(&dir, "hera.config", "argo_namespace=vcity # ns\n");
    xtask(&dir)
        .arg("config")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "hera.config:1: invalid argo_namespace: `vcity # ns` is not a valid Kubernetes name",
        ));
}

#[test]
fn a_huge_run_timeout_is_refused_before_anything_is_submitted() {
    let dir = TempDir::new().unwrap();
    xtask(&dir)
        .args(["run", "hello", "--timeout", "99999999999999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--timeout"))
        .stderr(predicate::str::contains("1..=2592000"));
    xtask(&dir)
        .args(["config", "--output", "json"])
        .env("XTASK_RUN_TIMEOUT_SECS", "99999999999999")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "env XTASK_RUN_TIMEOUT_SECS: invalid timeouts.run_timeout_secs: `99999999999999` seconds is more than 30 days",
        ));
}

#[test]
fn config_says_which_way_in_and_why_without_the_token() {
    let dir = TempDir::new().unwrap();
    let out = xtask(&dir)
        .args(["config", "-o", "json"])
        .env("ARGO_SERVER", "argo.example.org")
        .env("ARGO_TOKEN", TOKEN)
        .env("ARGO_BASE_HREF", "/argo/")
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["via"], "argo-server", "{stdout}");
    assert!(
        doc["via_reason"].as_str().unwrap().contains("ARGO_TOKEN"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN), "the token leaked: {stdout}");

    // --via kube wins, and says so.
    let out = xtask(&dir)
        .args(["config", "--via", "kube"])
        .env("ARGO_SERVER", "argo.example.org")
        .env("ARGO_TOKEN", TOKEN)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("way in: kube (chosen by via (from --via))"),
        "{stdout}"
    );
}

/// A reader that goes away (`cargo xtask … | head`) ends the command quietly, as it
/// ends other command-line tools: no panic message, and a failure status.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    // Closed before the command writes: its first write finds no reader.
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("xtask"))
        .args(["completions", "bash"])
        .current_dir(dir.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
    // SIGPIPE is 13 on Linux and macOS.
    assert_eq!(out.status.signal(), Some(13), "{:?}", out.status);
}

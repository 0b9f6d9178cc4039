//! `lint` as a user meets it on several files, some broken: every file is reported, JSON
//! is printed in every case, and the exit code says whether all passed. No cluster needed.

use assert_cmd::Command;
use tempfile::TempDir;
mod common;

fn xtask(dir: &TempDir) -> Command {
    common::offline_xtask(dir)
}

fn write(dir: &TempDir, name: &str, text: &str) {
    common::write_file(dir, name, text)
}

const GOOD: &str = "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: good-}
spec:
  entrypoint: main
  templates:
  - name: main
    container: {image: busybox}
";

/// A ConfigMap, a template and a CronWorkflow whose entrypoint is misspelt.
const MULTI: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  templates:
  - name: hello
    container: {image: busybox}
---
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  schedule: \"0 2 * * *\"
  workflowSpec:
    entrypoint: mian
    templates:
    - name: main
      container: {image: busybox}
";

#[test]
fn every_file_is_linted_even_after_one_that_does_not_load() {
    let dir = TempDir::new().unwrap();
    write(&dir, "bad.yaml", "a: [\n");
    write(&dir, "good.yaml", GOOD);
    let out = xtask(&dir)
        .args(["lint", "bad.yaml", "missing.yaml", "good.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("✗ bad.yaml\n  error: bad.yaml:1: invalid YAML"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ missing.yaml\n  error: cannot read missing.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("✓ good.yaml"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 of 3 file(s) did not pass"), "{stderr}");
}

#[test]
fn json_is_printed_whatever_fails() {
    let dir = TempDir::new().unwrap();
    write(&dir, "bad.yaml", "a: [\n");
    write(&dir, "good.yaml", GOOD);
    let out = xtask(&dir)
        .args(["lint", "--output", "json", "bad.yaml", "good.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", out.stdout));
    assert_eq!(
        common::document_keys(&json),
        ["diagnostics", "files", "workflows"]
    );
    let files = json["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 2);
    assert!(
        files[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("invalid YAML")
    );
    assert!(files[1]["error"].is_null());
    assert_eq!(files[1]["documents"][0]["kind"], "Workflow");
}

#[test]
fn each_document_of_a_file_is_checked_and_a_cron_workflow_by_its_workflow_spec() {
    let dir = TempDir::new().unwrap();
    write(&dir, "multi.yaml", MULTI);
    let out = xtask(&dir)
        .args(["lint", "--output", "json", "multi.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let docs = json["files"][0]["documents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["ConfigMap", "WorkflowTemplate", "CronWorkflow"]);
    let lines: Vec<u64> = docs.iter().filter_map(|d| d["line"].as_u64()).collect();
    assert_eq!(lines, [1, 6, 14]);
    // The misspelt entrypoint, at its line inside `workflowSpec`.
    let errors: Vec<(u64, String)> = docs[2]["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["line"].as_u64().unwrap_or(0),
                d["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 20);
    assert!(errors[0].1.contains("entrypoint `mian`"), "{errors:?}");

    // Fixed, the file passes and `run --dry-run` shows what it would apply and submit.
    write(&dir, "multi.yaml", &MULTI.replace("mian", "main"));
    xtask(&dir).args(["lint", "multi.yaml"]).assert().success();
    let out = xtask(&dir)
        .args(["run", "--dry-run", "multi.yaml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<&str> = stdout.split("\n---\n").collect();
    assert_eq!(docs.len(), 3, "{stdout}");
    assert!(docs[0].contains("kind: ConfigMap"), "{stdout}");
    assert!(docs[1].contains("kind: WorkflowTemplate"), "{stdout}");
    assert!(docs[2].contains("kind: Workflow\n"), "{stdout}");
    assert!(docs[2].contains("generateName: nightly-"), "{stdout}");
}

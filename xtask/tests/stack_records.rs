//! What `run` does beyond one workflow, on the stack: it stops following a workflow that
//! waits until someone acts, run records end with the outcome whoever followed the run to
//! its end, `rerun` records are named after the workflow, a file's templates and
//! ConfigMaps are applied before its workflow is submitted, and an image missing from the
//! registry stops the run before anything is submitted.

mod common;

use common::{admin_kubectl, fault_workflow, json_lines, pod_image, text, xtask};
use tempfile::TempDir;

fn submitted_name(lines: &[serde_json::Value]) -> String {
    lines
        .iter()
        .find(|l| l["type"] == "submitted")
        .and_then(|l| l["name"].as_str())
        .expect("a submitted line")
        .to_string()
}

/// The `runs` row of the workflow NAME.
fn runs_row(name: &str) -> serde_json::Value {
    let out = xtask().args(["runs", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no record of {name}: {}", text(&out)))
}

fn phase_on_cluster(name: &str) -> String {
    let out = admin_kubectl(&[
        "-n",
        "argo",
        "get",
        "workflow",
        name,
        "-o",
        "jsonpath={.status.phase}",
    ]);
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
#[ignore = "needs tests/stack"]
fn a_stalled_workflow_stops_the_follow_and_the_record_ends_with_watch() {
    let dir = TempDir::new().unwrap();
    let file = fault_workflow(dir.path(), Some("sandbox-cni"), "");
    // No --fail-fast and a generous timeout: before, `run` waited until the timeout.
    let out = xtask()
        .args(["run", "--no-pin", "-o", "json", "--timeout", "120"])
        .arg(&file)
        .output()
        .unwrap();
    let (lines, all) = (json_lines(&out), text(&out));
    assert_eq!(out.status.code(), Some(4), "{all}");
    let name = submitted_name(&lines);
    assert!(
        all.contains("stopped following: pod-sandbox-failed"),
        "{all}"
    );
    assert!(all.contains(&format!("cargo xtask watch {name}")), "{all}");
    assert!(all.contains(&format!("cargo xtask stop {name}")), "{all}");
    // The workflow was left running, and the record says its outcome is not known.
    assert_eq!(phase_on_cluster(&name), "Running");
    let row = runs_row(&name);
    assert_eq!(row["outcome_known"], false, "{row:#}");
    assert!(row["phase"].is_null(), "{row:#}");
    assert_eq!(row["last_seen_phase"], "Running", "{row:#}");

    let stop = xtask().args(["stop", &name]).output().unwrap();
    assert!(stop.status.success(), "{}", text(&stop));
    let watch = xtask()
        .args(["watch", &name, "-o", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(watch.status.code(), Some(1), "{}", text(&watch));
    let row = runs_row(&name);
    assert_eq!(row["outcome_known"], true, "{row:#}");
    assert_eq!(row["phase"], "Failed", "{row:#}");
    let _ = admin_kubectl(&["-n", "argo", "delete", "workflow", &name, "--wait=false"]);
}

#[test]
#[ignore = "needs tests/stack"]
fn a_rerun_record_is_named_after_the_workflow() {
    let dir = TempDir::new().unwrap();
    let file = fault_workflow(dir.path(), None, "");
    let out = xtask()
        .args(["run", "--no-pin", "-o", "json", "--timeout", "90"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let first = submitted_name(&json_lines(&out));
    let again = xtask()
        .args(["rerun", &first, "-o", "json"])
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
    let second = submitted_name(&json_lines(&again));
    let row = runs_row(&second);
    let record = row["record"].as_str().unwrap_or("");
    assert!(record.ends_with("-e2e-plain"), "{record}");
    assert_eq!(row["phase"], "Succeeded", "{row:#}");
    let run_json = std::fs::read_to_string(std::path::Path::new(record).join("run.json")).unwrap();
    assert!(run_json.contains("\"rerun_of\""), "{run_json}");
}

#[test]
#[ignore = "needs tests/stack"]
fn templates_and_configmaps_of_the_file_are_applied_before_the_workflow() {
    let dir = TempDir::new().unwrap();
    let image = pod_image();
    let yaml = format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: xtask-e2e-companion}}
data: {{GREETING: hello-from-the-file}}
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {{name: xtask-e2e-lib}}
spec:
  templates:
  - name: greet
    container:
      image: {image}
      command: [sh, -c, 'echo $GREETING']
      env:
      - name: GREETING
        valueFrom: {{configMapKeyRef: {{name: xtask-e2e-companion, key: GREETING}}}}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: e2e-companions-}}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: call
        templateRef: {{name: xtask-e2e-lib, template: greet}}
"
    );
    let file = dir.path().join("companions.yaml");
    std::fs::write(&file, yaml).unwrap();
    if common::via_argo_server() {
        // The Argo Server cannot create a ConfigMap: nothing is submitted, and the file's
        // document that needs the Kubernetes API is named.
        let refused = xtask()
            .args(["run", "--no-pin", "-o", "json"])
            .arg(&file)
            .output()
            .unwrap();
        let all = text(&refused);
        assert_eq!(refused.status.code(), Some(2), "{all}");
        assert!(
            all.contains("ConfigMap `xtask-e2e-companion`")
                && all.contains("nothing was submitted")
                && all.contains("KUBECONFIG"),
            "{all}"
        );
        assert!(
            !json_lines(&refused)
                .iter()
                .any(|l| l["type"] == "submitted"),
            "{all}"
        );
        return;
    }
    let out = xtask()
        .args(["run", "--no-pin", "--logs", "-o", "json", "--timeout", "90"])
        .arg(&file)
        .output()
        .unwrap();
    let (lines, all) = (json_lines(&out), text(&out));
    assert!(out.status.success(), "{all}");
    let applied: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["type"] == "applied")
        .map(|l| {
            (
                l["kind"].as_str().unwrap_or(""),
                l["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        applied,
        [
            ("ConfigMap", "xtask-e2e-companion"),
            ("WorkflowTemplate", "xtask-e2e-lib")
        ],
        "{all}"
    );
    assert!(all.contains("hello-from-the-file"), "{all}");
    // The record keeps the companions, so `rerun` applies them again.
    let name = submitted_name(&lines);
    let row = runs_row(&name);
    let manifest = std::fs::read_to_string(
        std::path::Path::new(row["record"].as_str().unwrap_or("")).join("manifest.yaml"),
    )
    .unwrap();
    assert_eq!(manifest.matches("\n---\n").count(), 2, "{manifest}");
}

#[test]
#[ignore = "needs tests/stack"]
fn an_unpinned_image_missing_from_the_registry_is_refused_before_submitting() {
    let dir = TempDir::new().unwrap();
    let registry = common::stack_var("STACK_REGISTRY");
    let missing = format!("{registry}/vcity/does-not-exist:1.0");
    let file = common::one_step_workflow(dir.path(), "e2e-no-image", "", &missing, "true", "");
    let out = xtask()
        .args(["run", "-o", "json", "--timeout", "60"])
        .arg(&file)
        .output()
        .unwrap();
    let (lines, all) = (json_lines(&out), text(&out));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(!lines.iter().any(|l| l["type"] == "submitted"), "{all}");
    let finding = lines
        .iter()
        .find(|l| l["type"] == "finding")
        .map(|l| &l["finding"])
        .unwrap_or_else(|| panic!("no finding: {all}"));
    assert_eq!(finding["reason"], "image-not-found");
    assert_eq!(finding["level"], "user");
    let evidence = finding["evidence"].to_string();
    assert!(
        evidence.contains(&format!(
            "e2e-no-image.yaml:14: {missing} is not in the registry; closest pushed image: "
        )),
        "{evidence}"
    );
    // An image that is there passes the same check.
    let present = common::one_step_workflow(dir.path(), "e2e-image", "", &pod_image(), "true", "");
    let out = xtask()
        .args(["run", "-o", "json", "--timeout", "60"])
        .arg(&present)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

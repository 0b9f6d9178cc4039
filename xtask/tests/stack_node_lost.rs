//! The real node's kubelet is killed while a workflow runs on it: the run must say the
//! node was lost (Kubernetes level), and the stack's `up` brings the node back. A test
//! binary of its own: no other test may run while the node is gone.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{json_lines, pod_image, stack_var, workspace_root, xtask_process};
use tempfile::TempDir;

/// Brings the node back whatever happens to the test.
struct RestoreNode;

impl Drop for RestoreNode {
    fn drop(&mut self) {
        let status = std::process::Command::new(workspace_root().join("tests/stack/up"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "tests/stack/up could not bring the real node back"
        );
    }
}

fn kubelet_pid() -> i32 {
    let file = std::path::Path::new(&stack_var("STACK_DIR")).join("run/kubelet.pid");
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (is the real node up?)", file.display()))
        .trim()
        .parse()
        .expect("a pid")
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_lost_node_is_a_kubernetes_problem_and_up_brings_it_back() {
    assert_eq!(
        std::env::var("STACK_REAL_NODE").as_deref(),
        Ok("1"),
        "needs the stack's real node: tests/stack/up && eval \"$(tests/stack/env)\""
    );
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("long.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: real-node-lost-
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: {}
      command: [sh, -c, 'echo started; sleep 600']
",
            pod_image()
        ),
    )
    .unwrap();
    let mut child = xtask_process()
        .args([
            "run",
            "--no-pin",
            "--fail-fast",
            "-o",
            "json",
            "--timeout",
            "150",
        ])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _restore = RestoreNode;
    // Wait until the step runs on the node, then kill its kubelet.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
            panic!("the step never ran: {}", seen.join(""));
        }
        seen.push(line.clone());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["type"] == "step" && v["phase"] == "Running" {
            break;
        }
    }
    let killed = std::process::Command::new("kill")
        .args(["-9", &kubelet_pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let killed_at = Instant::now();
    let rest = {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        rest
    };
    let status = child.wait().unwrap();
    let out = std::process::Output {
        status,
        stdout: (seen.concat() + &rest).into_bytes(),
        stderr: Vec::new(),
    };
    let lines = json_lines(&out);
    let all = String::from_utf8_lossy(&out.stdout).to_string();
    assert_ne!(status.code(), Some(0), "{all}");
    let lost = lines
        .iter()
        .filter(|l| l["type"] == "finding")
        .map(|l| &l["finding"])
        .find(|f| f["reason"] == "node-not-ready")
        .unwrap_or_else(|| panic!("no node-not-ready finding after killing the kubelet:\n{all}"));
    assert_eq!(lost["level"], "kubernetes", "{lost:#}");
    assert!(
        lost.to_string().contains("pagoda-real-0"),
        "the finding names the node: {lost:#}"
    );
    println!(
        "node lost reported {:.0} s after the kubelet was killed",
        killed_at.elapsed().as_secs_f64()
    );
    if let Some(name) = lines
        .iter()
        .find(|l| l["type"] == "submitted")
        .and_then(|l| l["name"].as_str())
    {
        let _ = common::admin_kubectl(&["-n", "argo", "delete", "workflow", name, "--wait=false"]);
    }
}

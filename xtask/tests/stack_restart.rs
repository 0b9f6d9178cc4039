//! The follower survives an API server restart: its watches re-list, and the workflow's
//! end is not missed. In its own test binary: the API server goes away for a while.

mod common;

use std::time::Duration;

use common::{json_lines, stack_var, text, xtask_process};
use tempfile::TempDir;

#[test]
#[ignore = "needs tests/stack"]
fn follow_survives_an_api_server_restart() {
    let dir = TempDir::new().unwrap();
    // A suspended step holds the workflow while the API server restarts; resuming it
    // afterwards lets the rest run, so the follower must see every change that follows.
    let file = dir.path().join("suspended.yaml");
    std::fs::write(
        &file,
        "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: e2e-restart-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: hold
        template: hold
    - - name: work
        template: work
  - name: hold
    suspend: {}
  - name: work
    container:
      image: 127.0.0.1:5443/stack/busybox:1
      command: [echo, done]
",
    )
    .unwrap();
    let child = xtask_process()
        .args(["run", "--no-pin", "-o", "json", "--timeout", "150"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let name = wait_for_suspended_workflow();

    restart_api_server(Duration::from_secs(5));
    wait_for_api_server();
    let resumed = std::process::Command::new("argo")
        .args(["resume", &name, "-n", "argo"])
        .env("KUBECONFIG", stack_var("STACK_ADMIN_KUBECONFIG"))
        .env_remove("ARGO_SERVER")
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "argo resume: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );

    let out = child.wait_with_output().unwrap();
    // The controller-manager and scheduler exit when they lose the API server (leader
    // election): `up` restarts whatever died, as after any crash.
    let cluster_up = common::workspace_root().join("tests/stack/cluster/up");
    let restored = std::process::Command::new(cluster_up)
        .arg(stack_var("STACK_DIR"))
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let lines = json_lines(&out);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let end = lines.iter().find(|l| l["type"] == "end").expect("end line");
    assert_eq!(end["phase"], "Succeeded", "{all}");
    assert!(
        all.contains("watch interrupted, resuming"),
        "the restart was not noticed: {all}"
    );
}

/// The name of the e2e-restart workflow once its hold step is suspended.
fn wait_for_suspended_workflow() -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = common::admin_kubectl(&[
            "-n",
            "argo",
            "get",
            "workflows",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.nodes.*.type}{\"\\n\"}{end}",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if let Some(line) = text.lines().find(|l| {
            l.starts_with("e2e-restart-") && l.contains("Running") && l.contains("Suspend")
        }) {
            return line.split_whitespace().next().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no suspended e2e-restart workflow: {text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn wait_for_api_server() {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !common::admin_kubectl(&["get", "--raw", "/readyz"])
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the API server did not come back"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Stops the stack's kube-apiserver and starts it again with the same command line, as
/// an upgrade or a crash-and-restart would: nothing else of the stack is touched.
fn restart_api_server(down_for: Duration) {
    let pid_file = format!(
        "{}/kwok/clusters/xtask/pids/kube-apiserver.pid",
        stack_var("STACK_DIR")
    );
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    let argv: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).to_string())
        .collect();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert!(
        // SIGKILL, as a crash: a SIGTERM'd API server drains its watches for up to a
        // minute before it exits.
        std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Gone, or a zombie nobody reaps yet: either way it no longer serves.
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while running() {
        assert!(
            std::time::Instant::now() < deadline,
            "kube-apiserver {pid} did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(down_for);
    // Started through a shell in the background: the API server outlives this test, as
    // kwokctl's own processes do, so it must not be the test's child.
    let log = cwd.join("logs/kube-apiserver.restarted.log");
    let started = std::process::Command::new("sh")
        .arg("-c")
        .arg("log=$1; shift; \"$@\" >\"$log\" 2>&1 </dev/null & echo $!")
        .arg("sh")
        .arg(&log)
        .args(&argv)
        .current_dir(&cwd)
        .output()
        .unwrap();
    let new_pid = String::from_utf8_lossy(&started.stdout).trim().to_string();
    assert!(
        !new_pid.is_empty(),
        "restart failed: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    // kwokctl and tests/stack/down find it by this file.
    std::fs::write(&pid_file, new_pid).unwrap();
}

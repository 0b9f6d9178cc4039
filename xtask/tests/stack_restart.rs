//! The follower survives an API server restart: its watches re-list, and the workflow's
//! end is not missed. In its own test binary: the API server goes away for a while.

mod common;

use std::time::Duration;

use common::{json_lines, stack_var, text, xtask_process};
use tempfile::TempDir;

#[test]
fn follow_survives_an_api_server_restart() {
    let dir = TempDir::new().unwrap();
    // A step that runs 20 s, so the restart happens while it runs.
    let file = common::fault_workflow(dir.path(), None, "");
    let yaml = std::fs::read_to_string(&file).unwrap().replace(
        "  - name: work\n",
        "  - name: work\n    metadata:\n      annotations:\n        stack.test/duration: 20s\n",
    );
    std::fs::write(&file, yaml).unwrap();

    let child = xtask_process()
        .args(["run", "--no-pin", "-o", "json", "--timeout", "150"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));

    restart_api_server(Duration::from_secs(5));

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
        std::process::Command::new("kill")
            .arg(&pid)
            .status()
            .unwrap()
            .success()
    );
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(down_for);
    let log = std::fs::File::create(cwd.join("logs/kube-apiserver.restarted.log")).unwrap();
    let child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&cwd)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // kwokctl and tests/stack/down find it by this file.
    std::fs::write(&pid_file, child.id().to_string()).unwrap();
}

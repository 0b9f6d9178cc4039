//! Hera scripts as workflows, on the stack: `workflows/demo_hera.py` (the demo written
//! the team's way, Hera 5) is captured, pinned, run for real and fetched; its steps are
//! the same as demo.yaml's; the run record replays without Python; a Hera 7 script is
//! captured too; a script's error is shown with its traceback.

mod common;

use std::collections::BTreeSet;

use common::{admin_kubectl, json_lines, text, write_file, xtask, xtask_process};

/// (template, sorted input parameters) of every pod a finished workflow ran.
fn pod_steps(name: &str) -> BTreeSet<(String, Vec<(String, String)>)> {
    let out = admin_kubectl(&["-n", "argo", "get", "workflow", name, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let wf: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let nodes = wf["status"]["nodes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    nodes
        .values()
        .filter(|n| n["type"] == "Pod")
        .map(|n| {
            let mut params: Vec<(String, String)> = n["inputs"]["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or("").to_string(),
                        p["value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            params.sort();
            (n["templateName"].as_str().unwrap_or("").to_string(), params)
        })
        .collect()
}

/// Runs a workflow of the repository to its end; returns its name and the record.
fn run_to_the_end(workflow: &str) -> (String, std::path::PathBuf, String) {
    let out = xtask_process()
        .args(["run", workflow, "--output", "json"])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let lines = json_lines(&out);
    let end = lines.iter().find(|l| l["type"] == "end").expect("end line");
    assert_eq!(end["phase"], "Succeeded", "{all}");
    let submitted = lines
        .iter()
        .find(|l| l["type"] == "submitted")
        .expect("submitted line");
    let name = submitted["name"].as_str().unwrap().to_string();
    let record = std::path::PathBuf::from(submitted["record"].as_str().unwrap());
    (name, record, all)
}

#[test]
#[ignore = "needs tests/stack and PyPI (Hera is installed once under .xtask/python)"]
fn the_hera_demo_runs_like_the_yaml_demo_and_replays_without_python() {
    let up = xtask()
        .args(["up", "--images-only", "demo-*"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", text(&up));

    let (hera_name, record, all) = run_to_the_end("demo_hera");
    assert!(hera_name.starts_with("demo-hera-"), "{all}");
    let lines: Vec<serde_json::Value> = all
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let captured = lines
        .iter()
        .find(|l| l["type"] == "captured")
        .unwrap_or_else(|| panic!("no captured event: {all}"));
    assert_eq!(
        captured["workflows"][0], "Workflow demo-hera- (create)",
        "{all}"
    );
    assert!(
        captured["hera_version"]
            .as_str()
            .unwrap_or("")
            .starts_with("5."),
        "{all}"
    );
    // Pinned to the pushed digests, like the YAML demo.
    let manifest = std::fs::read_to_string(record.join("manifest.yaml")).unwrap();
    assert!(
        manifest.contains("/vcity/demo-collect:latest@sha256:"),
        "{manifest}"
    );
    // The record keeps the script and what it gave.
    assert!(record.join("demo_hera.py").is_file());
    assert!(record.join("captured.yaml").is_file());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record.join("script.json")).unwrap())
            .unwrap();
    assert!(
        meta["hera_version"]
            .as_str()
            .unwrap_or("")
            .starts_with("5."),
        "{meta}"
    );

    // The same steps as the YAML demo: every pod's template and inputs.
    let (yaml_name, _, _) = run_to_the_end("demo");
    let hera_steps = pod_steps(&hera_name);
    assert_eq!(hera_steps.len(), 14, "{hera_steps:?}");
    assert_eq!(hera_steps, pod_steps(&yaml_name));

    // Its results come off the volume like any run's.
    let to = tempfile::tempdir().unwrap();
    let fetched = xtask_process()
        .args(["fetch-results", "--to"])
        .arg(to.path())
        .output()
        .unwrap();
    assert!(fetched.status.success(), "{}", text(&fetched));
    let check = std::process::Command::new("python3")
        .arg(common::workspace_root().join("tests/check_demo_results.py"))
        .arg(to.path())
        .args(["2", "LYON_1ER", "LYON_8EME", "2009", "2012"])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    // `rerun` replays the recorded manifest: no Python anywhere on its PATH.
    let rerun = xtask_process()
        .env("PATH", "/nonexistent")
        .args(["rerun", &record.display().to_string(), "--output", "json"])
        .output()
        .unwrap();
    let all = text(&rerun);
    assert!(rerun.status.success(), "{all}");
    let end = json_lines(&rerun)
        .into_iter()
        .find(|l| l["type"] == "end")
        .expect("end line");
    assert_eq!(end["phase"], "Succeeded", "{all}");
}

/// The toolkit in a workspace of its own, with the machine's Python on PATH and the
/// managed environments shared with other runs (a cold one installs Hera from PyPI).
fn offline_with_python(dir: &tempfile::TempDir) -> assert_cmd::Command {
    let mut cmd = common::offline_xtask(dir);
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XTASK_HERA_ENV_ROOT", hera_env_root());
    cmd
}

fn hera_env_root() -> std::path::PathBuf {
    let shared = std::path::Path::new("/var/cache/xtask-hera");
    if std::fs::create_dir_all(shared).is_ok() {
        shared.to_path_buf()
    } else {
        common::workspace_root().join(".xtask/python")
    }
}

#[test]
#[ignore = "needs PyPI (Hera 7.1.0 is installed once under .xtask/python); run by tests/run-all"]
fn a_hera_7_script_is_captured_and_its_error_is_shown_with_the_traceback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("workflows")).unwrap();
    write_file(
        &dir,
        "workflows/sweep.py",
        r#"import os
from hera.workflows import DAG, Container, Parameter, Task, Workflow

# As the team's helper library does: the namespace from the environment, and the
# hera.config the toolkit read.
config = os.path.basename(os.environ["ARGOCONFIG"])
with Workflow(generate_name="sweep-", entrypoint="main", namespace=os.environ["ARGO_NAMESPACE"],
              labels={"config-file": config.replace(".", "-")}) as w:
    echo = Container(name="echo", image="stack/busybox:1", command=["echo"],
                     args=["{{inputs.parameters.n}}"], inputs=[Parameter(name="n")])
    with DAG(name="main"):
        for n in range(3):
            Task(name=f"echo-{n}", template=echo, arguments={"n": str(n)})

if __name__ == "__main__":
    w.create()
"#,
    );
    write_file(&dir, "xtask.toml", "[hera]\nversion = \"7.1.0\"\n");
    write_file(&dir, "hera.config", "argo_namespace=vcity-test\n");
    let out = offline_with_python(&dir)
        .args(["run", "sweep", "--dry-run"])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("with Hera 7.1.0"), "{all}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("generateName: sweep-"), "{stdout}");
    assert!(stdout.contains("namespace: vcity-test"), "{stdout}");
    assert!(stdout.contains("config-file: hera-config"), "{stdout}");
    for n in 0..3 {
        assert!(stdout.contains(&format!("name: echo-{n}")), "{stdout}");
    }

    // Validation errors point into the captured YAML and name the script and template.
    write_file(
        &dir,
        "workflows/wrong.py",
        r#"from hera.workflows import DAG, Container, Task, Workflow

with Workflow(generate_name="wrong-", entrypoint="main") as w:
    echo = Container(name="echo", image="stack/busybox:1", command=["echo"])
    with DAG(name="main"):
        Task(name="a", template=echo)
        Task(name="b", template="missing-template")

if __name__ == "__main__":
    w.create()
"#,
    );
    let out = offline_with_python(&dir)
        .args(["lint", "wrong"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(
            "error: task `b` calls template `missing-template`, which is not in this file (built by"
        ),
        "{all}"
    );
    assert!(all.contains("wrong.py, template `main`)"), "{all}");
    assert!(all.contains(".xtask/hera/wrong.yaml:"), "{all}");

    // A script that raises: its traceback and a one-line summary, exit 2 (bad input).
    write_file(
        &dir,
        "workflows/broken.py",
        "BOROUGHS = {'LYON_1ER': 1}\n\ndef pick(name):\n    return BOROUGHS[name]\n\npick('LYON_9EME')\n",
    );
    let out = offline_with_python(&dir)
        .args(["run", "broken", "--dry-run"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("KeyError"), "{all}");
    assert!(all.contains("broken.py"), "{all}");
    assert!(all.contains("line 4"), "{all}");
}

//! Seeing a run, on the stack's real node, as a person sees it: `run demo --logs` in a
//! real terminal (tmux) draws one tree in place, read from the terminal's screen, not
//! from the byte stream; the run's report page is loaded in a headless browser and
//! read through its DOM, for the demo and for a run with a failing, retried step; and
//! a workflow started without us gets its page from the cluster.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin_kubectl, json_lines, pod_image, text, workspace_root, xtask};
use tempfile::TempDir;

fn needs_real_node() {
    common::stack_var("KUBECONFIG");
    assert_eq!(
        std::env::var("STACK_REAL_NODE").as_deref(),
        Ok("1"),
        "these tests need the stack's real node: tests/stack/up && eval \"$(tests/stack/env)\""
    );
}

/// Screenshots are kept here for review.
fn output_dir() -> PathBuf {
    let dir = workspace_root().join("target/test-output/run-view");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tmux session running one command in a terminal of a given size.
struct Terminal {
    session: String,
}

impl Terminal {
    fn start(script: &Path, width: u16, height: u16) -> Terminal {
        let session = format!("xtask-view-{}", std::process::id());
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", &session, "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg(format!("bash {}", script.display()))
            .status()
            .expect("tmux (tests/stack/up installs it)");
        assert!(status.success(), "tmux new-session failed");
        Terminal { session }
    }

    /// The screen as the terminal shows it now.
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

/// Lines of the live tree on a screen: from its header (`demo-… Phase · n/m steps
/// done`) down.
fn tree_of(screen: &str) -> Vec<&str> {
    let lines: Vec<&str> = screen.lines().collect();
    let Some(top) = lines.iter().position(|l| is_tree_header(l)) else {
        return Vec::new();
    };
    lines[top..]
        .iter()
        .take_while(|l| !l.starts_with("EXIT=") && !l.contains(" workflow demo-"))
        .copied()
        .collect()
}

/// The labels of the timeline's bars, as the browser rendered them.
fn bar_labels(seen: &serde_json::Value) -> Vec<String> {
    seen["bar_labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn is_tree_header(line: &str) -> bool {
    line.contains(" demo-") && line.contains(" steps done · ")
}

#[test]
#[ignore = "needs the local stack with its real node and tmux: tests/run-all runs it"]
fn run_demo_in_a_terminal_draws_one_tree_in_place_and_its_page_shows_every_step() {
    needs_real_node();
    let up = xtask()
        .args(["up", "--images-only", "demo-*", "busybox"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", text(&up));

    let dir = TempDir::new().unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "cd {root}\neval \"$(tests/stack/env)\"\nexport XTASK_STALL_GRACE_SECS=20\n\
             {bin} run demo --logs -p experiment=live-view\necho EXIT=$?\nsleep 600\n",
            root = workspace_root().display(),
            bin = env!("CARGO_BIN_EXE_xtask"),
        ),
    )
    .unwrap();
    let (width, height) = (150, 32);
    let terminal = Terminal::start(&script, width, height);
    let started = Instant::now();
    let mut screens = Vec::new();
    let last = loop {
        let screen = terminal.screen();
        if screen.lines().any(|l| l.starts_with("EXIT=")) {
            break screen;
        }
        screens.push(screen);
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the demo did not end in 5 min; last screen:\n{}",
            screens.last().unwrap()
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(last.contains("EXIT=0"), "the demo failed:\n{last}");
    // Kept for review: the terminal mid-run and at the end.
    let middle = screens
        .iter()
        .rev()
        .find(|s| s.contains(" Running · "))
        .cloned()
        .unwrap_or_default();
    std::fs::write(output_dir().join("terminal-running.txt"), &middle).unwrap();
    std::fs::write(output_dir().join("terminal-end.txt"), &last).unwrap();

    // While it ran: one tree, never two copies of it (no scrolling garbage), items by
    // their values, Argo's internal names nowhere, never wider than the terminal.
    let running: Vec<&String> = screens
        .iter()
        .filter(|s| {
            s.lines()
                .any(|l| is_tree_header(l) && l.contains(" Running · "))
        })
        .collect();
    assert!(
        !running.is_empty(),
        "no live tree seen: {:#?}",
        screens.last()
    );
    for screen in &running {
        let headers = screen.lines().filter(|l| is_tree_header(l)).count();
        assert_eq!(headers, 1, "the tree is drawn once:\n{screen}");
        assert!(!screen.contains("[0]."), "internal node names:\n{screen}");
        for line in screen.lines() {
            assert!(
                line.chars().count() <= usize::from(width),
                "too wide: {line}"
            );
        }
    }
    let seen_items = running.iter().any(|s| {
        tree_of(s)
            .iter()
            .any(|l| l.contains("2009 ·") || l.contains("LYON_1ER ·"))
    });
    assert!(
        seen_items,
        "loop items shown by their values: {:#?}",
        running.last()
    );
    let seen_loop = running
        .iter()
        .any(|s| tree_of(s).iter().any(|l| l.contains("vintage ×2 items")));
    assert!(seen_loop, "the loop as one line: {:#?}", running.last());

    // At the end: the finished tree, folded, and every finished step once at most.
    let tree = tree_of(&last);
    assert!(
        tree.iter()
            .any(|l| l.contains("✓ vintage ×2 items · 2 Succeeded")),
        "folded at the end:\n{last}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for line in &tree {
        assert!(seen.insert(*line), "a tree line twice: {line}\n{last}");
    }
    // Log lines are above the tree, named as the tree names steps.
    let header_at = last.lines().position(is_tree_header).unwrap();
    let log_at: Vec<usize> = last
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("[collect · ") || l.starts_with("[tile · "))
        .map(|(i, _)| i)
        .collect();
    assert!(!log_at.is_empty(), "step logs on screen:\n{last}");
    assert!(
        log_at.iter().all(|&i| i < header_at),
        "logs above the tree:\n{last}"
    );

    // The report page of that run, read in a browser.
    let page = last
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .map(|p| PathBuf::from(p.trim()))
        .unwrap_or_else(|| panic!("run printed no report path:\n{last}"));
    let shot = output_dir().join("demo-report.png");
    let seen = common::inspect_in_browser(&page, &shot);
    // 2 vintages × (2 boroughs × 3 stages + 1 tile).
    assert_eq!(seen["bars"], 14, "{seen:#}");
    assert_eq!(seen["visible_bars"], 14, "{seen:#}");
    assert_eq!(seen["phase"], "Succeeded", "{seen:#}");
    assert!(seen["findings"].as_array().unwrap().is_empty(), "{seen:#}");
    assert!(
        seen["critical"].as_u64().unwrap() >= 2,
        "a critical path: {seen:#}"
    );
    assert!(
        seen["time_shares"]
            .as_str()
            .unwrap()
            .contains("waiting for the cluster"),
        "{seen:#}"
    );
    // Pinned images, every parameter (the one given and the defaults), how to run it again.
    assert!(seen["images"].as_u64().unwrap() >= 4, "{seen:#}");
    assert_eq!(seen["parameters"], 3, "{seen:#}");
    assert!(
        seen["rerun"]
            .as_str()
            .unwrap()
            .starts_with("cargo xtask rerun "),
        "{seen:#}"
    );
    let labels = bar_labels(&seen);
    assert!(
        labels.iter().any(|l| l == "collect · 2009 · LYON_1ER"),
        "{labels:?}"
    );
    assert_eq!(seen["external"], 0);

    // After fetch-results, the page says what was fetched.
    let to = dir.path().join("results");
    if common::via_argo_server() {
        // Through the Argo Server alone, fetching is refused with what it needs.
        let refused = xtask()
            .args(["fetch-results", "--to"])
            .arg(&to)
            .output()
            .unwrap();
        let all = text(&refused);
        assert_eq!(refused.status.code(), Some(2), "{all}");
        assert!(
            all.contains("needs the Kubernetes API") && all.contains("Rancher"),
            "{all}"
        );
    }
    // The user got a kubeconfig.
    let mut with_kubeconfig = common::xtask_process();
    with_kubeconfig.env("KUBECONFIG", common::stack_var("KUBECONFIG"));
    with_kubeconfig.env("XTASK_VIA", "kube");
    let fetch = assert_cmd::Command::from(with_kubeconfig)
        .args(["fetch-results", "--to"])
        .arg(&to)
        .output()
        .unwrap();
    assert!(fetch.status.success(), "{}", text(&fetch));
    let seen = common::inspect_in_browser(&page, &output_dir().join("demo-report-fetched.png"));
    let results = seen["results"].as_str().unwrap_or_default();
    assert!(results.contains("every file verified"), "{seen:#}");
    assert!(results.contains("live-view"), "{seen:#}");
}

/// A prepare step, then three items of which one fails twice (a retry), then nothing.
fn failing_workflow(dir: &Path) -> PathBuf {
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: view-fail-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: prepare
        template: say
        arguments: {{parameters: [{{name: code, value: '0'}}]}}
    - - name: fit
        template: say
        withItems: ['0', '3', '0']
        arguments: {{parameters: [{{name: code, value: '{{{{item}}}}'}}]}}
  - name: say
    retryStrategy: {{limit: 1}}
    inputs: {{parameters: [{{name: code}}]}}
    container:
      image: {image}
      command: [sh, -c, 'echo fitting; exit {{{{inputs.parameters.code}}}}']
",
        image = pod_image()
    );
    let path = dir.join("view-fail.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
#[ignore = "needs the local stack with its real node: tests/run-all runs it"]
fn a_failed_run_s_page_shows_its_retries_and_the_finding_on_the_failed_step() {
    needs_real_node();
    let dir = TempDir::new().unwrap();
    let file = failing_workflow(dir.path());
    let out = xtask()
        .args(["run", "--no-pin", "-o", "json", "--timeout", "180"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines = json_lines(&out);
    let page = lines
        .iter()
        .find(|l| l["type"] == "report")
        .and_then(|l| l["path"].as_str())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no report event: {}", text(&out)));
    let seen = common::inspect_in_browser(&page, &output_dir().join("failed-report.png"));
    // prepare, three items, and the failed item's second attempt.
    assert_eq!(seen["bars"], 5, "{seen:#}");
    assert_eq!(seen["visible_bars"], 5, "{seen:#}");
    assert_eq!(seen["phase"], "Failed", "{seen:#}");
    let labels = bar_labels(&seen);
    assert!(
        labels.iter().any(|l| l == "fit · 3 (attempt 1)"),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|l| l == "fit · 3 (attempt 2)"),
        "{labels:?}"
    );
    let findings = seen["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.as_str().unwrap().contains("non-zero-exit")),
        "{seen:#}"
    );
    assert!(
        seen["marks"].as_u64().unwrap() >= 1,
        "anchored on a bar: {seen:#}"
    );
    let link = seen["finding_links"][0].as_str().unwrap_or_default();
    assert!(link.starts_with("#step-"), "{seen:#}");

    // `report` again reads the record offline (the cluster is not needed for an ended run)
    // and prints the same data as JSON.
    let again = xtask()
        .args(["report", "-o", "json", "--kubeconfig", "/nonexistent"])
        .arg(page.parent().unwrap())
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["run"]["steps"].as_array().unwrap().len(), 5);
    assert_eq!(v["run"]["workflow"]["phase"], "Failed");
    let name = v["run"]["workflow"]["name"].as_str().unwrap().to_string();
    let _ = admin_kubectl(&["-n", "argo", "delete", "workflow", &name, "--wait=false"]);
}

#[test]
#[ignore = "needs the local stack with its real node: tests/run-all runs it"]
fn a_workflow_started_without_us_gets_its_page_from_the_cluster() {
    needs_real_node();
    let dir = TempDir::new().unwrap();
    let file = common::one_step_workflow(
        dir.path(),
        "view-foreign",
        "",
        &pod_image(),
        "echo hello",
        // What `run` would have set: the account that may report step results.
        &format!(
            "  serviceAccountName: {}\n",
            common::stack_var("ARGO_SERVICE_ACCOUNT")
        ),
    );
    let created = Command::new("kubectl")
        .args(["-n", "argo", "create", "-o", "name", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    let name = String::from_utf8_lossy(&created.stdout)
        .trim()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let watched = xtask().args(["watch", &name]).output().unwrap();
    assert!(watched.status.success(), "{}", text(&watched));
    let out = xtask().args(["report", &name]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let page = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(
        page,
        workspace_root()
            .join(".xtask/reports")
            .join(&name)
            .join("report.html")
    );
    let seen = common::inspect_in_browser(&page, &output_dir().join("foreign-report.png"));
    assert_eq!(seen["bars"], 1, "{seen:#}");
    assert_eq!(seen["phase"], "Succeeded", "{seen:#}");
    assert_eq!(
        seen["rerun"],
        serde_json::Value::Null,
        "no record, no rerun claimed"
    );
    // A name that is neither a record nor a workflow.
    let out = xtask().args(["report", "no-such-run-x1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no run record and no workflow no-such-run-x1"),
        "{}",
        text(&out)
    );
    let _ = admin_kubectl(&["-n", "argo", "delete", "workflow", &name, "--wait=false"]);
}

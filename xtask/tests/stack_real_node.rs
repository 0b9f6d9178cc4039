//! Faults produced for real on the stack's real node (kubelet + containerd), not played
//! by kwok stages: `cargo xtask run` must end each with the right exit code and explain
//! it at its level, with the kubelet's own words as evidence and a fix.

mod common;

use common::{admin_apply, json_lines, pod_image, text, xtask};
use tempfile::TempDir;

/// Exit code of a run stopped on a diagnosis (`--fail-fast`).
const EXIT_STOPPED_ON_DIAGNOSIS: i32 = 4;
/// Exit code of a run whose workflow ended Failed.
const EXIT_FAILED: i32 = 1;

/// A one-step workflow for the real node: no stack mark, the image and command given,
/// any extra container (or spec) YAML.
fn workflow(
    dir: &TempDir,
    name: &str,
    image: &str,
    command: &str,
    extra: &str,
) -> std::path::PathBuf {
    common::one_step_workflow(
        dir.path(),
        &format!("real-{name}"),
        "",
        image,
        command,
        extra,
    )
}

struct Outcome {
    code: i32,
    lines: Vec<serde_json::Value>,
    all: String,
}

fn run(file: &std::path::Path, extra: &[&str]) -> Outcome {
    common::stack_var("KUBECONFIG");
    assert_eq!(
        std::env::var("STACK_REAL_NODE").as_deref(),
        Ok("1"),
        "these tests need the stack's real node: tests/stack/up (without --without-node) && eval \"$(tests/stack/env)\""
    );
    let out = xtask()
        .args(["run", "--no-pin", "-o", "json", "--timeout", "120"])
        .args(extra)
        .arg(file)
        .output()
        .expect("run xtask");
    let outcome = Outcome {
        code: out.status.code().unwrap_or(-1),
        lines: json_lines(&out),
        all: text(&out),
    };
    // Nothing left pending or running for the next tests.
    if let Some(name) = outcome
        .lines
        .iter()
        .find(|l| l["type"] == "submitted")
        .and_then(|l| l["name"].as_str())
    {
        let _ = common::admin_kubectl(&["-n", "argo", "delete", "workflow", name, "--wait=false"]);
    }
    outcome
}

impl Outcome {
    /// The finding with this reason: its level, evidence and fix are checked.
    fn finding(&self, reason: &str, level: &str, evidence: &str) -> &serde_json::Value {
        let findings: Vec<_> = self
            .lines
            .iter()
            .filter(|l| l["type"] == "finding")
            .map(|l| &l["finding"])
            .collect();
        let hit = findings
            .iter()
            .find(|f| f["reason"] == reason)
            .unwrap_or_else(|| {
                panic!("no {reason} finding; findings: {findings:#?}\n{}", self.all)
            });
        assert_eq!(hit["level"], level, "level of {reason}: {hit:#}");
        let evidence_text = hit["evidence"].to_string();
        assert!(
            evidence_text.contains(evidence),
            "evidence of {reason} lacks {evidence:?}: {evidence_text}\n{}",
            self.all
        );
        assert!(
            !hit["fix"].as_str().unwrap_or("").is_empty(),
            "{reason} has no fix: {hit:#}"
        );
        hit
    }
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_real_step_runs_and_its_log_is_streamed() {
    let dir = TempDir::new().unwrap();
    let file = workflow(
        &dir,
        "hello",
        &pod_image(),
        "echo real step on $(hostname); cat /proc/self/cgroup | grep -c kubepods",
        "",
    );
    let out = run(&file, &["--logs"]);
    assert_eq!(out.code, 0, "{}", out.all);
    let logs: Vec<&str> = out
        .lines
        .iter()
        .filter(|l| l["type"] == "log" && l["step"] == "work")
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert!(
        logs.iter().any(|l| l.starts_with("real step on ")),
        "the step's own output is streamed: {logs:?}\n{}",
        out.all
    );
    assert!(
        !logs.iter().any(|l| l.contains("argo=true")),
        "Argo's executor lines are not the step's: {logs:?}"
    );
    // The process ran inside the kubelet's pod cgroups: a container, not a stage.
    assert!(
        logs.iter()
            .any(|l| l.trim().parse::<u32>().is_ok_and(|n| n > 0)),
        "no kubepods cgroup line: {logs:?}"
    );
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn an_image_missing_from_the_registry_is_a_user_problem() {
    let dir = TempDir::new().unwrap();
    let registry = common::stack_var("STACK_REGISTRY");
    let image = format!("{registry}/vcity/no-such-image:1");
    let file = workflow(&dir, "missing-image", &image, "true", "");
    // Past the toolkit's own check (see stack_records.rs), to see what the node says.
    let out = run(&file, &["--fail-fast", "--no-check-images"]);
    assert_eq!(out.code, EXIT_STOPPED_ON_DIAGNOSIS, "{}", out.all);
    out.finding("image-not-found", "user", "not found");
    out.finding("image-not-found", "user", "no-such-image");
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_pull_without_credentials_is_refused_by_the_registry() {
    // A service account without the registry's pull secret; `Always` so the node asks
    // the registry even though it has the image.
    admin_apply(
        "apiVersion: v1
kind: ServiceAccount
metadata: {name: no-pull-secret, namespace: argo}
",
    );
    let dir = TempDir::new().unwrap();
    let file = workflow(
        &dir,
        "no-credentials",
        &pod_image(),
        "true",
        "      imagePullPolicy: Always\n",
    );
    let out = run(
        &file,
        &["--fail-fast", "--service-account", "no-pull-secret"],
    );
    assert_eq!(out.code, EXIT_STOPPED_ON_DIAGNOSIS, "{}", out.all);
    // Through Harbor's token flow containerd gets an anonymous token without the pull
    // right: "insufficient_scope: authorization failed" (a Basic-auth registry said 401).
    let hit = out.finding("registry-unauthorized", "user", "authorization failed");
    assert!(
        hit["summary"]
            .as_str()
            .unwrap_or("")
            .contains("no credentials"),
        "the pod had no pull secret, and the summary says so: {hit:#}"
    );
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_step_over_its_memory_limit_is_killed_by_the_kernel() {
    let dir = TempDir::new().unwrap();
    let file = workflow(
        &dir,
        "oom",
        &pod_image(),
        // The limit is several times the executor's own memory: the kernel (cgroup v1
        // here) kills the largest process of the container, and under a tight limit
        // that can be Argo's executor rather than dd; Argo's wait container then waits
        // forever for an exit code nobody writes (seen in CI with 32Mi;
        // argo-workflows#8680). The pause lets the executor finish starting.
        "sleep 1; echo allocating 512 MB; dd if=/dev/zero of=/dev/null bs=512M count=1",
        "      resources:
        limits: {memory: 128Mi, cpu: 500m}
",
    );
    let out = run(&file, &[]);
    assert_eq!(out.code, EXIT_FAILED, "{}", out.all);
    out.finding("oom-killed", "user", "137");
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_non_zero_exit_shows_the_log_tail() {
    let dir = TempDir::new().unwrap();
    let file = workflow(
        &dir,
        "exit",
        &pod_image(),
        "echo loading tiles; echo \"ValueError: tile 42 has no geometry\" >&2; exit 3",
        "",
    );
    let out = run(&file, &[]);
    assert_eq!(out.code, EXIT_FAILED, "{}", out.all);
    let hit = out.finding("non-zero-exit", "user", "exit code 3");
    assert!(
        hit["evidence"]
            .to_string()
            .contains("tile 42 has no geometry"),
        "the log tail is part of the evidence: {hit:#}"
    );
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_command_missing_from_the_image_is_named_not_just_its_exit_code() {
    let dir = TempDir::new().unwrap();
    // Written whole: the shared helper runs its command through `sh -c`.
    let file = dir.path().join("real-command.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: real-command-
spec:
  entrypoint: work
  templates:
  - name: work
    container:
      image: {}
      command: [tile-convrt, --in, /data]
",
            pod_image()
        ),
    )
    .unwrap();
    let out = run(&file, &[]);
    assert_eq!(out.code, EXIT_FAILED, "{}", out.all);
    let hit = out.finding("command-not-found", "user", "tile-convrt");
    assert!(
        hit["summary"].to_string().contains("`tile-convrt`"),
        "the summary names the program: {hit:#}"
    );
    // Argo's executor exits 64 when the program is missing: that code is not a second
    // finding sending the user to the program's logs.
    assert!(
        !out.lines
            .iter()
            .any(|l| l["type"] == "finding" && l["finding"]["reason"] == "non-zero-exit"),
        "{}",
        out.all
    );
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_missing_configmap_key_is_reported_with_the_key() {
    let dir = TempDir::new().unwrap();
    let file = workflow(
        &dir,
        "configmap-key",
        &pod_image(),
        "echo $MISSING",
        "      env:
      - name: MISSING
        valueFrom:
          configMapKeyRef: {name: vcity-pagoda-proxy-environment, key: NOT_A_KEY}
",
    );
    let out = run(&file, &["--fail-fast"]);
    assert_eq!(out.code, EXIT_STOPPED_ON_DIAGNOSIS, "{}", out.all);
    out.finding("configmap-key-missing", "user", "NOT_A_KEY");
}

#[test]
#[ignore = "needs tests/stack with its real node"]
fn a_missing_claim_is_a_user_problem() {
    let dir = TempDir::new().unwrap();
    let file = workflow(
        &dir,
        "claim",
        &pod_image(),
        "ls /data",
        "      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: no-such-claim}
",
    );
    let out = run(&file, &["--fail-fast"]);
    assert_ne!(out.code, 0, "{}", out.all);
    out.finding("pvc-missing", "user", "no-such-claim");
}

//! Table-driven fixture tests: every folder of `tests/fixtures/` is one snapshot and the
//! findings it must give. See `tests/fixtures/README.md` for the layout and for
//! `UPDATE_EXPECTED=1` (writes the `expected.json` of folders that lack one).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use kit_diagnose::{DiagnoseConfig, Finding, Reason, Snapshot, SnapshotJson, diagnose};
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn scenarios() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn read_json(dir: &Path, name: &str) -> Result<Option<Value>, String> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads one scenario folder into a snapshot.
fn load(dir: &Path) -> Result<Snapshot, String> {
    let now_text = fs::read_to_string(dir.join("now.txt")).map_err(|e| format!("now.txt: {e}"))?;
    let now: DateTime<Utc> = now_text
        .trim()
        .parse()
        .map_err(|e| format!("now.txt {:?}: {e}", now_text.trim()))?;
    let workflow = read_json(dir, "workflow.json")?.ok_or("workflow.json is missing")?;
    let pods = read_json(dir, "pods.json")?;
    let events = read_json(dir, "events.json")?;
    let nodes = read_json(dir, "nodes.json")?;
    let logs = read_json(dir, "logs.json")?;
    Snapshot::from_json(
        now,
        SnapshotJson {
            workflow: &workflow,
            pods: pods.as_ref(),
            events: events.as_ref(),
            nodes: nodes.as_ref(),
            logs: logs.as_ref(),
        },
        DiagnoseConfig::default(),
    )
    .map_err(|e| e.to_string())
}

/// Properties every finding must have, whatever the scenario.
fn check_invariants(f: &Finding) -> Vec<String> {
    let mut errs = Vec::new();
    if f.level != f.reason.level() {
        errs.push(format!("{}: level {} != reason's", f.reason, f.level));
    }
    if f.terminal && f.watching {
        errs.push(format!("{}: both terminal and watching", f.reason));
    }
    if f.evidence.is_empty() {
        errs.push(format!("{}: no evidence", f.reason));
    }
    if f.fix.trim().is_empty() || f.summary.trim().is_empty() {
        errs.push(format!("{}: empty fix or summary", f.reason));
    }
    let text = f.to_string();
    if text.contains('\n') || !text.contains("→ fix: ") {
        errs.push(format!("{}: bad rendering {text:?}", f.reason));
    }
    let back: Finding = match serde_json::to_value(f).and_then(serde_json::from_value) {
        Ok(b) => b,
        Err(e) => {
            errs.push(format!("{}: JSON round trip: {e}", f.reason));
            return errs;
        }
    };
    if &back != f {
        errs.push(format!("{}: JSON round trip changed the finding", f.reason));
    }
    errs
}

/// The part of a finding `expected.json` records.
fn summary_of(f: &Finding) -> Value {
    json!({
        "level": f.level,
        "reason": f.reason,
        "terminal": f.terminal,
        "watching": f.watching,
        "step": f.step,
    })
}

/// Compares in order; only the keys an expected entry has are compared.
fn compare(expected: &[Value], got: &[Finding]) -> Vec<String> {
    let mut errs = Vec::new();
    if expected.len() != got.len() {
        errs.push(format!(
            "expected {} findings, got {}: {:?}",
            expected.len(),
            got.len(),
            got.iter().map(|f| f.reason.as_str()).collect::<Vec<_>>()
        ));
    }
    for (i, (e, f)) in expected.iter().zip(got).enumerate() {
        let actual = serde_json::to_value(f).unwrap_or(Value::Null);
        let Some(map) = e.as_object() else {
            errs.push(format!("expected[{i}] is not an object"));
            continue;
        };
        for (k, v) in map {
            if actual.get(k).unwrap_or(&Value::Null) != v {
                errs.push(format!(
                    "finding {i} ({}): {k} is {}, expected {v}",
                    f.reason,
                    actual.get(k).unwrap_or(&Value::Null)
                ));
            }
        }
    }
    errs
}

#[test]
fn every_fixture_gives_its_expected_findings() {
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut failures = Vec::new();
    let dirs = scenarios();
    assert!(!dirs.is_empty(), "no fixtures found");
    for dir in &dirs {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let snapshot = match load(dir) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let findings = diagnose(&snapshot);
        for f in &findings {
            failures.extend(
                check_invariants(f)
                    .into_iter()
                    .map(|e| format!("{name}: {e}")),
            );
        }
        let path = dir.join("expected.json");
        // Only new scenarios get one written: existing files may check chosen keys only.
        if update && !path.exists() {
            let v: Vec<Value> = findings.iter().map(summary_of).collect();
            let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
            if let Err(e) = fs::write(&path, text) {
                failures.push(format!("{name}: writing expected.json: {e}"));
            }
            continue;
        }
        let expected = match read_json(dir, "expected.json") {
            Ok(Some(Value::Array(a))) => a,
            Ok(_) => {
                failures.push(format!("{name}: expected.json missing or not an array"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let errs = compare(&expected, &findings);
        if !errs.is_empty() {
            let rendered: Vec<String> = findings.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "{name}:\n    {}\n  findings:\n    {}",
                errs.join("\n    "),
                rendered.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A run record keeps only the workflow's part of a snapshot: it must be diagnosed the
/// same, on every scenario.
#[test]
fn the_workflow_s_part_of_a_snapshot_gives_the_same_findings() {
    for dir in scenarios() {
        let snapshot = load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let part = snapshot.about_the_workflow();
        assert!(part.pods.len() <= snapshot.pods.len());
        assert!(
            part.pods
                .iter()
                .all(|p| p.metadata.managed_fields.is_none()),
            "{}",
            dir.display()
        );
        assert_eq!(
            kit_diagnose::diagnose(&part),
            kit_diagnose::diagnose(&snapshot),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn every_reason_has_a_fixture() {
    let mut seen = BTreeSet::new();
    for dir in scenarios() {
        if let Ok(Some(Value::Array(a))) = read_json(&dir, "expected.json") {
            for e in a {
                if let Some(r) = e["reason"].as_str().and_then(Reason::from_name) {
                    seen.insert(r);
                }
            }
        }
    }
    let missing: Vec<&str> = Reason::ALL
        .iter()
        .filter(|r| !seen.contains(r))
        .map(|r| r.as_str())
        .collect();
    assert!(missing.is_empty(), "reasons without a fixture: {missing:?}");
}

#[test]
fn healthy_workflows_give_nothing() {
    for name in [
        "healthy-succeeded",
        "healthy-running",
        "image-pull-recovered",
    ] {
        let s = load(&fixtures_dir().join(name)).expect("fixture loads");
        let findings = diagnose(&s);
        assert!(findings.is_empty(), "{name}: {findings:#?}");
        assert_eq!(kit_diagnose::summary_level(&findings), None);
        assert!(!kit_diagnose::exit_worthy(&findings));
    }
}

fn one(name: &str, reason: Reason) -> Finding {
    let s = load(&fixtures_dir().join(name)).expect("fixture loads");
    diagnose(&s)
        .into_iter()
        .find(|f| f.reason == reason)
        .unwrap_or_else(|| panic!("{name}: no {reason}"))
}

#[test]
fn non_zero_exit_keeps_the_last_50_log_lines() {
    let f = one("non-zero-exit", Reason::NonZeroExit);
    assert_eq!(f.evidence[0], "Error (exit code 1)");
    let logs = &f.evidence[1..];
    assert_eq!(logs.len(), 50);
    assert_eq!(
        logs.last().map(String::as_str),
        Some("FileNotFoundError: no index for 2012 under /data/vintages")
    );
    assert!(f.summary.contains("code 1"), "{}", f.summary);
}

#[test]
fn oom_names_the_container_and_its_limit() {
    let f = one("oom-killed", Reason::OomKilled);
    assert!(f.summary.contains("\"main\""), "{}", f.summary);
    assert!(f.summary.contains("2Gi"), "{}", f.summary);
    assert!(
        f.evidence
            .contains(&"OOMKilled (exit code 137)".to_string())
    );
}

#[test]
fn image_findings_quote_the_kubelet_and_point_to_up() {
    let f = one("image-not-found", Reason::ImageNotFound);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("Failed to pull image \"127.0.0.1:5443/vcity/collect:1\""))
    );
    assert!(!f.evidence.iter().any(|e| e == "Error: ErrImagePull"));
    assert!(f.fix.contains("cargo xtask up"));
    let text = f.to_string();
    assert!(
        text.starts_with("✗ [user] image-not-found in step \"collect(0:2012)\""),
        "{text}"
    );
}

#[test]
fn forbidden_names_the_service_account_and_the_right() {
    let f = one("forbidden-taskresults", Reason::Forbidden);
    assert!(f.summary.contains("argo:argo-workflow"), "{}", f.summary);
    assert!(
        f.summary.contains("create workflowtaskresults.argoproj.io"),
        "{}",
        f.summary
    );
    assert!(f.fix.contains("rolebinding"), "{}", f.fix);
    assert!(
        f.fix.contains("--serviceaccount=argo:argo-workflow"),
        "{}",
        f.fix
    );
}

#[test]
fn unschedulable_shows_requests_and_largest_node() {
    let f = one("unschedulable-memory-never", Reason::UnschedulableResources);
    assert!(
        f.summary.contains("main requests memory=64Gi"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("memory 31Gi"), "{}", f.summary);
    let f = one("unschedulable-memory-wait", Reason::UnschedulableResources);
    assert!(f.summary.contains("memory=16Gi"), "{}", f.summary);
    assert!(!f.terminal);
}

#[test]
fn sandbox_keeps_the_cni_text() {
    let f = one("sandbox-cni", Reason::PodSandboxFailed);
    assert!(f.summary.contains("calico"), "{}", f.summary);
    assert!(f.evidence.len() <= 3);
    assert!(
        f.evidence
            .iter()
            .all(|e| e.contains("connect: connection refused"))
    );
}

#[test]
fn merged_findings_name_the_other_steps() {
    let f = one("multi-finding", Reason::ImageNotFound);
    assert!(
        f.summary.contains("Also in collect(2:2014)"),
        "{}",
        f.summary
    );
}

#[test]
fn silent_failure_carries_the_log_tail() {
    let f = one("pod-error-workflow-silent", Reason::PodErrorWorkflowSilent);
    assert!(
        f.summary.contains("collect(0:2012) as Running"),
        "{}",
        f.summary
    );
    assert!(f.evidence.iter().any(|e| e.contains("HTTP 503")));
}

#[test]
fn volume_timeout_behind_a_missing_secret_is_not_reported_twice() {
    let s = load(&fixtures_dir().join("secret-missing")).expect("fixture loads");
    let reasons: Vec<Reason> = diagnose(&s).iter().map(|f| f.reason).collect();
    assert_eq!(reasons, vec![Reason::SecretMissing]);
}

#[test]
fn grace_periods_come_from_the_config() {
    let dir = fixtures_dir().join("image-not-found");
    let mut s = load(&dir).expect("fixture loads");
    s.config.image_pull_grace = std::time::Duration::from_secs(3600);
    let f = diagnose(&s);
    assert!(f[0].watching && !f[0].terminal);
}

/// Prints every fixture's findings: `cargo test -p kit-diagnose --test fixtures -- --ignored --nocapture show`.
#[test]
#[ignore]
fn show() {
    for dir in scenarios() {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        match load(&dir) {
            Ok(s) => {
                println!("== {name}");
                for f in diagnose(&s) {
                    println!("{f}\n");
                }
            }
            Err(e) => println!("== {name}: {e}"),
        }
    }
}

#[test]
fn pods_of_other_workflows_are_ignored() {
    let mut s = load(&fixtures_dir().join("image-not-found")).expect("fixture loads");
    for p in &mut s.pods {
        let p = std::sync::Arc::make_mut(p);
        p.metadata.name = Some("other-x1-collect-1".into());
        p.metadata.labels = Some(
            [(
                kit_diagnose::LABEL_WORKFLOW.to_string(),
                "other-x1".to_string(),
            )]
            .into(),
        );
        p.metadata.annotations = None;
    }
    let reasons: Vec<Reason> = diagnose(&s).iter().map(|f| f.reason).collect();
    // Only the workflow's own view is left: its Pending node without a pod is young.
    assert!(!reasons.contains(&Reason::ImageNotFound), "{reasons:?}");
}

#[test]
fn events_of_an_older_pod_with_the_same_name_are_ignored() {
    let mut s = load(&fixtures_dir().join("image-not-found")).expect("fixture loads");
    for p in &mut s.pods {
        std::sync::Arc::make_mut(p).metadata.uid =
            Some("11111111-2222-3333-4444-555555555555".into());
    }
    let f = diagnose(&s);
    assert_eq!(f.len(), 1);
    // Still found from the container state, without the events' wording.
    assert!(
        !f[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("Failed to pull image"))
    );
}

/// Snapshots of faults that really happened on the stack's real node (kubelet 1.34,
/// containerd 1.6, Argo 3.6 emissary), captured by `tests/capture-diagnose-fixtures real`.
#[test]
fn real_node_exit_shows_the_programs_lines_not_the_emissarys() {
    let f = one("real-exit-nonzero", Reason::NonZeroExit);
    assert_eq!(f.evidence[0], "Error (exit code 3)", "{:#?}", f.evidence);
    assert!(
        f.evidence
            .iter()
            .any(|l| l == "ValueError: tile 42 has no geometry"),
        "{:#?}",
        f.evidence
    );
    assert!(
        !f.evidence
            .iter()
            .any(|l| l.contains("argo=true") || l.starts_with("Error: exit status")),
        "the emissary's own lines are not the program's: {:#?}",
        f.evidence
    );
}

#[test]
fn real_node_oom_is_the_kernels_kill_with_the_limit() {
    let f = one("real-oom-killed", Reason::OomKilled);
    assert_eq!(
        f.evidence[0], "OOMKilled (exit code 137)",
        "{:#?}",
        f.evidence
    );
    assert!(f.summary.contains("32Mi"), "{}", f.summary);
}

#[test]
fn real_node_pull_without_credentials_says_so() {
    let f = one("real-image-unauthorized", Reason::RegistryUnauthorized);
    assert!(f.summary.contains("no credentials"), "{}", f.summary);
    assert!(f.evidence.iter().any(|e| e.contains("401 Unauthorized")));
    assert!(f.fix.contains("imagePullSecrets"), "{}", f.fix);
}

#[test]
fn real_node_missing_image_configmap_key_and_claim_name_the_culprit() {
    let f = one("real-image-not-found", Reason::ImageNotFound);
    assert!(f.summary.contains("no-such-image:1"), "{}", f.summary);
    let f = one("real-configmap-key-missing", Reason::ConfigmapKeyMissing);
    assert!(f.summary.contains("NOT_A_KEY"), "{}", f.summary);
    let f = one("real-pvc-missing", Reason::PvcMissing);
    assert!(f.summary.contains("no-such-claim"), "{}", f.summary);
}

#[test]
fn a_missing_command_is_named_once_the_pod_is_gone() {
    let mut s = load(&fixtures_dir().join("real-command-not-found")).expect("fixture loads");
    s.pods.clear();
    s.events.clear();
    let findings = diagnose(&s);
    let reasons: Vec<Reason> = findings.iter().map(|f| f.reason).collect();
    // From Argo's node message alone, and the bare exit code 64 is not a second finding.
    assert_eq!(reasons, vec![Reason::CommandNotFound], "{findings:#?}");
    assert!(
        findings[0].summary.contains("`tile-convrt`"),
        "{}",
        findings[0]
    );
    assert!(findings[0].pod.is_some(), "{}", findings[0]);
}

#[test]
fn a_wait_container_left_running_is_the_executor_not_the_controller() {
    // Main failed, Argo's wait container still runs and the pod with it: the executor
    // lost the exit (argo-workflows#8680), the step will not end by itself.
    let f = one("stack-error-silent", Reason::PodErrorWorkflowSilent);
    assert!(
        f.summary.contains("wait container still runs"),
        "{}",
        f.summary
    );
    assert!(
        f.fix.contains("cargo xtask stop capture-error-silent-"),
        "{}",
        f.fix
    );
    assert!(f.fix.contains("-c wait"), "{}", f.fix);
    // The pod failed and ended, but the workflow did not record it: the controller.
    let f = one("pod-error-workflow-silent", Reason::PodErrorWorkflowSilent);
    assert!(f.fix.contains("workflow controller"), "{}", f.fix);
    assert!(!f.summary.contains("wait container"), "{}", f.summary);
}

#[test]
fn a_sweep_past_argos_size_limit_says_to_split_it() {
    // Seen on the stack with 5000 items (its controller's limit is 64 KiB).
    let f = one("workflow-too-large", Reason::WorkflowTooLarge);
    assert!(f.summary.contains("66603 bytes"), "{}", f.summary);
    assert!(f.summary.contains("65536"), "{}", f.summary);
    assert!(f.fix.contains("split the sweep"), "{}", f.fix);
    assert!(f.fix.contains("MAX_WORKFLOW_SIZE"), "{}", f.fix);
}

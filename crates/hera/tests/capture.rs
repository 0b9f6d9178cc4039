//! Captures the fixture scripts (tests/fixtures/) with Hera 5.16.3 and 7.1.0 installed
//! from PyPI. Each test uses a fresh environment folder, or XTASK_HERA_ENV_ROOT when set
//! (e.g. /var/cache/xtask-hera) so that repeated runs stay warm. Times are printed: run
//! with `--nocapture` to see them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kit_hera::{CaptureRequest, Captured, HeraError, HeraSettings};
use serde_json::Value;

const TOKEN: &str = "Bearer tok-S3cret-0123456789";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The environment root: XTASK_HERA_ENV_ROOT, else a temporary folder kept by the guard.
fn env_root() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("XTASK_HERA_ENV_ROOT").filter(|v| !v.is_empty()) {
        Some(root) => (PathBuf::from(root), None),
        None => {
            let dir = tempfile::tempdir().expect("a temporary folder");
            (dir.path().to_path_buf(), Some(dir))
        }
    }
}

fn settings(version: &str, root: &Path) -> HeraSettings {
    HeraSettings {
        version: version.into(),
        python: None,
        env_root: root.to_path_buf(),
    }
}

fn script_env() -> Vec<(String, String)> {
    [
        ("ARGO_SERVER", "https://argo.invalid:2746"),
        ("ARGO_NAMESPACE", "vcity-test"),
        ("ARGO_TOKEN", TOKEN),
        ("KUBECONFIG", "/nonexistent/kubeconfig"),
        ("KUBEVOLUMECLAIMNAME", "vcity-results-pvc"),
        ("PROXY_CONFIGMAP", "proxy-env-lyon1"),
        ("REGISTRY_PREFIX", "harbor.test/vcity"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn run(settings: &HeraSettings, name: &str) -> Result<Captured, HeraError> {
    let script = fixture(name);
    let req = CaptureRequest {
        script: &script,
        env: script_env(),
        timeout: Duration::from_secs(120),
    };
    let started = Instant::now();
    let result = kit_hera::capture(settings, &req, &mut |m| eprintln!("  progress: {m}"));
    let wall = started.elapsed().as_secs_f64();
    match &result {
        Ok(c) => println!(
            "Hera {}: {name}: {} workflow(s), script run {:.2} s, capture call {wall:.2} s",
            settings.version,
            c.workflows.len(),
            c.seconds
        ),
        Err(e) => println!(
            "Hera {}: {name}: error, capture call {wall:.2} s:\n  | {}",
            settings.version,
            e.to_string().replace('\n', "\n  | ")
        ),
    }
    result
}

fn captured(settings: &HeraSettings, name: &str) -> Captured {
    match run(settings, name) {
        Ok(c) => c,
        Err(e) => panic!(
            "{name} should be captured with Hera {}: {e}",
            settings.version
        ),
    }
}

fn ensure_timed(settings: &HeraSettings) {
    let started = Instant::now();
    let env = kit_hera::ensure_env(settings, &mut |m| eprintln!("  progress: {m}"))
        .unwrap_or_else(|e| panic!("Hera {} should install: {e}", settings.version));
    println!(
        "Hera {}: environment {} in {:.2} s",
        settings.version,
        if env.created { "created" } else { "reused" },
        started.elapsed().as_secs_f64()
    );
    assert_eq!(env.hera_version, settings.version);
    // The warm path: a marker read and a stat.
    let started = Instant::now();
    let again = kit_hera::ensure_env(settings, &mut |m| panic!("warm path reported {m}")).unwrap();
    let warm = started.elapsed();
    println!(
        "Hera {}: warm ensure_env {:.3} ms",
        settings.version,
        warm.as_secs_f64() * 1000.0
    );
    assert!(!again.created);
    assert_eq!(again.python, env.python);
    assert!(warm < Duration::from_millis(200), "{warm:?}");
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn template<'a>(manifest: &'a Value, name: &str) -> &'a Value {
    at(manifest, &["spec", "templates"])
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("template {name} in {manifest}"))
}

fn task_names(manifest: &Value) -> BTreeSet<String> {
    template(manifest, "main")["dag"]["tasks"]
        .as_array()
        .expect("dag tasks")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn param<'a>(task: &'a Value, name: &str) -> &'a str {
    task["arguments"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["value"].as_str())
        .unwrap_or("")
}

/// The Hera 5 style collection: loops, sibling module, env values, ConfigMap, volume.
fn check_hera5_collect(c: &Captured) {
    assert_eq!(c.workflows.len(), 1, "{:#?}", c.workflows);
    let w = &c.workflows[0];
    assert_eq!(
        (w.kind.as_str(), w.name.as_str(), w.call.as_str()),
        ("Workflow", "collect-", "create")
    );
    let m = &w.manifest;
    assert_eq!(m["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(at(m, &["metadata", "generateName"]), "collect-");
    assert_eq!(at(m, &["metadata", "namespace"]), "vcity-test");
    assert_eq!(at(m, &["spec", "entrypoint"]), "main");
    let volume = &at(m, &["spec", "volumes"])[0];
    assert_eq!(volume["name"], "results");
    assert_eq!(
        at(volume, &["persistentVolumeClaim", "claimName"]),
        "vcity-results-pvc"
    );
    let collect = template(m, "collect");
    assert_eq!(
        at(collect, &["container", "image"]),
        "harbor.test/vcity/collect:latest"
    );
    assert_eq!(
        at(collect, &["container", "envFrom"])[0]["configMapRef"]["name"],
        "proxy-env-lyon1"
    );
    let mut expected = BTreeSet::new();
    for b in ["lyon-1er", "lyon-2eme", "villeurbanne"] {
        for v in ["2012", "2015"] {
            expected.insert(format!("collect-{b}-{v}"));
            expected.insert(format!("strip-{b}-{v}"));
        }
    }
    assert_eq!(task_names(m), expected);
    let tasks = template(m, "main")["dag"]["tasks"].as_array().unwrap();
    let strip = tasks
        .iter()
        .find(|t| t["name"] == "strip-villeurbanne-2015")
        .unwrap();
    assert_eq!(strip["depends"], "collect-villeurbanne-2015");
    assert_eq!(param(strip, "borough"), "VILLEURBANNE");
    assert_eq!(param(strip, "label"), "v15");
    assert!(
        c.output
            .contains("submitting 6 collections to vcity-test\n"),
        "{}",
        c.output
    );
    assert!(c.output.contains("created collect-\n"), "{}", c.output);
    // to_yaml() works: the env has Hera's yaml extra.
    assert!(
        c.output.contains("\napiVersion: argoproj.io/v1alpha1\n"),
        "{}",
        c.output
    );
}

fn check_hera7_collect(c: &Captured) {
    assert_eq!(c.workflows.len(), 1, "{:#?}", c.workflows);
    let w = &c.workflows[0];
    assert_eq!(
        (w.kind.as_str(), w.name.as_str(), w.call.as_str()),
        ("Workflow", "collect7-", "create")
    );
    let m = &w.manifest;
    assert_eq!(at(m, &["metadata", "namespace"]), "vcity-test");
    let collect = template(m, "collect");
    assert_eq!(at(collect, &["retryStrategy", "limit"]), 2);
    assert_eq!(
        at(collect, &["container", "envFrom"])[0]["configMapRef"]["name"],
        "proxy-env-lyon1"
    );
    let names = task_names(m);
    assert_eq!(names.len(), 4 * 3);
    assert!(names.contains("collect-bron-2015"), "{names:?}");
    // One download at a time: each task after the first depends on the one before.
    let tasks = template(m, "main")["dag"]["tasks"].as_array().unwrap();
    assert!(tasks[0].get("depends").is_none());
    for pair in tasks.windows(2) {
        assert_eq!(pair[1]["depends"], pair[0]["name"]);
    }
}

fn check_two_workflows(c: &Captured) {
    let found: Vec<(&str, &str, &str)> = c
        .workflows
        .iter()
        .map(|w| (w.kind.as_str(), w.name.as_str(), w.call.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("WorkflowTemplate", "strip-template", "create"),
            ("CronWorkflow", "nightly-strip", "built"),
        ]
    );
    // Hera 7 writes the `schedules` list of Argo 3.6, Hera 5 the single `schedule`.
    let spec = &c.workflows[1].manifest["spec"];
    let schedule = spec.get("schedule").unwrap_or(&spec["schedules"][0]);
    assert_eq!(schedule, "0 2 * * *");
    assert_eq!(
        at(&c.workflows[1].manifest, &["metadata", "namespace"]),
        "vcity-test"
    );
}

fn check_errors(settings: &HeraSettings) {
    // Raises in the shared module: the summary names its line, the traceback keeps the
    // script's frame and the module's, not Hera's or the shim's.
    match run(settings, "raises.py") {
        Err(HeraError::Script {
            summary, traceback, ..
        }) => {
            assert_eq!(summary, "pagoda/cluster_settings.py:39: KeyError: '2021'");
            assert!(
                traceback.starts_with("Traceback (most recent call last):\n"),
                "{traceback}"
            );
            assert!(
                traceback.contains("raises.py\", line 12, in <module>"),
                "{traceback}"
            );
            assert!(
                traceback.contains("cluster_settings.py\", line 39, in vintage_label"),
                "{traceback}"
            );
            assert!(traceback.ends_with("KeyError: '2021'\n"), "{traceback}");
            assert!(
                !traceback.contains("capture.py") && !traceback.contains("runpy"),
                "{traceback}"
            );
        }
        other => panic!("raises.py: expected a script error, got {other:?}"),
    }

    match run(settings, "no_workflow.py") {
        Err(e @ HeraError::NoWorkflow { .. }) => {
            assert!(e.to_string().contains("built no workflow"), "{e}");
        }
        other => panic!("no_workflow.py: expected NoWorkflow, got {other:?}"),
    }

    match run(settings, "direct_service.py") {
        Err(HeraError::Script { summary, .. }) => {
            assert!(
                summary.starts_with("direct_service.py:12: CaptureOnlyError: WorkflowsService.create_workflow was called"),
                "{summary}"
            );
            assert!(summary.contains("sends nothing to a cluster"), "{summary}");
        }
        other => panic!("direct_service.py: expected a script error, got {other:?}"),
    }
}

fn check_chatty(c: &Captured) {
    assert_eq!(c.workflows.len(), 1);
    assert_eq!(c.workflows[0].name, "chatty");
    let out = &c.output;
    assert!(
        out.starts_with("token is [hidden]\nstdout line 00000"),
        "{}",
        &out[..80.min(out.len())]
    );
    assert!(!out.contains("S3cret"), "the token leaked into the output");
    assert!(out.contains("bytes of output not kept"));
    assert!(
        out.ends_with("last line of the chatty script\n"),
        "{}",
        &out[out.len().saturating_sub(200)..]
    );
    // stderr lines are kept in order with stdout.
    assert!(out.contains("stdout line 00000 xxxx"));
    let stderr_at = out.find("stderr line 00000").expect("stderr kept");
    assert!(stderr_at < out.find("stdout line 00001").unwrap());
    assert!(out.len() < 140 * 1024, "{}", out.len());
}

fn yaml_round_trip(script: &str, c: &Captured) {
    let all: Vec<_> = c.workflows.iter().collect();
    let text = kit_hera::to_yaml(Path::new(script), c, &all);
    assert!(text.starts_with(&format!(
        "# Captured from {script} with Hera {}",
        c.hera_version
    )));
    for (doc, w) in text.split("\n---\n").zip(&c.workflows) {
        let back: Value = serde_saphyr::from_str(doc).expect("valid YAML");
        assert_eq!(back, w.manifest);
    }
}

#[test]
#[ignore = "needs PyPI to install Hera; run by tests/run-all"]
fn hera_5_16_3_scripts() {
    let (root, _guard) = env_root();
    let s = settings("5.16.3", &root);
    ensure_timed(&s);

    let c = captured(&s, "hera5/collect.py");
    assert_eq!(c.hera_version, "5.16.3");
    check_hera5_collect(&c);
    yaml_round_trip("hera5/collect.py", &c);
    // Warm again, to time it without the first run's disk cache misses.
    captured(&s, "hera5/collect.py");

    check_two_workflows(&captured(&s, "two_workflows.py"));
    check_errors(&s);
    check_chatty(&captured(&s, "chatty.py"));

    // The Hera 7 script stops itself through its own version check.
    match run(&s, "hera7/collect.py") {
        Err(HeraError::Script { summary, .. }) => assert_eq!(
            summary,
            "../pagoda/cluster_settings.py:17: RuntimeError: this script needs Hera 7.0.0 or newer, found 5.16.3"
        ),
        other => panic!("hera7/collect.py on Hera 5: expected a script error, got {other:?}"),
    }
}

#[test]
#[ignore = "needs PyPI to install Hera; run by tests/run-all"]
fn hera_7_1_0_scripts() {
    let (root, _guard) = env_root();
    let s = settings("7.1.0", &root);
    ensure_timed(&s);

    let c = captured(&s, "hera7/collect.py");
    assert_eq!(c.hera_version, "7.1.0");
    check_hera7_collect(&c);
    yaml_round_trip("hera7/collect.py", &c);
    captured(&s, "hera7/collect.py");
    // Scripts written for Hera 5 templates-in-Workflow style run on 7 alike.
    check_hera5_collect(&captured(&s, "hera5/collect.py"));

    check_two_workflows(&captured(&s, "two_workflows.py"));
    check_errors(&s);
    check_chatty(&captured(&s, "chatty.py"));
    check_timeout(&s);

    // --python: the managed env's interpreter, used as it is.
    let env = kit_hera::ensure_env(&s, &mut |_| {}).unwrap();
    let external = HeraSettings {
        version: "7.0.0".into(),
        python: Some(env.python.clone()),
        env_root: root.join("never-used"),
    };
    let c = captured(&external, "hera7/collect.py");
    assert_eq!(c.hera_version, "7.1.0");
    assert_eq!(c.python, env.python);
    assert!(!root.join("never-used").exists());

    let pinned_5 = HeraSettings {
        version: "5.16.3".into(),
        ..external.clone()
    };
    match run(&pinned_5, "hera7/collect.py") {
        Err(e @ HeraError::HeraVersion { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("has Hera 7.1.0") && text.contains("pins Hera 5.16.3"),
                "{text}"
            );
        }
        other => panic!("expected HeraVersion, got {other:?}"),
    }
    match kit_hera::ensure_env(&pinned_5, &mut |_| {}) {
        Err(HeraError::HeraVersion { found, .. }) => assert_eq!(found, "7.1.0"),
        other => panic!("ensure_env: expected HeraVersion, got {other:?}"),
    }

    // An interpreter without Hera: told how to install it, nothing installed.
    let bare_dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(bare_dir.path())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let bare = HeraSettings {
        python: Some(bare_dir.path().join("bin/python")),
        ..external
    };
    match run(&bare, "hera7/collect.py") {
        Err(e @ HeraError::HeraMissing { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("No module named 'hera'") && text.contains("pip install hera==7.0.0"),
                "{text}"
            );
        }
        other => panic!("expected HeraMissing, got {other:?}"),
    }
}

#[test]
#[ignore = "needs PyPI to install Hera; run by tests/run-all"]
fn cold_environment_is_made_once_and_half_made_ones_again() {
    // Always a fresh folder: this test measures the cold path.
    let root = tempfile::tempdir().unwrap();
    let s = settings("7.1.0", root.path());
    // An interrupted install: a folder without the marker.
    let half = root.path().join("hera-7.1.0");
    std::fs::create_dir_all(half.join("lib")).unwrap();
    std::fs::write(half.join("lib/leftover"), "x").unwrap();

    let started = Instant::now();
    let results: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    let r = kit_hera::ensure_env(s, &mut |m| eprintln!("  [{i}] {m}"));
                    (r, started.elapsed().as_secs_f64())
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut created = 0;
    for (r, secs) in &results {
        let env = r.as_ref().unwrap_or_else(|e| panic!("{e}"));
        println!(
            "Hera 7.1.0: concurrent ensure_env done after {secs:.2} s (created: {})",
            env.created
        );
        created += usize::from(env.created);
        assert!(env.python.starts_with(&half));
    }
    assert_eq!(created, 1, "exactly one run installs");
    assert!(!half.join("lib/leftover").exists());
    assert!(half.join("xtask-ready.json").is_file());

    let started = Instant::now();
    let env = kit_hera::ensure_env(&s, &mut |m| panic!("warm path reported {m}")).unwrap();
    println!(
        "Hera 7.1.0: warm ensure_env {:.3} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert!(!env.created);

    // The interpreter start alone, for comparison with a warm capture.
    let started = Instant::now();
    std::process::Command::new(&env.python)
        .args(["-c", "pass"])
        .status()
        .unwrap();
    println!(
        "Hera 7.1.0: bare interpreter start {:.3} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    std::process::Command::new(&env.python)
        .args(["-c", "import hera.workflows"])
        .status()
        .unwrap();
    println!(
        "Hera 7.1.0: interpreter start + Hera import {:.3} s",
        started.elapsed().as_secs_f64()
    );

    // A broken env (Hera removed behind the marker's back) is made again by capture.
    let site = std::fs::read_dir(half.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages/hera");
    std::fs::remove_dir_all(&site).unwrap();
    let c = captured(&s, "two_workflows.py");
    assert_eq!(c.workflows.len(), 2);
}

fn check_timeout(s: &HeraSettings) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("forever.py");
    std::fs::write(
        &script,
        "import time\nprint('waiting for the server', flush=True)\nwhile True:\n    time.sleep(0.1)\n",
    )
    .unwrap();
    let req = CaptureRequest {
        script: &script,
        env: vec![],
        timeout: Duration::from_secs(3),
    };
    let started = Instant::now();
    match kit_hera::capture(s, &req, &mut |_| {}) {
        Err(e @ HeraError::Timeout { .. }) => {
            let text = e.to_string();
            println!("forever.py:\n  | {}", text.replace('\n', "\n  | "));
            assert!(text.contains("within 3 s"), "{text}");
            assert!(text.ends_with("waiting for the server"), "{text}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

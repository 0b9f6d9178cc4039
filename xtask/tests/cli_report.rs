//! `report` offline: a page drawn from a `diagnose --save` folder (here the snapshot of a
//! real failed step kept as a diagnosis fixture), its JSON, and its bad inputs. The
//! browser test reads the page as a person would see it.

use std::path::{Path, PathBuf};

use tempfile::TempDir;
mod common;

/// A copy of a diagnosis fixture: a snapshot saved by `diagnose --save` on the stack.
fn saved_snapshot(dir: &TempDir, fixture: &str) -> PathBuf {
    let from = common::workspace_root()
        .join("crates/diagnose/tests/fixtures")
        .join(fixture);
    let to = dir.path().join(fixture);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

fn report_from(dir: &TempDir, saved: &Path, json: bool) -> std::process::Output {
    let mut cmd = common::offline_xtask(dir);
    cmd.args(["report", "--from"]).arg(saved);
    if json {
        cmd.args(["--output", "json"]);
    }
    cmd.output().unwrap()
}

#[test]
fn a_saved_snapshot_becomes_a_page_beside_it_and_its_data_as_json() {
    let dir = TempDir::new().unwrap();
    let saved = saved_snapshot(&dir, "real-exit-nonzero");
    let out = report_from(&dir, &saved, false);
    assert!(out.status.success(), "{}", common::text(&out));
    let page = saved.join("report.html");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        page.display().to_string()
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("non-zero-exit"), "the finding is on the page");
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "self-contained"
    );

    let out = report_from(&dir, &saved, true);
    assert!(out.status.success(), "{}", common::text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(common::document_keys(&v), ["report", "run"]);
    let run = &v["run"];
    assert_eq!(run["schema"], 1);
    assert_eq!(run["workflow"]["phase"], "Failed");
    assert_eq!(run["steps"].as_array().unwrap().len(), 1);
    let step = &run["steps"][0];
    assert_eq!(step["exit_code"], 3);
    assert_eq!(step["node"], "pagoda-real-0");
    assert!(step["running_seconds"].as_f64().unwrap() > 0.0);
    let finding = &run["findings"][0];
    assert_eq!(finding["reason"], "non-zero-exit");
    assert_eq!(finding["level"], "user");
    assert_eq!(finding["step_id"], step["id"]);
    assert!(run["inputs"].is_null(), "no record: no inputs claimed");
    // What the workflow object itself holds.
    assert_eq!(
        run["images"],
        serde_json::json!(["127.0.0.1:5443/stack/busybox:1"])
    );
    assert_eq!(run["arguments"], serde_json::json!([]));
}

#[test]
fn bad_report_inputs_are_named_with_what_to_do() {
    let dir = TempDir::new().unwrap();
    // Not a saved snapshot.
    let out = report_from(&dir, &dir.path().join("nowhere"), false);
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere/now.txt"), "{err}");
    assert!(err.contains("diagnose NAME --save DIR"), "{err}");
    // A broken file in it: the file and the parser's words.
    let saved = saved_snapshot(&dir, "real-exit-nonzero");
    std::fs::write(saved.join("pods.json"), "{\"items\": 3}").unwrap();
    let out = report_from(&dir, &saved, false);
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pods"),
        "{}",
        common::text(&out)
    );
    // No run yet and nothing named.
    let out = common::offline_xtask(&dir).arg("report").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run recorded yet"));
}

#[test]
#[ignore = "needs a headless chromium (tests/stack/up installs chromium-headless-shell); tests/run-all runs it"]
fn the_page_renders_its_bar_and_finding_in_a_browser() {
    let dir = TempDir::new().unwrap();
    let saved = saved_snapshot(&dir, "real-exit-nonzero");
    let out = report_from(&dir, &saved, false);
    assert!(out.status.success(), "{}", common::text(&out));
    let shot = dir.path().join("report.png");
    let seen = common::inspect_in_browser(&saved.join("report.html"), &shot);
    assert_eq!(seen["bars"], 1, "{seen:#}");
    assert_eq!(seen["visible_bars"], 1, "{seen:#}");
    assert_eq!(seen["phase"], "Failed", "{seen:#}");
    let findings = seen["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{seen:#}");
    assert!(
        findings[0].as_str().unwrap().contains("non-zero-exit"),
        "{seen:#}"
    );
    assert_eq!(
        seen["marks"], 1,
        "the finding is anchored on its bar: {seen:#}"
    );
    assert_eq!(
        seen["external"], 0,
        "nothing loaded from elsewhere: {seen:#}"
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot"
    );
}

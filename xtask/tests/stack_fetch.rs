//! `cargo xtask fetch-results` against the local stack, as a user runs it.

mod common;

use common::{stack_var, text, xtask};
use tempfile::TempDir;

/// The default helper image (`busybox:1` of the registry's project, mirrored by
/// `cargo xtask up busybox`) must be in the registry: the real node pulls it.
fn helper_image_pushed() {
    static PUSHED: std::sync::Once = std::sync::Once::new();
    PUSHED.call_once(|| {
        let out = xtask()
            .args(["up", "--images-only", "busybox"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    });
}

#[test]
#[ignore = "needs tests/stack"]
fn fetch_is_verified_resumable_and_leaves_no_pod() {
    helper_image_pushed();
    // Results as a run would leave them on the PVC.
    let pvc = std::path::PathBuf::from(stack_var("STACK_PVC_DIR")).join("e2e-fetch");
    let _ = std::fs::remove_dir_all(&pvc);
    std::fs::create_dir_all(pvc.join("stage_5/2012")).unwrap();
    for i in 0..50 {
        std::fs::write(
            pvc.join(format!("stage_5/2012/b{i:02}.gml")),
            format!("building {i}\n"),
        )
        .unwrap();
    }
    std::fs::write(
        pvc.join("stage_5/2012/tileset.json"),
        "{\"asset\":{\"version\":\"1.0\"}}",
    )
    .unwrap();
    let local = TempDir::new().unwrap();
    let to = local.path().join("out");
    let fetch = |extra: &[&str]| {
        let out = xtask()
            .args(["fetch-results", "e2e-fetch", "-o", "json", "--to"])
            .arg(&to)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    let first = fetch(&[]);
    assert_eq!(first["files_fetched"], 51, "{first:#}");
    assert!(to.join(".xtask-manifest.json").exists());
    assert_eq!(
        std::fs::read_to_string(to.join("stage_5/2012/b07.gml")).unwrap(),
        "building 7\n"
    );

    let again = fetch(&[]);
    assert_eq!(again["files_fetched"], 0, "nothing changed: {again:#}");

    std::fs::write(pvc.join("stage_5/2012/b03.gml"), "building 3, changed\n").unwrap();
    let changed = fetch(&[]);
    assert_eq!(changed["files_fetched"], 1, "{changed:#}");

    // A file lost locally (an interrupted copy) comes back on the next run.
    std::fs::remove_file(to.join("stage_5/2012/b10.gml")).unwrap();
    let resumed = fetch(&["--verify"]);
    assert_eq!(resumed["files_fetched"], 1, "{resumed:#}");

    let pods = common::admin_kubectl(&[
        "-n",
        "argo",
        "get",
        "pods",
        "-l",
        "xtask.dev/role=fetch-helper",
        "-o",
        "name",
    ]);
    let left: Vec<_> = String::from_utf8_lossy(&pods.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    // Pods being deleted may still be listed for a moment; none may be Running for us.
    for pod in left {
        let phase = common::admin_kubectl(&[
            "-n",
            "argo",
            "get",
            &pod,
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ]);
        // Gone between the listing and this read is fine too.
        let gone = String::from_utf8_lossy(&phase.stderr).contains("NotFound");
        assert!(
            gone || !String::from_utf8_lossy(&phase.stdout).is_empty(),
            "{pod} left behind"
        );
    }
    let _ = std::fs::remove_dir_all(&pvc);
}

#[test]
#[ignore = "needs tests/stack"]
fn missing_path_on_the_pvc_is_a_clear_error() {
    helper_image_pushed();
    let out = xtask()
        .args([
            "fetch-results",
            "e2e-no-such-folder",
            "--to",
            "/tmp/e2e-never",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("e2e-no-such-folder"),
        "{}",
        text(&out)
    );
    assert!(!std::path::Path::new("/tmp/e2e-never/.xtask-manifest.json").exists());
}

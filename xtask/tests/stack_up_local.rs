//! `cargo xtask up` with the workspace's own local profile, on the stack's machine that
//! cannot pull: the team's images whose base images are missing are skipped with one
//! line each, the demo's images are up to date, and the command succeeds.

mod common;

use common::{text, xtask};

#[test]
#[ignore = "needs tests/stack"]
fn the_local_profile_skips_the_images_it_cannot_build() {
    let out = xtask()
        .args(["up", "--images-only", "--output", "json"])
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let skipped: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["type"] == "skipped")
        .collect();
    let names: Vec<&str> = skipped.iter().filter_map(|s| s["image"].as_str()).collect();
    assert!(names.contains(&"3duse"), "{all}");
    assert!(names.contains(&"collect_lyon_data"), "{all}");
    assert!(!names.iter().any(|n| n.starts_with("demo-")), "{all}");
    let why = skipped[0]["why"].as_str().unwrap_or("");
    assert!(
        why.contains("is not in the Docker engine, and pull_base_images is false (xtask.toml [profiles.local] images.pull_base_images)"),
        "{why}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let built: Vec<&str> = summary["images"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .map(|n| {
            if n.starts_with("demo-") {
                "demo"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(built.iter().filter(|k| **k == "demo").count(), 4, "{all}");
}

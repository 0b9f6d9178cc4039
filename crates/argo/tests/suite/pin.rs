//! Pinning images with a resolver standing in for the lock file.

use kit_argo::{RewriteKind, pin_images};

use crate::load;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Knows our collect image (with or without registry and tag) and alpine:3.20.
fn lock(image: &str) -> Option<String> {
    let pinned_collect = format!("harbor.pagoda.os.univ-lyon1.fr/vcity/collect:1.4@{DIGEST}");
    match image {
        "harbor.pagoda.os.univ-lyon1.fr/vcity/collect:1.4" | "vcity/collect" | "collect:1.4" => {
            Some(pinned_collect)
        }
        "alpine:3.20" => Some(format!("docker.io/library/alpine:3.20@{DIGEST}")),
        "harbor.pagoda.os.univ-lyon1.fr/vcity/schema:2" => Some(image.to_string()),
        _ => None,
    }
}

#[test]
fn known_images_are_pinned_and_reported() {
    let mut l = load("steps.yaml");
    let report = pin_images(&mut l, &lock, false);
    let rewritten: Vec<(&str, Option<usize>)> = report
        .rewrites
        .iter()
        .map(|r| (r.path.as_str(), r.line))
        .collect();
    assert_eq!(
        rewritten,
        vec![
            ("spec.templates[1].container.image", Some(71)),
            ("spec.templates[3].container.image", Some(123)),
            ("spec.templates[5].container.image", Some(146)),
            ("spec.templates[7].container.image", Some(158)),
        ]
    );
    assert!(
        report
            .rewrites
            .iter()
            .all(|r| r.kind == RewriteKind::Image && r.to.contains(DIGEST))
    );
    assert_eq!(
        l.workflow.spec.templates[1]
            .container
            .as_ref()
            .map(|c| c.image.contains(DIGEST)),
        Some(true)
    );

    let unresolved: Vec<(&str, &str, Option<usize>)> = report
        .unresolved
        .iter()
        .map(|u| (u.path.as_str(), u.image.as_str(), u.line))
        .collect();
    assert_eq!(
        unresolved,
        vec![
            (
                "spec.templates[2].script.image",
                "python:3.12-slim",
                Some(107)
            ),
            (
                "spec.templates[4].container.image",
                "postgis/postgis:16-3.4",
                Some(136)
            ),
            (
                "spec.templates[4].sidecars[0].image",
                "prometheuscommunity/postgres-exporter:v0.15.0",
                Some(134)
            ),
        ]
    );
    // Resolving to itself (already what the lock says) is not a rewrite.
    assert!(
        !report
            .rewrites
            .iter()
            .any(|r| r.path.contains("initContainers"))
    );
}

#[test]
fn no_pin_reports_but_changes_nothing() {
    let mut l = load("steps.yaml");
    let before = l.workflow.clone();
    let report = pin_images(&mut l, &lock, true);
    assert!(report.rewrites.is_empty());
    assert_eq!(report.unresolved.len(), 3);
    assert_eq!(l.workflow, before);
}

#[test]
fn digests_and_expressions_are_skipped() {
    let mut l = load("status-failed.yaml");
    let report = pin_images(
        &mut l,
        &|_: &str| Some("should-not-be-used".to_string()),
        false,
    );
    assert!(report.rewrites.is_empty());
    assert_eq!(report.skipped.len(), 1);

    let mut l = load("dag.yaml");
    if let Some(c) = l.workflow.spec.templates[1].container.as_mut() {
        c.image = "{{inputs.parameters.image}}".into();
    }
    let report = pin_images(&mut l, &lock, false);
    assert_eq!(report.skipped.len(), 1);
    assert!(report.unresolved.is_empty() && report.rewrites.is_empty());
}

#[test]
fn scripts_init_containers_and_sidecars_are_pinned() {
    let mut l = load("steps.yaml");
    let everything = |image: &str| Some(format!("mirror.example/{image}@{DIGEST}"));
    let report = pin_images(&mut l, &everything, false);
    assert_eq!(report.rewrites.len(), 8);
    assert!(
        report
            .rewrites
            .iter()
            .any(|r| r.path == "spec.templates[2].script.image")
    );
    assert!(
        report
            .rewrites
            .iter()
            .any(|r| r.path == "spec.templates[4].initContainers[0].image" && r.line == Some(130))
    );
    assert!(
        report
            .rewrites
            .iter()
            .any(|r| r.path == "spec.templates[4].sidecars[0].image")
    );
    let yaml = kit_argo::to_yaml(&l.workflow);
    // On one line, not folded, so the dry-run output reads like the file.
    assert!(
        yaml.contains(&format!(
            "\n      image: mirror.example/python:3.12-slim@{DIGEST}\n"
        )),
        "{yaml}"
    );
}

#[test]
fn images_lists_every_reference() {
    let l = load("steps.yaml");
    assert_eq!(kit_argo::images(&l).len(), 8);
}

//! Mangled input gives errors, never a panic.

use std::path::Path;

use kit_argo::{
    Injection, Setting, ValidateOptions, inject, load_workflow_str, pin_images, validate,
};

use crate::fixture;

/// Runs the whole pipeline on whatever loads.
fn exercise(text: &str) {
    let Ok(mut l) = load_workflow_str(text, Path::new("m.yaml")) else {
        return;
    };
    let inj = Injection {
        namespace: Some(Setting::new("ns", "test")),
        service_account: Some(Setting::new("sa", "test")),
        claim_name: Some(Setting::new("pvc", "test")),
        configmap_name: Some(Setting::new("cm", "test")),
        ..Injection::default()
    };
    let _ = inject(&mut l, &inj);
    let _ = pin_images(&mut l, &|i: &str| Some(format!("{i}@sha256:00")), false);
    let lock = |_: &str| None;
    let _ = validate(
        &l,
        &ValidateOptions {
            lint: true,
            images: Some(&lock),
        },
    );
    let _ = kit_argo::missing_parameters(&l);
    let _ = kit_argo::to_yaml(&l.workflow);
}

#[test]
fn truncated_and_mangled_fixtures_never_panic() {
    let names = [
        "steps.yaml",
        "dag.yaml",
        "resources.yaml",
        "template.yaml",
        "status-failed.yaml",
        "invalid-dag.yaml",
        "invalid-names.yaml",
        "invalid-params.yaml",
        "invalid-refs.yaml",
        "invalid-types.yaml",
    ];
    for name in names {
        let text = std::fs::read_to_string(fixture(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        // Every prefix of lines, and every single line removed.
        for i in 0..lines.len() {
            exercise(&lines[..i].join("\n"));
            let mut without = lines.clone();
            without.remove(i);
            exercise(&without.join("\n"));
        }
        // Cut in the middle of lines, and indentation broken.
        for cut in (0..text.len())
            .step_by(37)
            .filter(|c| text.is_char_boundary(*c))
        {
            exercise(&text[..cut]);
        }
        exercise(&text.replace("  ", " "));
        exercise(&text.replace(": ", ": [").replace('-', "{"));
    }
}

#[test]
fn hostile_shapes_never_panic() {
    let head = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: x-}\n";
    for body in [
        "spec: null\n",
        "spec: []\n",
        "spec:\n  templates: [null, 1, {name: a, steps: [[null]]}]\n",
        "spec:\n  templates:\n  - name: a\n    dag: {tasks: [{name: b, depends: \"((((\"}, {name: \"\", depends: \"b\"}]}\n",
        "spec:\n  entrypoint: a\n  templates:\n  - name: a\n    dag: {tasks: [{name: a, template: a, depends: a}]}\n",
        "spec:\n  arguments: {parameters: [{name: \"\"}, {}, {name: p, enum: []}]}\n",
        "spec: &a\n  x: *a\n",
        "? [a]\n: b\n",
        "spec:\n  templates:\n  - &t {name: a, container: {image: x}}\n  - *t\n",
    ] {
        exercise(&format!("{head}{body}"));
    }
    let deep = format!("{head}spec: {}{}\n", "[".repeat(2000), "]".repeat(2000));
    exercise(&deep);
}

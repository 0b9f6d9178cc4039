//! Loading and writing back loses nothing.

use serde_json::Value;

use crate::{fixture, load};

/// Argo reads numbers and booleans in parameter values as strings; so do we.
fn normalize(v: &mut Value, in_parameters: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if in_parameters && matches!(k.as_str(), "value" | "default" | "description") {
                    stringify(child);
                } else if in_parameters && k == "enum" {
                    if let Value::Array(items) = child {
                        items.iter_mut().for_each(stringify);
                    }
                } else if k == "exitCode" {
                    stringify(child);
                } else {
                    normalize(child, k == "parameters");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalize(i, in_parameters)),
        _ => {}
    }
}

fn stringify(v: &mut Value) {
    match v {
        Value::Number(n) => *v = Value::String(n.to_string()),
        Value::Bool(b) => *v = Value::String(b.to_string()),
        _ => {}
    }
}

fn original(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap_or_default();
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let mut v: Value = serde_saphyr::from_str_with_options(&text, options).unwrap_or(Value::Null);
    normalize(&mut v, false);
    v
}

#[test]
fn workflows_round_trip_through_the_types() {
    for name in [
        "steps.yaml",
        "dag.yaml",
        "dag-dependencies.yaml",
        "resources.yaml",
        "status-failed.yaml",
    ] {
        let loaded = load(name);
        let back = serde_json::to_value(&loaded.workflow).unwrap_or(Value::Null);
        assert_eq!(back, original(name), "{name} lost or changed something");
    }
}

#[test]
fn workflow_templates_round_trip_through_the_types() {
    let orig = original("template.yaml");
    let tmpl: kit_argo::WorkflowTemplate = match serde_json::from_value(orig.clone()) {
        Ok(t) => t,
        Err(e) => panic!("template.yaml should read as a WorkflowTemplate: {e}"),
    };
    assert_eq!(serde_json::to_value(&tmpl).unwrap_or(Value::Null), orig);
}

#[test]
fn to_yaml_reads_back_identically() {
    for name in [
        "steps.yaml",
        "dag.yaml",
        "resources.yaml",
        "status-failed.yaml",
    ] {
        let loaded = load(name);
        let yaml = kit_argo::to_yaml(&loaded.workflow);
        let reread: Value = match serde_saphyr::from_str(&yaml) {
            Ok(v) => v,
            Err(e) => panic!("{name}: to_yaml output does not parse: {e}\n{yaml}"),
        };
        assert_eq!(
            reread,
            serde_json::to_value(&loaded.workflow).unwrap_or(Value::Null),
            "{name}"
        );
        assert!(yaml.contains("apiVersion: argoproj.io/v1alpha1"));
        assert!(yaml.contains("kind: Workflow"));
    }
}

#[test]
fn typed_fields_read_as_expected() {
    let wf = load("steps.yaml").workflow;
    let spec = &wf.spec;
    assert_eq!(spec.entrypoint, "main");
    assert_eq!(spec.on_exit, "exit-handler");
    let params = &spec
        .arguments
        .as_ref()
        .map(|a| a.parameters.clone())
        .unwrap_or_default();
    assert_eq!(params[0].value.as_deref(), Some("2012"));
    assert_eq!(
        params[0].enum_values.as_deref(),
        Some(&["2009".to_string(), "2012".into(), "2015".into()][..])
    );
    assert_eq!(params[2].value.as_deref(), Some("false"));
    let main = &spec.templates[0];
    let steps = main.steps.as_deref().unwrap_or_default();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[1][0].with_items.as_ref().map(Vec::len), Some(3));
    assert_eq!(
        steps[1][1].when.as_deref(),
        Some("{{workflow.parameters.dry}} == false")
    );
    assert_eq!(
        steps[2][1].with_param.as_deref(),
        Some("{{steps.split.outputs.parameters.files}}")
    );
    assert!(spec.templates[1].retry_strategy.is_some());
    assert_eq!(
        spec.templates[2]
            .script
            .as_ref()
            .map(|s| s.container.image.as_str()),
        Some("python:3.12-slim")
    );
    assert!(
        spec.templates[2]
            .script
            .as_ref()
            .is_some_and(|s| s.source.contains("import json"))
    );
    assert_eq!(spec.templates[4].daemon, Some(true));
    assert_eq!(spec.templates[4].types(), vec!["container"]);

    let dag = load("dag.yaml").workflow;
    let tasks = &dag.spec.templates[0]
        .dag
        .as_ref()
        .map(|d| d.tasks.clone())
        .unwrap_or_default();
    assert_eq!(
        tasks[3].depends.as_deref(),
        Some("B && (C.AnySucceeded || !C.Failed)")
    );

    let status = load("status-failed.yaml")
        .workflow
        .status
        .unwrap_or_default();
    assert_eq!(status.phase, Some(kit_argo::Phase::Failed));
    assert!(
        status
            .phase
            .as_ref()
            .is_some_and(kit_argo::Phase::is_finished)
    );
    let pod = &status.nodes["collect-x7k2p-1234567890"];
    assert_eq!(pod.node_type, Some(kit_argo::NodeType::Pod));
    assert_eq!(pod.display_name, "fetch");
    assert_eq!(pod.template_name.as_deref(), Some("download"));
    assert_eq!(pod.boundary_id.as_deref(), Some("collect-x7k2p"));
    assert_eq!(
        pod.outputs.as_ref().and_then(|o| o.exit_code.as_deref()),
        Some("1")
    );
    assert!(pod.started_at.is_some() && pod.finished_at.is_some());
    assert_eq!(
        status.nodes["collect-x7k2p"].children,
        vec!["collect-x7k2p-3056788342".to_string()]
    );
}

#[test]
fn unknown_phases_survive() {
    let p: kit_argo::Phase =
        serde_json::from_value(Value::String("Paused".into())).unwrap_or(kit_argo::Phase::Pending);
    assert_eq!(p, kit_argo::Phase::Other("Paused".into()));
    assert_eq!(
        serde_json::to_value(&p).unwrap_or(Value::Null),
        Value::String("Paused".into())
    );
}

#[test]
fn yaml_1_1_numbers_read_as_kubernetes_reads_them() {
    let wf = load("steps.yaml").workflow;
    let mode = wf.spec.volumes[1]
        .config_map
        .as_ref()
        .and_then(|c| c.extra.get("defaultMode").cloned());
    assert_eq!(mode, Some(Value::from(0o644)));
}

#[test]
fn to_yaml_keeps_scripts_literal_and_yaml_1_1_words_quoted() {
    let mut wf = load("steps.yaml").workflow;
    if let Some(c) = wf.spec.templates[3].container.as_mut() {
        c.args = Some(
            ["on", "y", "no", "0644", "1_000", "~", "null", "2012"]
                .map(String::from)
                .to_vec(),
        );
    }
    let yaml = kit_argo::to_yaml(&wf);
    assert!(
        yaml.contains("      source: |\n        import json, sys\n"),
        "{yaml}"
    );
    // Argo reads YAML 1.1: these must stay strings for it too.
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let reread: Value = serde_saphyr::from_str_with_options(&yaml, options).unwrap_or(Value::Null);
    assert_eq!(
        reread["spec"]["templates"][3]["container"]["args"],
        serde_json::json!(["on", "y", "no", "0644", "1_000", "~", "null", "2012"]),
        "{yaml}"
    );
}

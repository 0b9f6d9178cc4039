//! Loading files, finding them by name, and errors that point at a line.

use std::path::Path;

use kit_argo::{LoadError, SourceKind, load_workflow_str, resolve_workflow};

use crate::{fixture, load};

fn load_err(text: &str) -> LoadError {
    match load_workflow_str(text, Path::new("workflows/x.yaml")) {
        Ok(_) => panic!("should fail:\n{text}"),
        Err(e) => e,
    }
}

fn load_ok(text: &str) -> kit_argo::LoadedWorkflow {
    load_workflow_str(text, Path::new("workflows/x.yaml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn lines_of_loaded_values() {
    let l = load("steps.yaml");
    assert_eq!(l.kind, SourceKind::Workflow);
    assert_eq!(l.line("spec.templates[1].container.image"), Some(71));
    assert_eq!(l.line("spec.templates[4].sidecars[0].image"), Some(134));
    assert_eq!(l.line("spec.templates[0].steps[1][0].withItems"), Some(49));
    assert_eq!(l.line("spec.arguments.parameters[2]"), Some(24));
    // Falls back to the closest parent written in the file.
    assert_eq!(l.line("spec.serviceAccountName"), Some(13));
    assert!(l.at("spec.onExit").ends_with("steps.yaml:15"));
}

#[test]
fn workflow_templates_become_workflows() {
    let l = load("template.yaml");
    assert_eq!(l.kind, SourceKind::WorkflowTemplate);
    assert_eq!(l.template_name.as_deref(), Some("tiles"));
    let meta = &l.workflow.metadata;
    assert_eq!(meta.generate_name.as_deref(), Some("tiles-"));
    assert_eq!(meta.name, None);
    assert_eq!(
        meta.labels
            .as_ref()
            .and_then(|m| m.get("team"))
            .map(String::as_str),
        Some("vcity")
    );
    assert_eq!(l.workflow.spec.entrypoint, "build");
    assert_eq!(l.workflow.spec.templates.len(), 1);
    assert_eq!(l.line("spec.templates[0].container.image"), Some(19));
}

#[test]
fn another_kind_is_refused_with_kind_file_and_line() {
    let e = load_err("apiVersion: v1\n# a pod\nkind: Pod\nmetadata: {name: x}\n");
    assert!(matches!(&e, LoadError::WrongKind { kind, line: Some(3), .. } if kind == "`Pod`"));
    let text = e.to_string();
    assert!(
        text.starts_with("workflows/x.yaml:3: kind `Pod` is not supported"),
        "{text}"
    );
    let e = load_err("apiVersion: argoproj.io/v1alpha1\nmetadata: {name: x}\n");
    assert!(
        e.to_string()
            .contains("kind (none: the document has no `kind`)")
    );
}

#[test]
fn wrong_api_version_is_refused() {
    let e = load_err("apiVersion: argoproj.io/v1\nkind: Workflow\nspec: {}\n");
    assert!(matches!(
        e,
        LoadError::WrongApiVersion { line: Some(1), .. }
    ));
    assert!(
        e.to_string()
            .contains("use `apiVersion: argoproj.io/v1alpha1`")
    );
}

#[test]
fn syntax_errors_name_their_line() {
    let e = load_err(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates: [\n    {name: a\n",
    );
    let LoadError::Yaml { line, .. } = &e else {
        panic!("expected a YAML error, got {e}")
    };
    assert!(line.is_some_and(|l| l >= 4), "{e}");
    assert!(e.to_string().starts_with("workflows/x.yaml:"));
}

#[test]
fn several_workflows_or_none_are_refused() {
    let two = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: a}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: b}\n";
    let e = load_err(two);
    assert!(
        matches!(&e, LoadError::SeveralWorkflows { kind: "Workflow", names, .. } if names == &["a (line 1)", "b (line 5)"]),
        "{e}"
    );
    assert!(matches!(
        load_err("- a\n- b\n"),
        LoadError::NotAMapping {
            found: "a list",
            ..
        }
    ));
    assert!(matches!(
        load_err(""),
        LoadError::NotAMapping { found: "empty", .. }
    ));
    let only_cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    assert!(matches!(load_err(only_cm), LoadError::NoWorkflow { .. }));
}

/// A file as upstream examples write them: templates and a ConfigMap, then the workflow
/// that uses them. The workflow is the one submitted, the others come along in order.
#[test]
fn companions_come_with_the_workflow() {
    let text = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: lib}
spec:
  templates:
  - name: hello
    container: {image: busybox}
---
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: use-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: call
        templateRef: {name: lib, template: hello}
";
    let l = load_ok(text);
    assert_eq!(l.kind, SourceKind::Workflow);
    let got: Vec<(&str, &str, &str)> = l
        .companions
        .iter()
        .map(|c| (c.kind.as_str(), c.name.as_str(), c.at.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("ConfigMap", "settings", "workflows/x.yaml:1"),
            ("WorkflowTemplate", "lib", "workflows/x.yaml:6")
        ]
    );
    assert_eq!(
        l.companions[1].manifest["spec"]["templates"][0]["name"],
        "hello"
    );
    // Lines are per document.
    assert_eq!(l.line("spec.entrypoint"), Some(18));
}

#[test]
fn a_cron_workflow_is_read_as_its_workflow_spec() {
    let text = "\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  schedule: \"0 2 * * *\"
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {image: busybox}
";
    let l = load_ok(text);
    assert_eq!(l.kind, SourceKind::CronWorkflow);
    assert_eq!(
        l.workflow.metadata.generate_name.as_deref(),
        Some("nightly-")
    );
    assert_eq!(l.workflow.spec.entrypoint, "main");
    assert_eq!(l.line("spec.templates[0].container.image"), Some(10));
    let cluster = text.replace("CronWorkflow", "ClusterWorkflowTemplate");
    assert_eq!(load_ok(&cluster).kind, SourceKind::ClusterWorkflowTemplate);
}

#[test]
fn a_cron_workflow_beside_a_workflow_is_refused() {
    let text = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: a}\n---\napiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: b}\n";
    assert!(matches!(
        load_err(text),
        LoadError::NotACompanion { line: 5, .. }
    ));
}

#[test]
fn limits_duplicates_kinds_and_encodings_say_what_is_wrong() {
    let mut big = String::from("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  x: [");
    big.push_str(&"1,".repeat(300_000));
    big.push_str("1]\n");
    let e = load_err(&big).to_string();
    assert!(
        e.contains("too large for the YAML reader: more than 250000 values"),
        "{e}"
    );
    assert!(!e.contains("invalid YAML") && !e.contains("syntax"), "{e}");

    let dup = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nkind: Workflow\n";
    let e = load_err(dup).to_string();
    assert!(e.contains("the key `kind` appears twice"), "{e}");
    assert!(!e.contains("DuplicateKeyPolicy"), "{e}");

    let e = load_err("apiVersion: argoproj.io/v1alpha1\nkind: 5\n").to_string();
    assert!(
        e.contains("x.yaml:2: kind `5` (a number, not a name)"),
        "{e}"
    );
    let e = load_err("apiVersion: argoproj.io/v1alpha1\n").to_string();
    assert!(e.contains("kind (none: the document has no `kind`)"), "{e}");
    // A huge kind or apiVersion is quoted cut, with its size.
    let long = "W".repeat(100_000);
    for doc in [
        format!("apiVersion: argoproj.io/v1alpha1\nkind: {long}\n"),
        format!("apiVersion: {long}\nkind: Workflow\n"),
    ] {
        let e = load_err(&doc).to_string();
        assert!(
            e.len() < 1000 && e.contains("(100000 bytes)"),
            "{}",
            &e[..200]
        );
    }

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let latin1 = dir.path().join("latin1.yaml");
    std::fs::write(
        &latin1,
        b"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n# caf\xe9\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = kit_argo::load_workflow(&latin1)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.ends_with("latin1.yaml:3: the file is not UTF-8 text (invalid byte at offset 53); save it as UTF-8"), "{e}");
}

#[test]
fn type_errors_point_at_the_innermost_field() {
    let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: x-}
spec:
  entrypoint: main
  templates:
  - name: main
    container:
      image: alpine
      env:
      - name: A
        value: b
      - name: B
        value: [not, a, string]
";
    let e = load_err(text);
    let LoadError::Shape { field, line, .. } = &e else {
        panic!("expected a shape error, got {e}")
    };
    assert_eq!(field, "spec.templates[0].container.env[1].value");
    assert_eq!(*line, Some(14));
    assert!(
        e.to_string()
            .starts_with("workflows/x.yaml:14: `spec.templates[0].container.env[1].value`"),
        "{e}"
    );

    let e = load_err(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates:\n  - name: a\n    steps:\n    - - name: s\n        withItems: nope\n",
    );
    assert!(
        matches!(&e, LoadError::Shape { field, line: Some(8), .. } if field == "spec.templates[0].steps[0][0].withItems"),
        "{e}"
    );

    let e = load_err(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  labels: [a]\nspec: {}\n",
    );
    assert!(
        matches!(&e, LoadError::Shape { field, line: Some(4), .. } if field == "metadata.labels"),
        "{e}"
    );

    let e =
        load_err("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates: {a: 1}\n");
    assert!(
        matches!(&e, LoadError::Shape { field, line: Some(4), .. } if field == "spec.templates"),
        "{e}"
    );
}

#[test]
fn resolving_names_and_paths() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for f in ["collect.yaml", "collate.yml", "tiles.yaml", "notes.txt"] {
        std::fs::write(dir.path().join(f), "x").unwrap_or_else(|e| panic!("write: {e}"));
    }
    assert_eq!(
        resolve_workflow("collect", dir.path()).ok(),
        Some(dir.path().join("collect.yaml"))
    );
    assert_eq!(
        resolve_workflow("collate", dir.path()).ok(),
        Some(dir.path().join("collate.yml"))
    );
    let other = fixture("dag.yaml");
    let other_str = other.to_string_lossy().to_string();
    assert_eq!(resolve_workflow(&other_str, dir.path()).ok(), Some(other));
    assert_eq!(
        resolve_workflow("elsewhere/x.yaml", dir.path()).ok(),
        Some("elsewhere/x.yaml".into())
    );

    let e = resolve_workflow("colect", dir.path()).err();
    let Some(LoadError::UnknownWorkflow { available, .. }) = &e else {
        panic!("expected UnknownWorkflow, got {e:?}")
    };
    assert_eq!(available.first().map(String::as_str), Some("collect"));
    assert_eq!(available.len(), 3);
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("no workflow named `colect`") && text.contains("closest first: collect"),
        "{text}"
    );

    let names: Vec<String> = kit_argo::list_workflows(dir.path())
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, vec!["collate", "collect", "tiles"]);
    assert!(kit_argo::list_workflows(&dir.path().join("missing")).is_err());

    // Hera scripts: found by name after YAML, listed as sources, never as YAML.
    for f in ["sweep.py", "tiles.py"] {
        std::fs::write(dir.path().join(f), "x").unwrap_or_else(|e| panic!("write: {e}"));
    }
    assert_eq!(
        resolve_workflow("sweep", dir.path()).ok(),
        Some(dir.path().join("sweep.py"))
    );
    assert_eq!(
        resolve_workflow("tiles", dir.path()).ok(),
        Some(dir.path().join("tiles.yaml")),
        "YAML first when both exist"
    );
    assert_eq!(
        resolve_workflow("elsewhere/x.py", dir.path()).ok(),
        Some("elsewhere/x.py".into())
    );
    assert!(kit_argo::is_script(Path::new("a/b.py")) && !kit_argo::is_script(Path::new("b.yaml")));
    let sources: Vec<String> = kit_argo::list_workflow_sources(dir.path())
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        sources,
        vec!["collate", "collect", "sweep", "tiles", "tiles"]
    );
    let yaml: Vec<String> = kit_argo::list_workflows(dir.path())
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(yaml, vec!["collate", "collect", "tiles"]);
}

#[test]
fn unreadable_files_say_so() {
    let e = kit_argo::load_workflow(&fixture("does-not-exist.yaml")).err();
    assert!(matches!(e, Some(LoadError::Read { .. })));
}

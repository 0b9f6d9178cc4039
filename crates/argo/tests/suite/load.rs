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
    assert!(matches!(&e, LoadError::WrongKind { kind, line: Some(3), .. } if kind == "Pod"));
    let text = e.to_string();
    assert!(
        text.starts_with("workflows/x.yaml:3: kind `Pod` is not supported"),
        "{text}"
    );
    let e = load_err("apiVersion: argoproj.io/v1alpha1\nmetadata: {name: x}\n");
    assert!(e.to_string().contains("kind `(none)`"));
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
fn several_documents_or_none_are_refused() {
    let two = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n---\napiVersion: argoproj.io/v1alpha1\nkind: Workflow\n";
    assert!(matches!(
        load_err(two),
        LoadError::MultipleDocuments { count: 2, .. }
    ));
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
}

#[test]
fn unreadable_files_say_so() {
    let e = kit_argo::load_workflow(&fixture("does-not-exist.yaml")).err();
    assert!(matches!(e, Some(LoadError::Read { .. })));
}

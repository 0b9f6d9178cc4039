//! Offline validation rules, each with the line it reports.

use kit_argo::{Diagnostic, Severity, ValidateOptions, validate};

use crate::load;

fn diags(name: &str) -> Vec<Diagnostic> {
    validate(&load(name), &ValidateOptions::default())
}

/// (line, severity, start of the message) of each diagnostic.
fn summary(name: &str) -> Vec<(Option<usize>, Severity, String)> {
    diags(name)
        .into_iter()
        .map(|d| (d.line, d.severity, d.message))
        .collect()
}

fn assert_has(name: &str, expected: &[(usize, &str)]) {
    let got = summary(name);
    for (line, text) in expected {
        assert!(
            got.iter()
                .any(|(l, s, m)| *l == Some(*line) && *s == Severity::Error && m.contains(text)),
            "{name}: expected an error at line {line} containing {text:?}; got:\n{got:#?}"
        );
    }
    let errors = got.iter().filter(|(_, s, _)| *s == Severity::Error).count();
    assert_eq!(
        errors,
        expected.len(),
        "{name}: unexpected extra errors:\n{got:#?}"
    );
}

#[test]
fn valid_files_have_no_findings() {
    for name in [
        "steps.yaml",
        "dag.yaml",
        "dag-dependencies.yaml",
        "resources.yaml",
        "template.yaml",
        "status-failed.yaml",
    ] {
        let found = diags(name);
        assert!(found.is_empty(), "{name}: {found:#?}");
    }
}

#[test]
fn unknown_template_references() {
    assert_has(
        "invalid-refs.yaml",
        &[
            (6, "entrypoint `mian` is not a template"),
            (7, "exit handler `cleanup` is not a template"),
            (
                12,
                "step `one` calls template `echoo`, which is not in this file",
            ),
            (15, "step `two`: exit handler `nowhere`"),
            (20, "task `a` calls template `missing-template`"),
            (23, "task `c` names no template"),
        ],
    );
    let d = diags("invalid-refs.yaml");
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `main`?"));
    assert_eq!(d[2].hint.as_deref(), Some("did you mean `echo`?"));
    assert_eq!(d[0].path, "spec.entrypoint");
    assert!(d[0].to_string().ends_with("invalid-refs.yaml:6: error: entrypoint `mian` is not a template of this file\n  hint: did you mean `main`?"));
}

#[test]
fn dag_dependencies_cycles_and_depends_expressions() {
    assert_has(
        "invalid-dag.yaml",
        &[
            (
                13,
                "dependency cycle among 3 tasks: `a`, `b`, `c`; for example `a` -> `c` -> `a`",
            ),
            (
                22,
                "task `d` depends on `ghost`, which is not a task of this DAG",
            ),
            (
                25,
                "cannot read depends `a && (b`: `(` is never closed (at character 6)",
            ),
            (28, "`a.Succeded` is not a task result"),
            (31, "`a.AnySucceeded` needs `a` to loop"),
            (32, "task name `9lives` starts with a digit"),
            (39, "mixes `depends` and `dependencies`"),
            (39, "task `left` depends on `phantom`"),
            (
                39,
                "dependency cycle among 2 tasks: `left`, `right`; for example `left` -> `right` -> `left`",
            ),
        ],
    );
    let d = diags("invalid-dag.yaml");
    let bad_result = d.iter().find(|d| d.message.contains("Succeded"));
    assert!(
        bad_result
            .and_then(|d| d.hint.as_deref())
            .is_some_and(|h| h.starts_with("results are `Succeeded`"))
    );
}

/// Validates a DAG of 1,000 tasks `t0`…`t999` where task i depends on
/// `{depends_on}{i+1}` … `{depends_on}{i+50}` (indices modulo 1,000).
fn dense_dag(depends_on: &str) -> Vec<Diagnostic> {
    let n = 1_000;
    let mut text = String::from(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: dense-}\nspec:\n  entrypoint: main\n  templates:\n  - name: t\n    container: {image: busybox}\n  - name: main\n    dag:\n      tasks:\n",
    );
    for i in 0..n {
        let deps: Vec<String> = (1..=50)
            .map(|k| format!("{depends_on}{}", (i + k) % n))
            .collect();
        text.push_str(&format!(
            "      - {{name: t{i}, template: t, depends: \"{}\"}}\n",
            deps.join(" && ")
        ));
    }
    let loaded = kit_argo::load_workflow_str(&text, std::path::Path::new("dense.yaml"))
        .unwrap_or_else(|e| panic!("the dense DAG should load: {e}"));
    validate(&loaded, &ValidateOptions::default())
}

/// 1,000 tasks that each wait for the next 50: one group of tasks in a cycle, one short
/// error (it used to be one error per back edge: gigabytes of output).
#[test]
fn a_dense_cyclic_dag_is_one_short_error() {
    let found = dense_dag("t");
    let errors: Vec<&Diagnostic> = found.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{found:#?}");
    let message = &errors[0].message;
    assert!(
        message.starts_with("dependency cycle among 1000 tasks: `t0`, `t1`,"),
        "{message}"
    );
    assert!(
        message.contains("and 992 more; for example `t0` -> "),
        "{message}"
    );
    assert!(message.contains("(11 more)"), "{message}");
    assert!(message.len() < 400, "{} bytes: {message}", message.len());
    assert_eq!(errors[0].line, Some(12));
}

/// 1,000 tasks that each name 50 tasks that do not exist: one error per missing name
/// (with how many tasks name it), at most 20 of them and one line for the rest. (Found
/// by fuzzing: one error per mention, each with a sorted list of every task, took 74 s
/// and 20 MB of output.)
#[test]
fn unknown_task_names_are_reported_once_each_and_bounded() {
    let found = dense_dag("ghost");
    let errors: Vec<&Diagnostic> = found.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 21, "{found:#?}");
    let first = errors
        .iter()
        .find(|d| d.message.contains("`ghost1`"))
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert_eq!(
        first.message,
        "task `t0` depends on `ghost1`, which is not a task of this DAG (so do 49 other tasks)"
    );
    assert_eq!(first.line, Some(12));
    assert!(
        errors
            .iter()
            .any(|d| d.message == "and 980 more names that are not tasks of this DAG"),
        "{errors:#?}"
    );
    let hint = first.hint.as_deref().unwrap_or("");
    assert!(hint.len() < 200, "{hint}");
}

#[test]
fn kubernetes_and_argo_names() {
    assert_has(
        "invalid-names.yaml",
        &[
            (4, "workflow name `My_Workflow` contains `M`"),
            (9, "parameter name `bad name` contains ` `"),
            (13, "parameter `twice` is declared twice (first at line 11)"),
            (18, "step name `step.one` contains `.`"),
            (
                22,
                "step name `again` is used twice in this template (first at line 20)",
            ),
            (24, "template name `work_item` contains `_`"),
            (27, "template name `work_item` contains `_`"),
            (
                27,
                "template `work_item` is declared twice (first at line 24)",
            ),
            (
                34,
                "task `same` is declared twice in this DAG (first at line 33)",
            ),
        ],
    );
    let d = diags("invalid-names.yaml");
    assert_eq!(d[0].hint.as_deref(), Some("use e.g. `my-workflow`"));
}

#[test]
fn required_parameters() {
    assert_has(
        "invalid-params.yaml",
        &[
            (6, "entrypoint `main` needs input parameter `city`"),
            (9, "workflow parameter `vintage` has no value"),
            (
                12,
                "parameter `mode` is `turbo`, not one of its allowed values `fast`, `slow`",
            ),
            (
                21,
                "step `call` calls template `work` without its required parameter `needed`",
            ),
            (
                25,
                "step `call-partly` calls template `work` without its required parameter `needed`",
            ),
            (
                29,
                "step `call-partly` passes parameter `empty` without a value",
            ),
        ],
    );
    let d = diags("invalid-params.yaml");
    let vintage = d
        .iter()
        .find(|d| d.message.contains("`vintage` has no value"));
    assert_eq!(
        vintage.and_then(|d| d.hint.as_deref()),
        Some(
            "pass it with `-p vintage=VALUE` (year of the data set), or give it a `value` in the file"
        )
    );
}

#[test]
fn lint_mode_makes_missing_workflow_values_a_warning() {
    let l = load("invalid-params.yaml");
    let d = validate(
        &l,
        &ValidateOptions {
            lint: true,
            images: None,
        },
    );
    let vintage = d
        .iter()
        .find(|d| d.message.contains("`vintage` has no value"));
    assert_eq!(
        vintage.map(|d| (d.severity, d.line)),
        Some((Severity::Warning, Some(9)))
    );
    // Other parameter errors stay errors.
    assert_eq!(d.iter().filter(|d| d.is_error()).count(), 5);
}

#[test]
fn template_types_images_loops_and_long_prefixes() {
    assert_has(
        "invalid-types.yaml",
        &[
            (
                14,
                "step `loops` uses more than one of withItems, withParam and withSequence",
            ),
            (18, "template `empty` has no type"),
            (
                20,
                "template `double` declares several types: container, script",
            ),
            (27, "template `no-image`: `container` has no `image`"),
        ],
    );
    let warnings: Vec<_> = summary("invalid-types.yaml")
        .into_iter()
        .filter(|(_, s, _)| *s == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].0, Some(4));
    assert!(warnings[0].2.contains("Kubernetes cuts it to 58"));
}

#[test]
fn images_missing_from_the_lock_are_warnings() {
    let l = load("steps.yaml");
    let lock = |image: &str| {
        image
            .starts_with("harbor.pagoda.os.univ-lyon1.fr/")
            .then(|| format!("{image}@sha256:00"))
    };
    let d = validate(
        &l,
        &ValidateOptions {
            lint: false,
            images: Some(&lock),
        },
    );
    let found: Vec<(Option<usize>, Severity)> = d.iter().map(|d| (d.line, d.severity)).collect();
    assert_eq!(
        found,
        vec![
            (Some(107), Severity::Warning),
            (Some(123), Severity::Warning),
            (Some(134), Severity::Warning),
            (Some(136), Severity::Warning),
            (Some(158), Severity::Warning),
        ]
    );
    assert_eq!(
        d[0].message,
        "image `python:3.12-slim` is not in the lock file"
    );
    // Pinned references are not looked up again.
    let l = load("status-failed.yaml");
    assert!(
        validate(
            &l,
            &ValidateOptions {
                lint: false,
                images: Some(&|_: &str| None)
            }
        )
        .is_empty()
    );
}

#[test]
fn names_and_metadata_of_the_workflow() {
    let check = |text: &str| -> Vec<String> {
        let l = kit_argo::load_workflow_str(text, std::path::Path::new("x.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        validate(&l, &ValidateOptions::default())
            .into_iter()
            .map(|d| format!("{:?}:{}", d.line, d.message))
            .collect()
    };
    let head = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n";
    let body = "spec:\n  entrypoint: a\n  templates:\n  - name: a\n    suspend: {}\n";
    assert!(check(&format!("{head}metadata: {{generateName: ok-}}\n{body}")).is_empty());
    assert_eq!(
        check(&format!("{head}metadata: {{generateName: Bad-}}\n{body}")),
        vec!["Some(3):name prefix `Bad-` contains `B`: only lowercase letters, digits, `-` and `.` are allowed".to_string()]
    );
    assert_eq!(
        check(&format!("{head}metadata: {{labels: {{a: b}}}}\n{body}")),
        vec![
            "Some(3):the workflow has neither `metadata.name` nor `metadata.generateName`"
                .to_string()
        ]
    );
    let long = "a".repeat(64);
    assert_eq!(
        check(&format!("{head}metadata:\n  name: {long}\n{body}")).len(),
        1
    );
    assert_eq!(
        check(&format!(
            "{head}metadata: {{generateName: x-}}\nspec:\n  templates:\n  - name: a\n    suspend: {{}}\n"
        )),
        vec![
            "Some(4):`spec.entrypoint` is missing: Argo does not know which template to start"
                .to_string()
        ]
    );
    // A reference to a WorkflowTemplate in the cluster: only the reference is checked.
    assert!(
        check(&format!(
            "{head}metadata: {{generateName: x-}}\nspec:\n  workflowTemplateRef: {{name: tiles}}\n"
        ))
        .is_empty()
    );
    assert_eq!(
        check(&format!("{head}metadata: {{generateName: x-}}\nspec:\n  workflowTemplateRef: {{name: tiles}}\n  templates:\n  - name: a\n    suspend: {{}}\n")).len(),
        1
    );
}

#[test]
fn a_workflow_template_without_entrypoint_is_only_a_warning_when_linting() {
    let text = "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: lib}\nspec:\n  templates:\n  - name: a\n    suspend: {}\n";
    let l = kit_argo::load_workflow_str(text, std::path::Path::new("lib.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let lint = validate(
        &l,
        &ValidateOptions {
            lint: true,
            images: None,
        },
    );
    assert_eq!(
        lint.iter()
            .map(|d| (d.severity, d.line))
            .collect::<Vec<_>>(),
        vec![(Severity::Warning, Some(4))]
    );
    let run = validate(&l, &ValidateOptions::default());
    assert_eq!(
        run.iter().map(|d| (d.severity, d.line)).collect::<Vec<_>>(),
        vec![(Severity::Error, Some(4))]
    );
}

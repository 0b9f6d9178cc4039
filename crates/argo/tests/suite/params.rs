//! `-p key=value`.

use kit_argo::{ParamError, missing_parameters, parse_parameter, set_parameters};

use crate::load;

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn parsing() {
    assert_eq!(parse_parameter("a=b").ok(), Some(("a".into(), "b".into())));
    assert_eq!(
        parse_parameter("url=http://x?a=b").ok(),
        Some(("url".into(), "http://x?a=b".into()))
    );
    assert_eq!(
        parse_parameter("empty=").ok(),
        Some(("empty".into(), String::new()))
    );
    assert!(matches!(
        parse_parameter("novalue"),
        Err(ParamError::Malformed { .. })
    ));
    assert!(matches!(
        parse_parameter("=x"),
        Err(ParamError::Malformed { .. })
    ));
    let text = parse_parameter("oops")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        text,
        "`-p oops`: expected KEY=VALUE (e.g. `-p vintage=2012`)"
    );
}

#[test]
fn values_are_set_and_reported() {
    let mut l = load("steps.yaml");
    let rewrites = set_parameters(
        &mut l,
        &args(&["borough=LYON_2E", "vintage=2015", "borough=LYON_3E"]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let params = l
        .workflow
        .spec
        .arguments
        .clone()
        .unwrap_or_default()
        .parameters;
    assert_eq!(params[0].value.as_deref(), Some("2015"));
    assert_eq!(params[1].value.as_deref(), Some("LYON_3E"));
    assert_eq!(rewrites.len(), 3);
    assert_eq!(rewrites[0].path, "spec.arguments.parameters[1].value");
    assert_eq!(rewrites[0].line, Some(22));
    assert_eq!(rewrites[0].from.as_deref(), Some("LYON_1ER"));
}

#[test]
fn unknown_parameters_list_the_known_ones_closest_first() {
    let mut l = load("steps.yaml");
    let before = l.workflow.clone();
    let e = set_parameters(&mut l, &args(&["vintage=2012", "burough=X"])).err();
    let Some(ParamError::Unknown { unknown, known, .. }) = &e else {
        panic!("expected Unknown, got {e:?}")
    };
    assert_eq!(unknown, &vec!["burough".to_string()]);
    assert_eq!(known.first().map(String::as_str), Some("borough"));
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains("steps.yaml: unknown parameter `burough`: the workflow declares `borough`"),
        "{text}"
    );
    // All or nothing.
    assert_eq!(l.workflow, before);

    let mut l = load("resources.yaml");
    let text = set_parameters(&mut l, &args(&["x=1"]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(text.contains("declares no parameter"), "{text}");
}

#[test]
fn enum_values_are_enforced() {
    let mut l = load("steps.yaml");
    let e = set_parameters(&mut l, &args(&["vintage=1999"])).err();
    assert!(
        matches!(&e, Some(ParamError::NotInEnum { line: Some(18), .. })),
        "{e:?}"
    );
    let text = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.contains(
            ":18: parameter `vintage` cannot be `1999`: allowed values are `2009`, `2012`, `2015`"
        ),
        "{text}"
    );
}

#[test]
fn missing_parameters_are_listed_until_set() {
    let mut l = load("invalid-params.yaml");
    let missing = missing_parameters(&l);
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].name, "vintage");
    assert_eq!(missing[0].line, Some(9));
    assert_eq!(
        missing[0].description.as_deref(),
        Some("year of the data set")
    );
    set_parameters(&mut l, &args(&["vintage=2012"])).unwrap_or_else(|e| panic!("{e}"));
    assert!(missing_parameters(&l).is_empty());
}

#[test]
fn setting_a_value_replaces_value_from() {
    let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: x-}
spec:
  arguments:
    parameters:
    - name: proxy
      valueFrom:
        configMapKeyRef: {name: cm, key: k}
";
    let mut l = kit_argo::load_workflow_str(text, std::path::Path::new("x.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    set_parameters(&mut l, &args(&["proxy=http://p"])).unwrap_or_else(|e| panic!("{e}"));
    let p = &l
        .workflow
        .spec
        .arguments
        .clone()
        .unwrap_or_default()
        .parameters[0];
    assert_eq!(
        (p.value.as_deref(), p.value_from.is_none()),
        (Some("http://p"), true)
    );
}

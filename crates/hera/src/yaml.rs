//! The captured workflows as one multi-document YAML text.

use std::path::Path;

use crate::{Captured, CapturedWorkflow};

/// The `selected` workflows (usually from `captured.workflows`) as YAML documents separated
/// by `---`, after a comment line naming the script and the Hera version, each document
/// after a comment naming its kind, name and how the script handed it over.
pub fn to_yaml(script: &Path, captured: &Captured, selected: &[&CapturedWorkflow]) -> String {
    let mut out = format!(
        "# Captured from {} with Hera {}; nothing was sent to a cluster.\n",
        one_line(&script.display().to_string()),
        one_line(&captured.hera_version)
    );
    for (i, w) in selected.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        let name = if w.name.is_empty() {
            "(no name)"
        } else {
            &w.name
        };
        out.push_str(&format!(
            "# {} {} ({})\n",
            one_line(&w.kind),
            one_line(name),
            one_line(&w.call)
        ));
        let doc = yaml_of(&w.manifest);
        out.push_str(&doc);
        if !doc.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn yaml_of(value: &serde_json::Value) -> String {
    // Long single-line values (images, arguments) stay on one line; the JSON form, valid
    // YAML too, should serialising ever fail.
    let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
    serde_saphyr::to_string_with_options(value, options)
        .or_else(|_| serde_json::to_string_pretty(value))
        .unwrap_or_default()
}

/// A comment ends at a line break: one in a path or name would start a YAML line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn captured() -> Captured {
        let wf =
            |kind: &str, name: &str, call: &str, manifest: serde_json::Value| CapturedWorkflow {
                kind: kind.into(),
                name: name.into(),
                call: call.into(),
                manifest,
            };
        Captured {
            workflows: vec![
                wf(
                    "Workflow",
                    "collect-",
                    "create",
                    json!({
                        "apiVersion": "argoproj.io/v1alpha1",
                        "kind": "Workflow",
                        "metadata": {"generateName": "collect-", "namespace": "vcity"},
                        "spec": {"entrypoint": "main", "arguments": {"parameters": [
                            {"name": "vintage", "value": "2012"},
                            {"name": "flag", "value": "yes"},
                            {"name": "empty", "value": ""},
                            {"name": "script", "value": "line one\nline two: x\n"},
                        ]}}
                    }),
                ),
                wf(
                    "CronWorkflow",
                    "",
                    "built",
                    json!({"kind": "CronWorkflow", "spec": {"schedule": "0 2 * * *"}}),
                ),
            ],
            hera_version: "5.16.3".into(),
            python: "/w/.xtask/python/hera-5.16.3/bin/python".into(),
            seconds: 1.2,
            output: String::new(),
        }
    }

    #[test]
    fn documents_follow_a_header() {
        let c = captured();
        let all: Vec<&CapturedWorkflow> = c.workflows.iter().collect();
        let text = to_yaml(Path::new("flows/collect.py"), &c, &all);
        assert!(
            text.starts_with(
                "# Captured from flows/collect.py with Hera 5.16.3; nothing was sent to a cluster.\n# Workflow collect- (create)\napiVersion: argoproj.io/v1alpha1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n---\n# CronWorkflow (no name) (built)\nkind: CronWorkflow\n"),
            "{text}"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn documents_read_back_as_the_manifests() {
        let c = captured();
        let all: Vec<&CapturedWorkflow> = c.workflows.iter().collect();
        let text = to_yaml(Path::new("collect.py"), &c, &all);
        let docs: Vec<&str> = text.split("\n---\n").collect();
        assert_eq!(docs.len(), 2);
        for (doc, w) in docs.iter().zip(&c.workflows) {
            let back: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
            // Strings that look like numbers or booleans stay strings.
            assert_eq!(&back, &w.manifest, "{doc}");
        }
    }

    #[test]
    fn selection_and_odd_names() {
        let mut c = captured();
        c.workflows[1].name = "evil\n- injected".into();
        let only: Vec<&CapturedWorkflow> = c.workflows[1..].iter().collect();
        let text = to_yaml(Path::new("a\nb.py"), &c, &only);
        assert!(text.starts_with("# Captured from a b.py with"), "{text}");
        assert!(
            text.contains("# CronWorkflow evil - injected (built)\n"),
            "{text}"
        );
        assert!(!text.contains("collect-"));
        let none = to_yaml(Path::new("x.py"), &c, &[]);
        assert_eq!(none.lines().count(), 1);
    }
}

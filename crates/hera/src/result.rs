//! The result file the shim writes (`capture.py`), read back.

use serde::Deserialize;

use crate::CapturedWorkflow;

#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(default)]
    hera_version: Option<String>,
    #[serde(default)]
    workflows: Vec<RawWorkflow>,
    #[serde(default)]
    error: Option<RawError>,
}

#[derive(Debug, Deserialize)]
struct RawWorkflow {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    call: String,
    manifest: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct RawError {
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    found: Option<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    traceback: String,
}

/// What the shim reported.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Captured {
        hera_version: String,
        workflows: Vec<CapturedWorkflow>,
    },
    Script {
        summary: String,
        traceback: String,
    },
    HeraMissing {
        detail: String,
    },
    HeraVersion {
        found: String,
    },
}

/// Reads the shim's JSON. An unreadable result is a bug of the shim: the error says so.
pub(crate) fn parse(text: &str) -> Result<Outcome, String> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("the capture result is not valid JSON ({e})"))?;
    if !value.is_object() {
        return Err("the capture result is not a JSON object".into());
    }
    let raw: Raw = serde_json::from_value(value)
        .map_err(|e| format!("the capture result has an unexpected shape ({e})"))?;
    let version = raw.hera_version.unwrap_or_default();
    let Some(error) = raw.error else {
        let workflows = raw
            .workflows
            .into_iter()
            .map(|w| {
                let name = if w.name.is_empty() {
                    name_of(&w.manifest)
                } else {
                    w.name
                };
                let kind = if w.kind.is_empty() {
                    str_at(&w.manifest, &["kind"]).to_owned()
                } else {
                    w.kind
                };
                CapturedWorkflow {
                    kind,
                    name,
                    call: w.call,
                    manifest: w.manifest,
                }
            })
            .collect();
        return Ok(Outcome::Captured {
            hera_version: version,
            workflows,
        });
    };
    match error.kind.as_str() {
        "script" => Ok(Outcome::Script {
            summary: error.summary,
            traceback: error.traceback,
        }),
        "hera_missing" => Ok(Outcome::HeraMissing {
            detail: error.message,
        }),
        "hera_version" => Ok(Outcome::HeraVersion {
            found: error.found.unwrap_or(version),
        }),
        other => Err(format!(
            "the capture result has an unknown error kind `{}`",
            other.escape_debug()
        )),
    }
}

/// metadata.name, else metadata.generateName, else "".
pub(crate) fn name_of(manifest: &serde_json::Value) -> String {
    let name = str_at(manifest, &["metadata", "name"]);
    if name.is_empty() {
        str_at(manifest, &["metadata", "generateName"]).to_owned()
    } else {
        name.to_owned()
    }
}

fn str_at<'a>(value: &'a serde_json::Value, path: &[&str]) -> &'a str {
    let mut v = value;
    for key in path {
        match v.get(key) {
            Some(next) => v = next,
            None => return "",
        }
    }
    v.as_str().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workflows_are_read() {
        let text = json!({
            "hera_version": "5.16.3",
            "workflows": [
                {"kind": "Workflow", "name": "collect-", "call": "create",
                 "manifest": {"kind": "Workflow", "metadata": {"generateName": "collect-"}}},
                {"kind": "", "name": "", "call": "built",
                 "manifest": {"kind": "CronWorkflow", "metadata": {"name": "nightly"}}},
            ]
        })
        .to_string();
        let Ok(Outcome::Captured {
            hera_version,
            workflows,
        }) = parse(&text)
        else {
            panic!("should parse: {text}");
        };
        assert_eq!(hera_version, "5.16.3");
        assert_eq!(workflows.len(), 2);
        assert_eq!(
            (
                workflows[0].kind.as_str(),
                workflows[0].name.as_str(),
                workflows[0].call.as_str()
            ),
            ("Workflow", "collect-", "create")
        );
        // Kind and name are filled from the manifest when the shim left them empty.
        assert_eq!(
            (workflows[1].kind.as_str(), workflows[1].name.as_str()),
            ("CronWorkflow", "nightly")
        );
    }

    #[test]
    fn errors_are_read() {
        let script = json!({"hera_version": "7.1.0", "error": {"kind": "script", "type": "KeyError",
            "summary": "collect.py:42: KeyError: 'x'", "traceback": "Traceback …", "line": 42}});
        assert_eq!(
            parse(&script.to_string()),
            Ok(Outcome::Script {
                summary: "collect.py:42: KeyError: 'x'".into(),
                traceback: "Traceback …".into()
            })
        );
        let missing = json!({"error": {"kind": "hera_missing", "message": "ModuleNotFoundError: No module named 'hera'"}});
        assert_eq!(
            parse(&missing.to_string()),
            Ok(Outcome::HeraMissing {
                detail: "ModuleNotFoundError: No module named 'hera'".into()
            })
        );
        let version = json!({"hera_version": "4.4.2", "error": {"kind": "hera_version"}});
        assert_eq!(
            parse(&version.to_string()),
            Ok(Outcome::HeraVersion {
                found: "4.4.2".into()
            })
        );
    }

    #[test]
    fn bad_results_are_errors_not_panics() {
        for text in [
            "",
            "{",
            "[]",
            "{\"error\": {\"kind\": \"mystery\"}}",
            "{\"workflows\": [{}]}",
            "{\"workflows\": 3}",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert_eq!(
            parse("{}"),
            Ok(Outcome::Captured {
                hera_version: String::new(),
                workflows: vec![]
            })
        );
    }

    #[test]
    fn names_fall_back_to_generate_name() {
        assert_eq!(
            name_of(&json!({"metadata": {"name": "a", "generateName": "b-"}})),
            "a"
        );
        assert_eq!(name_of(&json!({"metadata": {"generateName": "b-"}})), "b-");
        assert_eq!(name_of(&json!({"metadata": {"name": 3}})), "");
        assert_eq!(name_of(&json!("text")), "");
    }
}

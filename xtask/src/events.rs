//! The JSON lines of `--output json` for the commands that stream (`run`, `rerun`,
//! `watch`, `stop`, and a Hera script's capture): one object per line, its `type` naming
//! the variant. This enum is the contract a script author relies on; `docs/json-output.md`
//! documents it and a test keeps the two in step. Every variant refuses unknown fields, so
//! the tests that parse a command's lines with it fail when the output grows a field the
//! schema does not know.
//!
//! The integration tests include this file (`#[path]`), so it depends only on crates
//! the tests can use too.

use std::path::PathBuf;

use kit_diagnose::{Finding, Phase};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A Hera script ran and its workflow was captured as YAML.
    Captured {
        script: PathBuf,
        captured: PathBuf,
        /// The workflows chosen, as `Kind name (how it was made)`.
        workflows: Vec<String>,
        /// The other workflows the script made, described the same way.
        others: Vec<String>,
        hera_version: String,
        seconds: f64,
    },
    /// A companion document of the workflow file (a template, a ConfigMap) was applied.
    Applied {
        kind: String,
        name: String,
        namespace: String,
        /// `file:line` of the document.
        at: String,
    },
    /// The workflow was created.
    Submitted {
        name: String,
        namespace: String,
        /// Its page in the Argo UI, when an Argo Server is configured.
        ui: Option<String>,
        /// The run record's folder.
        record: PathBuf,
    },
    /// The workflow's phase changed (`(no status yet)` before the controller wrote one).
    Workflow {
        name: String,
        phase: String,
        message: Option<String>,
    },
    /// A step's phase changed.
    Step {
        /// The step as Argo shows it (`collect(0:2009)`).
        name: String,
        /// The step's full path without the workflow's name.
        path: String,
        phase: Option<Phase>,
        message: Option<String>,
        pod: Option<String>,
    },
    /// The cluster's node is simulated (kwok): steps ran nothing.
    Simulated { message: String },
    /// A diagnosis: new, or changed (watching → confirmed).
    Finding { finding: Finding },
    /// A line for people that is not an event of the workflow.
    Note { message: String },
    /// A line of a step's program output (`--logs`).
    Log { step: String, line: String },
    /// Following ended: the workflow finished or a finding stopped the follow.
    End {
        name: String,
        /// Empty when no phase was ever written.
        phase: String,
        message: Option<String>,
        seconds: f64,
        /// The confirmed findings.
        findings: Vec<Finding>,
    },
    /// The run's report page was written.
    Report { path: PathBuf },
    /// `stop` asked the controller to stop the workflow.
    Stopped { name: String, namespace: String },
}

impl Event {
    /// The variant's `type` value.
    #[cfg(test)]
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Captured { .. } => "captured",
            Event::Applied { .. } => "applied",
            Event::Submitted { .. } => "submitted",
            Event::Workflow { .. } => "workflow",
            Event::Step { .. } => "step",
            Event::Simulated { .. } => "simulated",
            Event::Finding { .. } => "finding",
            Event::Note { .. } => "note",
            Event::Log { .. } => "log",
            Event::End { .. } => "end",
            Event::Report { .. } => "report",
            Event::Stopped { .. } => "stopped",
        }
    }

    /// Prints the event as one line on stdout.
    pub fn emit(&self) {
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            // Serialising these types has no failure mode (string keys only); should it
            // happen, the line says so instead of vanishing.
            Err(err) => println!("{{\"type\":\"note\",\"message\":\"unprintable event: {err}\"}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant, to check the documentation and the round trip.
    fn one_of_each() -> Vec<Event> {
        vec![
            Event::Captured {
                script: "workflows/demo_hera.py".into(),
                captured: ".xtask/captured/demo_hera.yaml".into(),
                workflows: vec![],
                others: vec![],
                hera_version: "5.20.0".into(),
                seconds: 1.5,
            },
            Event::Applied {
                kind: "ConfigMap".into(),
                name: "c".into(),
                namespace: "argo".into(),
                at: "f.yaml:3".into(),
            },
            Event::Submitted {
                name: "demo-x".into(),
                namespace: "argo".into(),
                ui: None,
                record: ".xtask/runs/r".into(),
            },
            Event::Workflow {
                name: "demo-x".into(),
                phase: "Running".into(),
                message: None,
            },
            Event::Step {
                name: "a".into(),
                path: "a".into(),
                phase: Some(Phase::Succeeded),
                message: None,
                pod: Some("demo-x-a-1".into()),
            },
            Event::Simulated {
                message: "m".into(),
            },
            Event::Finding {
                finding: serde_json::from_value(serde_json::json!({
                    "level": "user", "reason": "image-not-found", "step": null, "pod": null,
                    "summary": "s", "evidence": [], "fix": "f", "terminal": true,
                    "watching": false, "since": null
                }))
                .expect("a finding"),
            },
            Event::Note {
                message: "n".into(),
            },
            Event::Log {
                step: "a".into(),
                line: "hello".into(),
            },
            Event::End {
                name: "demo-x".into(),
                phase: "Succeeded".into(),
                message: None,
                seconds: 3.0,
                findings: vec![],
            },
            Event::Report {
                path: "r/report.html".into(),
            },
            Event::Stopped {
                name: "demo-x".into(),
                namespace: "argo".into(),
            },
        ]
    }

    #[test]
    fn every_event_round_trips_with_its_type() {
        for event in one_of_each() {
            let line = serde_json::to_string(&event).unwrap();
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value["type"], event.kind(), "{line}");
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), event);
        }
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        let extra = r#"{"type":"note","message":"m","colour":"red"}"#;
        assert!(serde_json::from_str::<Event>(extra).is_err());
        let unknown = r#"{"type":"nope"}"#;
        assert!(serde_json::from_str::<Event>(unknown).is_err());
    }

    #[test]
    fn the_documentation_lists_every_event_and_its_fields() {
        let doc = include_str!("../../docs/json-output.md");
        for event in one_of_each() {
            let heading = format!("### `{}`", event.kind());
            let section = doc
                .split("\n### ")
                .find(|s| s.starts_with(&heading[4..]))
                .unwrap_or_else(|| panic!("docs/json-output.md has no section {heading}"));
            let value = serde_json::to_value(&event).unwrap();
            for field in value.as_object().unwrap().keys().filter(|k| *k != "type") {
                assert!(
                    section.contains(&format!("`{field}`")),
                    "docs/json-output.md: section {heading} does not document `{field}`"
                );
            }
        }
    }
}

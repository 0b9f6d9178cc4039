//! The JSON documents of the commands that answer once (`--output json`): one type per
//! command, so the keys are written in one place and documented in
//! `docs/json-output.md` (a test below fails when the page misses a key).

use std::path::Path;

use kit_argo::Diagnostic;
use kit_cluster::doctor::Check;
use kit_diagnose::Finding;
use kit_images::ImagePlan;
use serde::Serialize;

/// `config`: the settings report of kit-config, and what the other commands would miss.
#[derive(Serialize)]
pub struct ConfigDocument<'a> {
    /// `settings`, `warnings`, `sources`, `workspace_root` (see kit_config::to_json).
    #[serde(flatten)]
    pub report: serde_json::Value,
    pub missing: Vec<MissingSetting<'a>>,
    /// `kube` or `argo-server`: the API the commands would use.
    pub via: kit_config::Via,
    /// Why that way.
    pub via_reason: &'a str,
}

#[derive(Serialize)]
pub struct MissingSetting<'a> {
    pub setting: &'a str,
    pub problem: &'a str,
    pub fix: &'a str,
}

/// `doctor`: every readiness check.
#[derive(Serialize)]
pub struct DoctorDocument<'a> {
    /// No check failed.
    pub ok: bool,
    /// `kube` or `argo-server`: the API the checks went through.
    pub via: Option<kit_config::Via>,
    /// Why that way was chosen.
    pub via_reason: Option<&'a str>,
    pub checks: &'a [Check],
}

/// `lint`: the files read, each document's diagnostics, and all diagnostics together.
#[derive(Serialize)]
pub struct LintDocument<'a, F> {
    pub workflows: &'a [String],
    pub files: &'a [F],
    pub diagnostics: &'a [Diagnostic],
}

/// `diagnose NAME`: the workflow's state and the findings.
#[derive(Serialize)]
pub struct DiagnoseDocument<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub phase: &'a str,
    pub message: Option<&'a str>,
    pub findings: &'a [Finding],
}

/// `up`: what each image needed, what was built and pushed, and the cluster's checks.
#[derive(Serialize)]
pub struct UpDocument<'a> {
    pub images: &'a [ImagePlan],
    pub built: Vec<&'a str>,
    pub build_failed: Vec<ImageFailure>,
    /// Pinned references; null when nothing was pushed (a build failed first).
    pub pushed: Option<Vec<&'a str>>,
    pub push_failed: Option<Vec<ImageFailure>>,
    /// Absent with `--images-only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<&'a [Check]>,
}

#[derive(Serialize)]
pub struct ImageFailure {
    pub image: String,
    pub error: String,
}

/// `report`: where the page was written, and the data drawn on it.
#[derive(Serialize)]
pub struct ReportDocument<'a, D> {
    pub report: &'a Path,
    pub run: &'a D,
}

/// `fetch-results --cleanup`: the helper pods removed.
#[derive(Serialize)]
pub struct CleanupDocument<'a> {
    pub deleted: &'a [String],
}

/// Prints a document on stdout, indented.
pub fn print(document: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(document)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top-level keys of a document.
    fn keys(document: &impl Serialize) -> Vec<String> {
        match serde_json::to_value(document).expect("serialisable") {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    /// Every key of every document is named in its section of docs/json-output.md.
    #[test]
    fn every_document_key_is_documented() {
        let page = include_str!("../../docs/json-output.md");
        // After the event types, some of which share a command's name (`report`).
        let part = "## Documents of the commands that answer once";
        let page = &page[page.find(part).expect("the documents' part of the page")..];
        let report = serde_json::json!({
            "settings": {}, "warnings": [], "sources": [], "workspace_root": null
        });
        let no_files: [String; 0] = [];
        let documents: Vec<(&str, Vec<String>)> = vec![
            (
                "config",
                keys(&ConfigDocument {
                    report,
                    missing: vec![],
                    via: kit_config::Via::Kube,
                    via_reason: "",
                }),
            ),
            (
                "doctor",
                keys(&DoctorDocument {
                    ok: true,
                    via: None,
                    via_reason: None,
                    checks: &[],
                }),
            ),
            (
                "lint",
                keys(&LintDocument {
                    workflows: &[],
                    files: &no_files,
                    diagnostics: &[],
                }),
            ),
            (
                "diagnose",
                keys(&DiagnoseDocument {
                    name: "w",
                    namespace: "argo",
                    phase: "Failed",
                    message: None,
                    findings: &[],
                }),
            ),
            (
                "up",
                keys(&UpDocument {
                    images: &[],
                    built: vec![],
                    build_failed: vec![],
                    pushed: None,
                    push_failed: None,
                    checks: Some(&[]),
                }),
            ),
            (
                "report",
                keys(&ReportDocument {
                    report: Path::new("r.html"),
                    run: &serde_json::json!({}),
                }),
            ),
            (
                "fetch-results --cleanup",
                keys(&CleanupDocument { deleted: &[] }),
            ),
        ];
        for (command, keys) in documents {
            let heading = format!("### `{command}`");
            let start = page
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/json-output.md has no section {heading}"));
            let section = &page[start + heading.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            for key in keys {
                assert!(
                    section.contains(&format!("`{key}`")),
                    "docs/json-output.md, section {heading}, does not name key `{key}`"
                );
            }
        }
    }
}

//! Run records under `.xtask/runs/`: what was submitted (the manifest with its companion
//! documents, parameters, settings) and how it ended, whoever followed it to the end.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kit_argo::LoadedWorkflow;
use kit_config::Resolved;

use super::follow::Outcome;
use crate::Exit;

/// Where run records are kept, relative to the workspace root.
pub const RUNS_DIR: &str = ".xtask/runs";

/// Phases after which a workflow changes no more: only these are shown as an outcome.
const FINAL_PHASES: [&str; 3] = ["Succeeded", "Failed", "Error"];

/// A run record: everything needed to know what ran and to run it again.
pub struct RunRecord {
    pub dir: PathBuf,
}

impl RunRecord {
    /// Creates the record of a run about to be submitted. The folder is named after the
    /// workflow (its name or generateName), not after the file it came from.
    pub fn create(
        root: &Path,
        resolved: &Resolved,
        loaded: &LoadedWorkflow,
        rewrites: &[kit_argo::Rewrite],
        parameters: &[String],
        rerun_of: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let dir = root
            .join(RUNS_DIR)
            .join(format!("{stamp}-{}", record_base(loaded)));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write(
            &dir.join("manifest.yaml"),
            &kit_argo::to_yaml_with_companions(&loaded.workflow, &loaded.companions),
        )?;
        let meta = serde_json::json!({
            "source": loaded.file,
            "kind": loaded.kind.as_str(),
            "parameters": parameters,
            "rewrites": rewrites,
            "applied_first": loaded.companions.iter().map(|c| format!("{} {}", c.kind, c.name)).collect::<Vec<_>>(),
            "rerun_of": rerun_of,
            "submitted_at": chrono::Utc::now(),
        });
        write(&dir.join("run.json"), &serde_json::to_string_pretty(&meta)?)?;
        // Secrets are masked by the configuration report itself.
        let settings = kit_config::to_json(resolved);
        write(
            &dir.join("settings.json"),
            &serde_json::to_string_pretty(&settings)?,
        )?;
        Ok(RunRecord { dir })
    }

    /// Keeps the Hera script a workflow was captured from, and what it gave, beside
    /// the manifest: `rerun` replays the manifest and needs no Python.
    pub fn keep_script(&self, script: &super::script::ScriptSource) -> anyhow::Result<()> {
        let name = script
            .script
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "script.py".into());
        std::fs::copy(&script.script, self.dir.join(&name))
            .with_context(|| format!("copying {} into the run record", script.script.display()))?;
        std::fs::copy(&script.captured, self.dir.join("captured.yaml")).with_context(|| {
            format!("copying {} into the run record", script.captured.display())
        })?;
        let meta = serde_json::json!({
            "script": script.script,
            "copy": name,
            "captured": "captured.yaml",
            "hera_version": script.hera_version,
            "python": script.python,
            "capture_seconds": script.seconds,
        });
        write(
            &self.dir.join("script.json"),
            &serde_json::to_string_pretty(&meta)?,
        )
    }

    pub fn submitted(&mut self, name: &str) -> anyhow::Result<()> {
        write(&self.dir.join("name"), name)
    }

    /// Records how following ended. An outcome seen in a final phase is never replaced
    /// by a later, partial one.
    pub fn finished(&self, outcome: &Outcome, followed_by: &str) -> anyhow::Result<()> {
        if read_outcome(&self.dir).is_some_and(|o| o.is_final()) {
            return Ok(());
        }
        let mut value = serde_json::to_value(outcome)?;
        value["followed_by"] = followed_by.into();
        value["recorded_at"] = serde_json::to_value(chrono::Utc::now())?;
        write(
            &self.dir.join("outcome.json"),
            &serde_json::to_string_pretty(&value)?,
        )
    }
}

/// `demo` for `generateName: demo-`; the file's stem when the workflow has no name.
fn record_base(loaded: &LoadedWorkflow) -> String {
    let meta = &loaded.workflow.metadata;
    let name = meta
        .generate_name
        .as_deref()
        .map(|g| g.trim_end_matches('-'))
        .or(meta.name.as_deref())
        .filter(|n| !n.is_empty());
    match name {
        Some(n) => n.to_string(),
        None => loaded
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "workflow".into()),
    }
}

/// Writes through a temporary file so a record is never half-written.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// What a record says of the run's end.
pub struct RecordedOutcome {
    /// The workflow's phase when following stopped.
    pub phase: Option<String>,
}

impl RecordedOutcome {
    /// Whether the phase is one the workflow cannot leave.
    pub fn is_final(&self) -> bool {
        self.phase
            .as_deref()
            .is_some_and(|p| FINAL_PHASES.contains(&p))
    }
}

pub fn read_outcome(dir: &Path) -> Option<RecordedOutcome> {
    let text = std::fs::read_to_string(dir.join("outcome.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(RecordedOutcome {
        phase: value["phase"].as_str().map(str::to_string),
    })
}

/// The workflow name a record submitted, when it got that far.
pub fn record_name(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("name"))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

/// The records under `.xtask/runs`, newest first.
pub fn records(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(RUNS_DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs
}

/// The most recent run record.
pub fn last_record(root: &Path) -> Option<PathBuf> {
    records(root).into_iter().next()
}

/// The record of the workflow `name`, when this workspace submitted it.
pub fn record_of_workflow(root: &Path, name: &str) -> Option<PathBuf> {
    records(root)
        .into_iter()
        .find(|dir| record_name(dir).as_deref() == Some(name))
}

/// The most recent record whose name or folder matches, or the folder itself.
pub fn find_record(root: &Path, wanted: &str) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(wanted);
    if direct.join("manifest.yaml").exists() {
        return Ok(direct);
    }
    records(root)
        .into_iter()
        .find(|dir| {
            dir.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(wanted))
                || record_name(dir).as_deref() == Some(wanted)
        })
        .ok_or_else(|| {
            Exit::input(format!(
                "no run record matches {wanted:?}; `cargo xtask runs` lists them"
            ))
            .into()
        })
}

/// One line of `runs`: the outcome only when it is final, otherwise what is known.
pub fn summary(dir: &Path) -> serde_json::Value {
    let name = record_name(dir);
    let outcome = read_outcome(dir);
    let (phase, note) = match (&name, &outcome) {
        (None, _) => (None, "not submitted".to_string()),
        (Some(_), Some(o)) if o.is_final() => (o.phase.clone(), String::new()),
        (Some(n), Some(o)) => (
            None,
            format!(
                "outcome unknown: last seen {} when following stopped; `cargo xtask watch {n}` follows it to the end and records it",
                o.phase.as_deref().unwrap_or("before it started")
            ),
        ),
        (Some(n), None) => (
            None,
            format!(
                "outcome unknown: nobody followed it to the end; `cargo xtask watch {n}` does and records it"
            ),
        ),
    };
    serde_json::json!({
        "record": dir,
        "name": name,
        "phase": phase,
        "outcome_known": phase.is_some(),
        "last_seen_phase": outcome.and_then(|o| o.phase),
        "note": note,
    })
}

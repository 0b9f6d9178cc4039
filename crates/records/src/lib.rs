//! Run records under `.xtask/runs/`: what was submitted (the manifest with its companion
//! documents, parameters, settings) and how it ended, whoever followed it to the end.
//! One folder per run, named `STAMP-NAME`, so that sorting the names sorts the runs.

use std::path::{Path, PathBuf};

use kit_argo::{LoadedWorkflow, Rewrite};
use kit_argo_types::Phase;
use kit_config::Resolved;
use serde::Serialize;

/// Where run records are kept, relative to the workspace root.
pub const RUNS_DIR: &str = ".xtask/runs";
/// The manifest as submitted, companions included: what `rerun` submits again.
pub const MANIFEST_FILE: &str = "manifest.yaml";
/// Source, parameters, rewrites and submission time.
pub const RUN_FILE: &str = "run.json";
/// The resolved settings, secrets masked.
pub const SETTINGS_FILE: &str = "settings.json";
/// How following ended.
pub const OUTCOME_FILE: &str = "outcome.json";
/// What `fetch-results` fetched for the run.
pub const RESULTS_FILE: &str = "results.json";
/// The workflow name the cluster gave, once submitted.
const NAME_FILE: &str = "name";

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("creating {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("copying {} into the run record", path.display())]
    Copy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no run record matches {wanted:?}; `cargo xtask runs` lists them")]
    NoMatch { wanted: String },
}

/// The Hera script a workflow was captured from, and what running it gave.
pub struct ScriptFiles<'a> {
    pub script: &'a Path,
    /// The YAML file holding the captured documents.
    pub captured: &'a Path,
    pub hera_version: &'a str,
    pub python: &'a Path,
    pub seconds: f64,
}

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
        rewrites: &[Rewrite],
        parameters: &[String],
        rerun_of: Option<&Path>,
    ) -> Result<Self, RecordError> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let dir = root
            .join(RUNS_DIR)
            .join(format!("{stamp}-{}", record_base(loaded)));
        std::fs::create_dir_all(&dir).map_err(|source| RecordError::Create {
            path: dir.clone(),
            source,
        })?;
        write(
            &dir.join(MANIFEST_FILE),
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
        write_json(&dir.join(RUN_FILE), &meta)?;
        // Secrets are masked by the configuration report itself.
        write_json(&dir.join(SETTINGS_FILE), &kit_config::to_json(resolved))?;
        Ok(RunRecord { dir })
    }

    /// Keeps the Hera script a workflow was captured from, and what it gave, beside
    /// the manifest: `rerun` replays the manifest and needs no Python.
    pub fn keep_script(&self, script: &ScriptFiles<'_>) -> Result<(), RecordError> {
        let name = script
            .script
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "script.py".into());
        let copy = |from: &Path, to: PathBuf| {
            std::fs::copy(from, to).map_err(|source| RecordError::Copy {
                path: from.to_path_buf(),
                source,
            })
        };
        copy(script.script, self.dir.join(&name))?;
        copy(script.captured, self.dir.join("captured.yaml"))?;
        let meta = serde_json::json!({
            "script": script.script,
            "copy": name,
            "captured": "captured.yaml",
            "hera_version": script.hera_version,
            "python": script.python,
            "capture_seconds": script.seconds,
        });
        write_json(&self.dir.join("script.json"), &meta)
    }

    pub fn submitted(&mut self, name: &str) -> Result<(), RecordError> {
        write(&self.dir.join(NAME_FILE), name)
    }

    /// Records how following ended: `outcome` must serialize to a map, which gets
    /// `followed_by` and `recorded_at` beside its fields. An outcome seen in a final
    /// phase is never replaced by a later, partial one.
    pub fn finished(&self, outcome: &impl Serialize, followed_by: &str) -> Result<(), RecordError> {
        if read_outcome(&self.dir).is_some_and(|o| o.is_final()) {
            return Ok(());
        }
        #[derive(Serialize)]
        struct Finished<'a, T> {
            #[serde(flatten)]
            outcome: &'a T,
            followed_by: &'a str,
            recorded_at: chrono::DateTime<chrono::Utc>,
        }
        let path = self.dir.join(OUTCOME_FILE);
        // Through a Value, so the keys come out in the one order of its map.
        let value = serde_json::to_value(Finished {
            outcome,
            followed_by,
            recorded_at: chrono::Utc::now(),
        })
        .map_err(|source| RecordError::Encode {
            path: path.clone(),
            source,
        })?;
        write_json(&path, &value)
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

/// Writes a record's file whole or not at all.
pub fn write(path: &Path, text: &str) -> Result<(), RecordError> {
    kit_config::files::write_atomic(path, text.as_bytes()).map_err(|source| RecordError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` as pretty JSON, as [`write()`] does.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), RecordError> {
    let text = serde_json::to_string_pretty(value).map_err(|source| RecordError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    write(path, &text)
}

/// What a record says was submitted. A missing or damaged `run.json` reads as empty
/// inputs: the record is then shown with what is left.
#[derive(Debug, Default)]
pub struct RunInputs {
    /// The workflow file (or Hera script) it came from.
    pub source: Option<String>,
    pub parameters: Vec<String>,
    pub images: Vec<PinnedImage>,
    /// The settings used, secrets masked.
    pub settings: Option<serde_json::Value>,
    pub submitted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An image rewrite of the manifest: where, as written, and the pinned reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedImage {
    pub path: String,
    pub from: Option<String>,
    pub to: String,
}

/// A JSON file of the record; `None` when it is missing or unreadable.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The inputs a record keeps: source, parameters, pinned images, settings.
pub fn read_inputs(dir: &Path) -> RunInputs {
    let run: serde_json::Value = read_json(&dir.join(RUN_FILE)).unwrap_or_default();
    let parameters = run["parameters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let images = run["rewrites"]
        .as_array()
        .map(|rewrites| {
            rewrites
                .iter()
                .filter(|r| r["kind"] == "image")
                .filter_map(|r| {
                    Some(PinnedImage {
                        path: r["path"].as_str()?.to_string(),
                        from: r["from"].as_str().map(str::to_string),
                        to: r["to"].as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    RunInputs {
        source: run["source"].as_str().map(str::to_string),
        parameters,
        images,
        settings: read_json(&dir.join(SETTINGS_FILE)),
        submitted_at: run["submitted_at"].as_str().and_then(|t| t.parse().ok()),
    }
}

/// What `fetch-results` kept in the record; `None` when nothing was fetched yet.
pub fn read_results<T: serde::de::DeserializeOwned>(dir: &Path) -> Option<T> {
    read_json(&dir.join(RESULTS_FILE))
}

/// Keeps what `fetch-results` fetched in the record.
pub fn write_results(dir: &Path, results: &impl Serialize) -> Result<(), RecordError> {
    write_json(&dir.join(RESULTS_FILE), results)
}

/// What a record says of the run's end.
pub struct RecordedOutcome {
    /// The workflow's phase when following stopped.
    pub phase: Option<Phase>,
}

impl RecordedOutcome {
    /// Whether the phase is one the workflow cannot leave.
    pub fn is_final(&self) -> bool {
        // Not `Phase::is_finished`: Skipped and Omitted end nodes, never a workflow.
        matches!(
            self.phase,
            Some(Phase::Succeeded | Phase::Failed | Phase::Error)
        )
    }
}

/// The outcome a record holds; `None` when nobody recorded one (or it cannot be read).
pub fn read_outcome(dir: &Path) -> Option<RecordedOutcome> {
    let value: serde_json::Value = read_json(&dir.join(OUTCOME_FILE))?;
    Some(RecordedOutcome {
        phase: value["phase"].as_str().map(Phase::from),
    })
}

/// The workflow name a record submitted, when it got that far.
pub fn record_name(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(NAME_FILE))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
}

/// The manifest `rerun` submits again.
pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
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
pub fn find_record(root: &Path, wanted: &str) -> Result<PathBuf, RecordError> {
    let direct = PathBuf::from(wanted);
    if manifest_path(&direct).exists() {
        return Ok(direct);
    }
    records(root)
        .into_iter()
        .find(|dir| {
            dir.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(wanted))
                || record_name(dir).as_deref() == Some(wanted)
        })
        .ok_or_else(|| RecordError::NoMatch {
            wanted: wanted.to_string(),
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
                o.phase.as_ref().map_or("before it started", Phase::as_str)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(cwd: &Path) -> Resolved {
        let inputs = kit_config::Inputs {
            cwd: cwd.to_path_buf(),
            ..Default::default()
        };
        kit_config::resolve(&inputs).expect("default settings resolve")
    }

    fn loaded(file: &Path, metadata: &str) -> LoadedWorkflow {
        let text = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  {metadata}\nspec:\n  entrypoint: main\n  templates:\n    - name: main\n      container:\n        image: alpine:3\n"
        );
        kit_argo::load_workflow_str(&text, file).expect("a valid workflow")
    }

    #[derive(Serialize)]
    struct Outcome {
        phase: Option<Phase>,
        exit_code: u8,
    }

    #[test]
    fn a_record_is_written_read_and_listed_back() {
        let root = tempfile::tempdir().unwrap();
        let resolved = resolved(root.path());
        let wf = loaded(
            &root.path().join("workflows/demo.yaml"),
            "generateName: demo-",
        );
        let mut record =
            RunRecord::create(root.path(), &resolved, &wf, &[], &["n=3".to_string()], None)
                .unwrap();
        let folder = record
            .dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        assert!(folder.ends_with("-demo"), "{folder}");
        assert!(manifest_path(&record.dir).is_file());
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(record.dir.join(RUN_FILE)).unwrap())
                .unwrap();
        assert_eq!(run["parameters"], serde_json::json!(["n=3"]));
        let inputs = read_inputs(&record.dir);
        assert_eq!(inputs.parameters, vec!["n=3".to_string()]);
        assert!(inputs.source.is_some_and(|s| s.ends_with("demo.yaml")));
        assert!(inputs.submitted_at.is_some());
        assert!(inputs.settings.is_some());
        assert!(read_results::<serde_json::Value>(&record.dir).is_none());
        write_results(&record.dir, &serde_json::json!({"files": 2})).unwrap();
        assert_eq!(
            read_results::<serde_json::Value>(&record.dir),
            Some(serde_json::json!({"files": 2}))
        );

        assert_eq!(summary(&record.dir)["note"], "not submitted");
        record.submitted("demo-abc12").unwrap();
        assert_eq!(record_name(&record.dir).as_deref(), Some("demo-abc12"));
        assert!(read_outcome(&record.dir).is_none());

        record
            .finished(
                &Outcome {
                    phase: Some(Phase::Succeeded),
                    exit_code: 0,
                },
                "run",
            )
            .unwrap();
        let outcome = read_outcome(&record.dir).unwrap();
        assert_eq!(outcome.phase, Some(Phase::Succeeded));
        assert!(outcome.is_final());
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(record.dir.join(OUTCOME_FILE)).unwrap())
                .unwrap();
        assert_eq!(written["followed_by"], "run");
        assert_eq!(written["exit_code"], 0);

        assert_eq!(records(root.path()), vec![record.dir.clone()]);
        assert_eq!(last_record(root.path()), Some(record.dir.clone()));
        assert_eq!(
            record_of_workflow(root.path(), "demo-abc12"),
            Some(record.dir.clone())
        );
        assert_eq!(find_record(root.path(), "demo-abc12").unwrap(), record.dir);
        assert_eq!(find_record(root.path(), &folder).unwrap(), record.dir);
        let row = summary(&record.dir);
        assert_eq!(row["phase"], "Succeeded");
        assert_eq!(row["outcome_known"], true);
    }

    #[test]
    fn a_final_outcome_is_not_replaced_by_a_later_partial_one() {
        let root = tempfile::tempdir().unwrap();
        let wf = loaded(&root.path().join("w.yaml"), "name: fixed");
        let record =
            RunRecord::create(root.path(), &resolved(root.path()), &wf, &[], &[], None).unwrap();
        let ended = |phase| Outcome {
            phase: Some(phase),
            exit_code: 1,
        };
        record.finished(&ended(Phase::Failed), "run").unwrap();
        record.finished(&ended(Phase::Running), "watch").unwrap();
        assert_eq!(
            read_outcome(&record.dir).unwrap().phase,
            Some(Phase::Failed)
        );
    }

    #[test]
    fn only_workflow_end_phases_are_final() {
        let final_ = |p: Option<Phase>| RecordedOutcome { phase: p }.is_final();
        assert!(final_(Some(Phase::Succeeded)));
        assert!(final_(Some(Phase::Failed)));
        assert!(final_(Some(Phase::Error)));
        assert!(!final_(Some(Phase::Running)));
        assert!(!final_(Some(Phase::Skipped)));
        assert!(!final_(Some(Phase::Omitted)));
        assert!(!final_(Some(Phase::from(""))));
        assert!(!final_(None));
    }

    #[test]
    fn an_unknown_outcome_says_how_to_learn_it() {
        let root = tempfile::tempdir().unwrap();
        let wf = loaded(&root.path().join("w.yaml"), "name: slow");
        let mut record =
            RunRecord::create(root.path(), &resolved(root.path()), &wf, &[], &[], None).unwrap();
        record.submitted("slow").unwrap();
        let row = summary(&record.dir);
        assert_eq!(row["phase"], serde_json::Value::Null);
        assert!(row["note"].as_str().unwrap().contains("nobody followed it"));
        record
            .finished(
                &Outcome {
                    phase: Some(Phase::Running),
                    exit_code: 3,
                },
                "run",
            )
            .unwrap();
        let row = summary(&record.dir);
        assert_eq!(row["last_seen_phase"], "Running");
        assert!(row["note"].as_str().unwrap().contains("last seen Running"));
    }

    #[test]
    fn no_matching_record_names_what_was_asked_and_nothing_is_listed_without_runs() {
        let root = tempfile::tempdir().unwrap();
        assert!(records(root.path()).is_empty());
        let err = find_record(root.path(), "nope").unwrap_err().to_string();
        assert!(err.contains("\"nope\""), "{err}");
    }

    #[test]
    fn a_write_error_names_the_file() {
        let root = tempfile::tempdir().unwrap();
        // A folder where the file should be.
        let path = root.path().join("taken.json");
        std::fs::create_dir(&path).unwrap();
        let err = write(&path, "{}").unwrap_err().to_string();
        assert!(err.contains("taken.json"), "{err}");
    }
}

//! The report page of a run (`report.html`), drawn by `report` on demand and after
//! every follow of a recorded run (`run`, `watch`), and again when `fetch-results` adds
//! the results to the record.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kit_diagnose::Snapshot;
use kit_records::RunRecord;
use kit_runview::report::ImagePin;
use kit_runview::{Inputs, ResultsSummary, RunData};

use crate::Exit;
use crate::events::Event;
use crate::follow::{Outcome, Seen};
use crate::ui::Ui;

/// The page's file name, in a record folder or beside a saved snapshot.
pub const REPORT_FILE: &str = "report.html";
/// The snapshot a record's page was drawn from.
pub const SNAPSHOT_DIR: &str = "snapshot";

/// Writes the record's page from what the follow saw last; `None` when it saw nothing.
pub fn after_follow(record: &RunRecord, outcome: &Outcome) -> anyhow::Result<Option<PathBuf>> {
    let Some(seen) = &outcome.seen else {
        return Ok(None);
    };
    write_for_record(&record.dir, seen).map(Some)
}

/// Says where the page is; a page that could not be written is a warning: the run
/// itself went as its exit code says.
pub fn announce(written: anyhow::Result<Option<PathBuf>>, ui: Ui) {
    match written {
        Ok(Some(path)) if ui.json() => Event::Report { path }.emit(),
        Ok(Some(path)) => println!("report: {}", path.display()),
        Ok(None) => {}
        Err(err) => eprintln!("{} no report page: {err:#}", ui.warn("warning:")),
    }
}

/// Saves the snapshot (the workflow's part of it) into the record and draws the page.
fn write_for_record(dir: &Path, seen: &Seen) -> anyhow::Result<PathBuf> {
    let snapshot = keep_state(dir, &seen.snapshot, &seen.workflow)?;
    let data = data_for(&snapshot, &seen.workflow, Some(dir));
    write_page(&dir.join(REPORT_FILE), &data)
}

/// Saves the workflow's part of a snapshot into `DIR/snapshot/`, and returns that part:
/// the page is drawn from what was saved.
pub fn keep_state(
    dir: &Path,
    snapshot: &Snapshot,
    workflow: &serde_json::Value,
) -> anyhow::Result<Snapshot> {
    let part = snapshot.about_the_workflow();
    kit_cluster::follow::save_snapshot(&dir.join(SNAPSHOT_DIR), &part, workflow)
        .with_context(|| format!("saving the workflow's last state into {}", dir.display()))?;
    Ok(part)
}

/// The page's data: the snapshot judged, the workflow object's own inputs, and the
/// record's when there is one.
pub fn data_for(
    snapshot: &Snapshot,
    workflow: &serde_json::Value,
    record: Option<&Path>,
) -> RunData {
    let findings = kit_diagnose::diagnose(snapshot);
    RunData::build(
        snapshot,
        &findings,
        record.map(inputs_of),
        record.and_then(kit_records::read_results::<ResultsSummary>),
    )
    .with_workflow_object(workflow)
}

pub fn write_page(path: &Path, data: &RunData) -> anyhow::Result<PathBuf> {
    kit_records::write(path, &kit_runview::html::render(data))?;
    Ok(path.to_path_buf())
}

/// The inputs a record keeps, and the command that runs it again.
fn inputs_of(dir: &Path) -> Inputs {
    let kept = kit_records::read_inputs(dir);
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Inputs {
        source: kept.source,
        parameters: kept.parameters,
        images: kept
            .images
            .into_iter()
            .map(|p| ImagePin {
                path: p.path,
                from: p.from,
                to: p.to,
            })
            .collect(),
        settings: kept.settings,
        rerun: Some(format!("cargo xtask rerun {folder}")),
        submitted_at: kept.submitted_at,
        record: Some(dir.display().to_string()),
    }
}

/// Keeps what `fetch-results` fetched for a run in its record, and draws its page again
/// when it has one.
pub fn note_results(dir: &Path, results: &ResultsSummary) -> anyhow::Result<()> {
    kit_records::write_results(dir, results)?;
    let snapshot = dir.join(SNAPSHOT_DIR);
    if dir.join(REPORT_FILE).exists() && snapshot.is_dir() {
        let (snapshot, raw) = kit_cluster::follow::load_snapshot(&snapshot, Default::default())
            .map_err(|e| Exit::failure(format!("reading the run's saved state: {e}")))?;
        write_page(
            &dir.join(REPORT_FILE),
            &data_for(&snapshot, &raw, Some(dir)),
        )?;
    }
    Ok(())
}

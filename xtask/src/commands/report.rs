//! `cargo xtask report`: one self-contained page per run, to look at and to share. Run
//! records get it at the end of `run` (in their folder, with the snapshot it was drawn
//! from); any workflow of the namespace, or a `diagnose --save` folder, gets one on demand.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kit_config::Need;
use kit_diagnose::Snapshot;
use kit_runview::report::ImagePin;
use kit_runview::{Inputs, ResultsSummary, RunData};

use super::diagnose::diagnose_config;
use super::follow::{Outcome, Seen};
use crate::Exit;
use crate::cli::{GlobalArgs, ReportArgs};
use crate::events::Event;
use crate::exit::ExitCode;
use crate::ui::Ui;
use kit_records::RunRecord;

/// The page's file name, in a record folder or beside a saved snapshot.
pub const REPORT_FILE: &str = "report.html";
/// The snapshot a record's page was drawn from.
const SNAPSHOT_DIR: &str = "snapshot";
/// Pages of workflows this workspace did not start, under the workspace root.
const FOREIGN_REPORTS_DIR: &str = ".xtask/reports";

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
fn keep_state(
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
fn data_for(snapshot: &Snapshot, workflow: &serde_json::Value, record: Option<&Path>) -> RunData {
    let findings = kit_diagnose::diagnose(snapshot);
    RunData::build(
        snapshot,
        &findings,
        record.map(inputs_of),
        record.and_then(results_of),
    )
    .with_workflow_object(workflow)
}

fn write_page(path: &Path, data: &RunData) -> anyhow::Result<PathBuf> {
    kit_records::write(path, &kit_runview::html::render(data))?;
    Ok(path.to_path_buf())
}

/// The inputs a record keeps: source, parameters, pinned images, settings, and the
/// command that runs it again.
fn inputs_of(dir: &Path) -> Inputs {
    let read = |file: &str| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).ok()?).ok()
    };
    let run = read(kit_records::RUN_FILE).unwrap_or_default();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let images = run["rewrites"]
        .as_array()
        .map(|rewrites| {
            rewrites
                .iter()
                .filter(|r| r["kind"] == "image")
                .filter_map(|r| {
                    Some(ImagePin {
                        path: r["path"].as_str()?.to_string(),
                        from: r["from"].as_str().map(str::to_string),
                        to: r["to"].as_str()?.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    Inputs {
        source: run["source"].as_str().map(str::to_string),
        parameters: strings(&run["parameters"]),
        images,
        settings: read(kit_records::SETTINGS_FILE),
        rerun: Some(format!("cargo xtask rerun {folder}")),
        submitted_at: run["submitted_at"].as_str().and_then(|t| t.parse().ok()),
        record: Some(dir.display().to_string()),
    }
}

fn results_of(dir: &Path) -> Option<ResultsSummary> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(kit_records::RESULTS_FILE)).ok()?).ok()
}

/// Keeps what `fetch-results` fetched for a run in its record, and draws its page again
/// when it has one.
pub fn note_results(dir: &Path, results: &ResultsSummary) -> anyhow::Result<()> {
    kit_records::write(
        &dir.join(kit_records::RESULTS_FILE),
        &serde_json::to_string_pretty(results)?,
    )?;
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

/// Where the page comes from.
enum Source {
    /// A `diagnose --save` folder.
    Saved(PathBuf),
    /// A run record of this workspace.
    Record(PathBuf),
    /// A workflow of the namespace that no record knows.
    Workflow(String),
}

pub async fn report(global: &GlobalArgs, args: &ReportArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    let root = resolved.workspace_root();
    let source = match (&args.from, &args.target) {
        (Some(dir), _) => Source::Saved(dir.clone()),
        (None, None) => Source::Record(kit_records::last_record(&root).ok_or_else(|| {
            Exit::input(
                "no run recorded yet: run one (`cargo xtask run demo`), or name a workflow of the namespace: `cargo xtask report NAME`",
            )
        })?),
        (None, Some(target)) => match kit_records::find_record(&root, target) {
            Ok(dir) => Source::Record(dir),
            Err(_) => Source::Workflow(target.clone()),
        },
    };
    let (path, data) = match source {
        Source::Saved(dir) => {
            let (snapshot, raw) = kit_cluster::follow::load_snapshot(&dir, Default::default())
                .map_err(|e| {
                    Exit::input(format!(
                        "{e}; `--from` takes a folder written by `cargo xtask diagnose NAME --save DIR`"
                    ))
                })?;
            let data = data_for(&snapshot, &raw, None);
            (write_page(&dir.join(REPORT_FILE), &data)?, data)
        }
        Source::Record(dir) => {
            let data = record_data(global, ui, &dir).await?;
            (write_page(&dir.join(REPORT_FILE), &data)?, data)
        }
        Source::Workflow(name) => {
            let (snapshot, raw) = read_live(global, ui, &name).await?;
            let dir = root.join(FOREIGN_REPORTS_DIR).join(&name);
            let snapshot = keep_state(&dir, &snapshot, &raw)?;
            let data = data_for(&snapshot, &raw, None);
            (write_page(&dir.join(REPORT_FILE), &data)?, data)
        }
    };
    if ui.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"report": path, "run": data}))?
        );
    } else {
        println!("{}", path.display());
    }
    if args.open {
        open(&path)?;
    }
    Ok(ExitCode::Success)
}

/// A record's data: its saved last state when the run had ended there, else the
/// workflow as the cluster shows it now (saved in turn), else the saved state as it is.
async fn record_data(global: &GlobalArgs, ui: Ui, dir: &Path) -> anyhow::Result<RunData> {
    let saved_dir = dir.join(SNAPSHOT_DIR);
    let saved = saved_dir
        .is_dir()
        .then(|| kit_cluster::follow::load_snapshot(&saved_dir, Default::default()))
        .transpose()
        .map_err(|e| Exit::failure(format!("reading the run's saved state: {e}")))?;
    if let Some((snapshot, raw)) = &saved
        && snapshot.workflow.completed()
    {
        return Ok(data_for(snapshot, raw, Some(dir)));
    }
    let Some(name) = kit_records::record_name(dir) else {
        return Err(Exit::input(format!(
            "the run in {} was never submitted: there is nothing to draw",
            dir.display()
        ))
        .into());
    };
    match read_live(global, ui, &name).await {
        Ok((snapshot, raw)) => {
            // The caller writes the page.
            let snapshot = keep_state(dir, &snapshot, &raw)?;
            Ok(data_for(&snapshot, &raw, Some(dir)))
        }
        Err(err) => match saved {
            Some((snapshot, raw)) => {
                eprintln!(
                    "note: drawing the state saved when following stopped; the cluster could not be read: {err:#}"
                );
                Ok(data_for(&snapshot, &raw, Some(dir)))
            }
            None => Err(err),
        },
    }
}

async fn read_live(
    global: &GlobalArgs,
    ui: Ui,
    name: &str,
) -> anyhow::Result<(Snapshot, serde_json::Value)> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Cluster)?;
    let client = crate::kube::client(&resolved).await?;
    let ns = resolved.settings.argo_namespace.value.clone();
    kit_cluster::follow::snapshot_once(client, &ns, name, diagnose_config(&resolved))
        .await
        .map_err(|e| match &e {
            kube::Error::Api(s) if s.code == 404 => Exit::input(format!(
                "no run record and no workflow {name} in namespace {ns}: `cargo xtask runs` lists the records"
            ))
            .into(),
            _ => Exit::failure(kit_cluster::doctor::describe(&e)).into(),
        })
}

/// Opens the page with the desktop's opener, without waiting for it.
fn open(path: &Path) -> anyhow::Result<()> {
    let opener = ["xdg-open", "open"]
        .into_iter()
        .find(|o| which(o).is_some())
        .ok_or_else(|| {
            Exit::failure(format!(
                "no desktop opener (xdg-open or open) on this machine: open {} in a browser",
                path.display()
            ))
        })?;
    std::process::Command::new(opener)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            Exit::failure(format!(
                "starting {opener}: {e}; open {} in a browser",
                path.display()
            ))
        })?;
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

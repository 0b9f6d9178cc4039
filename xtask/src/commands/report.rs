//! `cargo xtask report`: one self-contained page per run, to look at and to share. Run
//! records get it at the end of `run` (in their folder, with the snapshot it was drawn
//! from); any workflow of the namespace, or a `diagnose --save` folder, gets one on demand.

use std::path::{Path, PathBuf};

use kit_cluster::follow::diagnose_config;
use kit_config::Need;
use kit_diagnose::Snapshot;
use kit_runview::RunData;

use crate::Exit;
use crate::cli::{GlobalArgs, ReportArgs};
use crate::exit::ExitCode;
use crate::page::{REPORT_FILE, SNAPSHOT_DIR, data_for, keep_state, write_page};
use crate::ui::Ui;

/// Pages of workflows this workspace did not start, under the workspace root.
const FOREIGN_REPORTS_DIR: &str = ".xtask/reports";

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
        crate::documents::print(&crate::documents::ReportDocument {
            report: &path,
            run: &data,
        })?;
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
    let api = crate::way::connect(&resolved).await?;
    let ns = resolved.settings.argo_namespace.value.clone();
    api.snapshot_once(&ns, name, diagnose_config(&resolved), || {
        Exit::input(format!(
            "no run record and no workflow {name} in namespace {ns}: `cargo xtask runs` lists the records"
        ))
    })
    .await
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

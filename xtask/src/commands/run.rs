//! `cargo xtask run`, `lint`, `runs` and `rerun`: prepare a workflow of workflows/
//! (parameters, configuration, pinned images, offline validation), submit it, follow it,
//! and keep a record of the run for reproducibility.

use crate::exit::ExitCode;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kit_argo::{Diagnostic, Injection, LoadedWorkflow, Rewrite, ValidateOptions};
use kit_config::{Need, Resolved};
use kit_images::Lock;

use super::diagnose::diagnose_config;
use super::follow::{self, FollowOptions, Outcome};
use crate::Exit;
use crate::cli::{GlobalArgs, LintArgs, RunArgs};
use crate::ui::Ui;

/// Where the image lock file lives, relative to the workspace root.
pub const LOCK_FILE: &str = "containers/images.lock";
/// Where run records are kept, relative to the workspace root.
pub const RUNS_DIR: &str = ".xtask/runs";

pub fn workspace_root(resolved: &Resolved) -> PathBuf {
    resolved
        .settings
        .workspace_root
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// A workflow ready to submit, and what was done to it on the way.
struct Prepared {
    loaded: LoadedWorkflow,
    rewrites: Vec<Rewrite>,
    diagnostics: Vec<Diagnostic>,
}

fn prepare(
    resolved: &Resolved,
    workflow: &str,
    parameters: &[String],
    no_pin: bool,
    lint: bool,
) -> anyhow::Result<Prepared> {
    let root = workspace_root(resolved);
    let path = kit_argo::resolve_workflow(workflow, &root.join("workflows"))
        .map_err(|e| Exit::input(e.to_string()))?;
    let mut loaded = kit_argo::load_workflow(&path).map_err(|e| Exit::input(e.to_string()))?;
    let lock = Lock::load(&root.join(LOCK_FILE)).map_err(|e| Exit::input(e.to_string()))?;
    let resolve = |image: &str| lock.resolve(image);

    let mut rewrites = kit_argo::set_parameters(&mut loaded, parameters)
        .map_err(|e| Exit::input(e.to_string()))?;
    rewrites.extend(kit_argo::inject(
        &mut loaded,
        &Injection::from_settings(&resolved.settings),
    ));
    let pins = kit_argo::pin_images(&mut loaded, &resolve, no_pin);
    rewrites.extend(pins.rewrites);
    let options = ValidateOptions {
        lint,
        images: (!no_pin).then_some(&resolve as &dyn Fn(&str) -> Option<String>),
    };
    let diagnostics = kit_argo::validate(&loaded, &options);
    Ok(Prepared {
        loaded,
        rewrites,
        diagnostics,
    })
}

/// Prints validation results; errors stop the command with exit 2.
fn report_diagnostics(diagnostics: &[Diagnostic], ui: Ui) -> anyhow::Result<()> {
    for d in diagnostics {
        let label = if d.is_error() {
            ui.bad("error")
        } else {
            ui.warn("warning")
        };
        eprintln!("{label}: {d}");
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        return Err(Exit::input(format!(
            "{errors} validation error(s): nothing was submitted"
        ))
        .into());
    }
    Ok(())
}

pub async fn run(global: &GlobalArgs, args: &RunArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    // A dry run talks to no cluster: it needs no cluster settings.
    let resolved = if args.dry_run {
        crate::settings::resolve(global, ui)?
    } else {
        crate::settings::resolve_for(global, ui, Need::Run)?
    };
    let prepared = prepare(
        &resolved,
        &args.workflow,
        &args.parameters,
        args.no_pin,
        false,
    )?;
    report_diagnostics(&prepared.diagnostics, ui)?;
    if !ui.json() {
        for rewrite in &prepared.rewrites {
            eprintln!("{} {rewrite}", ui.dim("·"));
        }
    }
    if args.dry_run {
        print!("{}", kit_argo::to_yaml(&prepared.loaded.workflow));
        return Ok(ExitCode::Success);
    }
    let client = crate::kube::client(&resolved).await?;
    let options = FollowOptions {
        timeout: args
            .timeout
            .or(resolved
                .settings
                .timeouts
                .run_timeout_secs
                .as_ref()
                .map(|t| t.value))
            .map(std::time::Duration::from_secs),
        fail_fast: args.fail_fast,
        stop_on_interrupt: args.stop_on_interrupt,
        logs: args.logs,
        diagnose: diagnose_config(&resolved),
    };
    let record = RunRecord::create(&resolved, &prepared, &args.parameters, None)?;
    submit_and_follow(
        &resolved,
        client,
        &prepared.loaded.workflow,
        record,
        &options,
        ui,
    )
    .await
}

async fn submit_and_follow(
    resolved: &Resolved,
    client: kube::Client,
    workflow: &kit_argo::Workflow,
    mut record: RunRecord,
    options: &FollowOptions,
    ui: Ui,
) -> anyhow::Result<ExitCode> {
    let ns = resolved.settings.argo_namespace.value.clone();
    // Events about the workflow can only come after this version: the events watch
    // starts there and never lists the namespace's backlog.
    let events_api = kube::Api::namespaced(client.clone(), &ns);
    let events_after = kit_cluster::events_after::current_version(&events_api).await;
    let submitted = kit_argo::submit(client.clone(), &ns, workflow)
        .await
        .map_err(|e| Exit::failure(e.to_string()))?;
    let name = submitted.metadata.name.clone().unwrap_or_default();
    record.submitted(&name)?;
    let link = resolved
        .settings
        .argo_server
        .as_ref()
        .map(|s| kit_argo::ui_link(&s.value, &ns, &name));
    if ui.json() {
        println!(
            "{}",
            serde_json::json!({"type": "submitted", "name": name, "namespace": ns, "ui": link, "record": record.dir})
        );
    } else {
        println!("submitted {ns}/{name}");
        if let Some(link) = &link {
            println!("  {link}");
        }
    }
    let outcome = follow::follow(client, &ns, &name, events_after, options, ui).await?;
    record.finished(&outcome)?;
    Ok(outcome.exit())
}

pub fn lint(global: &GlobalArgs, args: &LintArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    let root = workspace_root(&resolved);
    let names: Vec<String> = if args.workflows.is_empty() {
        kit_argo::list_workflows(&root.join("workflows"))
            .map_err(|e| Exit::input(e.to_string()))?
            .into_iter()
            .map(|(_, path)| path.display().to_string())
            .collect()
    } else {
        args.workflows.clone()
    };
    let mut all = vec![];
    for name in &names {
        let prepared = prepare(&resolved, name, &[], false, true)?;
        if !ui.json() {
            let errors = prepared.diagnostics.iter().filter(|d| d.is_error()).count();
            let mark = if errors == 0 {
                ui.ok("✓")
            } else {
                ui.bad("✗")
            };
            println!("{mark} {}", prepared.loaded.file.display());
            for d in &prepared.diagnostics {
                println!("  {d}");
            }
        }
        all.extend(prepared.diagnostics);
    }
    let errors = all.iter().filter(|d| d.is_error()).count();
    if ui.json() {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"workflows": names, "diagnostics": all})
            )?
        );
    }
    if errors > 0 {
        return Err(Exit::input(format!("{errors} validation error(s)")).into());
    }
    Ok(ExitCode::Success)
}

/// A run record: everything needed to know what ran and to run it again.
pub struct RunRecord {
    dir: PathBuf,
}

impl RunRecord {
    fn create(
        resolved: &Resolved,
        prepared: &Prepared,
        parameters: &[String],
        rerun_of: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let root = workspace_root(resolved);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let base = prepared
            .loaded
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "workflow".into());
        let dir = root.join(RUNS_DIR).join(format!("{stamp}-{base}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write(
            &dir.join("manifest.yaml"),
            &kit_argo::to_yaml(&prepared.loaded.workflow),
        )?;
        let meta = serde_json::json!({
            "source": prepared.loaded.file,
            "parameters": parameters,
            "rewrites": prepared.rewrites,
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

    fn submitted(&mut self, name: &str) -> anyhow::Result<()> {
        write(&self.dir.join("name"), name)
    }

    fn finished(&self, outcome: &Outcome) -> anyhow::Result<()> {
        write(
            &self.dir.join("outcome.json"),
            &serde_json::to_string_pretty(outcome)?,
        )
    }
}

/// Writes through a temporary file so a record is never half-written.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The records under `.xtask/runs`, newest first.
fn records(root: &Path) -> Vec<PathBuf> {
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

pub fn runs(global: &GlobalArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    let mut rows = vec![];
    for dir in records(&workspace_root(&resolved)) {
        let name = std::fs::read_to_string(dir.join("name")).unwrap_or_default();
        let outcome: Option<serde_json::Value> = std::fs::read_to_string(dir.join("outcome.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let phase = outcome
            .as_ref()
            .and_then(|o| o["phase"].as_str().map(str::to_string))
            .unwrap_or_else(|| "(not finished)".into());
        rows.push(serde_json::json!({"record": dir, "name": name, "phase": phase}));
    }
    if ui.json() {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!("no run recorded yet (records are kept in {RUNS_DIR}/)");
    } else {
        for row in &rows {
            println!(
                "{:<12} {:<30} {}",
                row["phase"].as_str().unwrap_or(""),
                row["name"].as_str().unwrap_or(""),
                row["record"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::Success)
}

/// The most recent run record.
pub fn last_record(root: &Path) -> Option<PathBuf> {
    records(root).into_iter().next()
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
                || std::fs::read_to_string(dir.join("name")).is_ok_and(|n| n.trim() == wanted)
        })
        .ok_or_else(|| {
            Exit::input(format!(
                "no run record matches {wanted:?}; `cargo xtask runs` lists them"
            ))
            .into()
        })
}

pub async fn rerun(global: &GlobalArgs, record: &str, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Run)?;
    let dir = find_record(&workspace_root(&resolved), record)?;
    let manifest = dir.join("manifest.yaml");
    // Exactly the manifest as submitted: no parameters, injection or pinning again.
    let loaded = kit_argo::load_workflow(&manifest).map_err(|e| Exit::input(e.to_string()))?;
    let prepared = Prepared {
        loaded,
        rewrites: vec![],
        diagnostics: vec![],
    };
    let client = crate::kube::client(&resolved).await?;
    let options = FollowOptions::plain(diagnose_config(&resolved));
    let new_record = RunRecord::create(&resolved, &prepared, &[], Some(&dir))?;
    submit_and_follow(
        &resolved,
        client,
        &prepared.loaded.workflow,
        new_record,
        &options,
        ui,
    )
    .await
}

//! `cargo xtask diagnose NAME` and `cargo xtask watch NAME`: explain or follow a workflow
//! submitted by anyone (this tool, Hera, the argo CLI).

use crate::exit::ExitCode;

use kit_cluster::follow::diagnose_config;
use kit_config::Need;

use crate::Exit;
use crate::cli::{DiagnoseArgs, GlobalArgs, NameArgs};
use crate::events::Event;
use crate::follow::{self, FollowOptions};
use crate::ui::Ui;

pub async fn diagnose(
    global: &GlobalArgs,
    args: &DiagnoseArgs,
    ui: Ui,
) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Cluster)?;
    let api = crate::way::connect(&resolved).await?;
    let ns = resolved.settings.argo_namespace.value.clone();
    let config = diagnose_config(&resolved);
    let (snapshot, raw) = api
        .snapshot_once(&ns, &args.name, config, || {
            Exit::input(format!("no workflow {} in namespace {ns}", args.name))
        })
        .await?;
    if let Some(dir) = &args.save {
        kit_cluster::follow::save_snapshot(dir, &snapshot, &raw)
            .map_err(|e| Exit::failure(format!("cannot write {}: {e}", dir.display())))?;
        eprintln!("snapshot saved in {}", dir.display());
    }
    let findings = kit_diagnose::diagnose(&snapshot);
    let wf = &snapshot.workflow;
    let phase = match wf.phase_text() {
        "" => "(no status)",
        p => p,
    };
    if ui.json() {
        crate::documents::print(&crate::documents::DiagnoseDocument {
            name: &wf.name,
            namespace: &wf.namespace,
            phase,
            message: wf.message.as_deref(),
            findings: &findings,
        })?;
    } else {
        println!(
            "workflow {}/{} {phase}{}",
            wf.namespace,
            wf.name,
            wf.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
        if findings.is_empty() {
            println!("{} nothing wrong found", ui.ok("✓"));
        }
        for finding in &findings {
            println!("{}", follow::render_finding(finding, ui));
        }
    }
    Ok(if findings.iter().any(|f| !f.watching) {
        ExitCode::Failure
    } else {
        ExitCode::Success
    })
}

pub async fn watch(global: &GlobalArgs, args: &NameArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Cluster)?;
    let api = crate::way::connect(&resolved).await?;
    let ns = resolved.settings.argo_namespace.value.clone();
    // A name that does not exist is said at once, not followed forever.
    api.get(&ns, &args.name).await?;
    let options = FollowOptions::plain(diagnose_config(&resolved));
    let outcome = follow::follow(&api, &ns, &args.name, None, &options, ui).await?;
    // A run of this workspace that `run` stopped following ends with its outcome here.
    let root = resolved.workspace_root();
    if let Some(dir) = kit_records::record_of_workflow(&root, &args.name) {
        let record = kit_records::RunRecord { dir };
        record.finished(&outcome, "watch")?;
        crate::page::announce(crate::page::after_follow(&record, &outcome), ui);
    }
    Ok(outcome.exit())
}

pub async fn stop(global: &GlobalArgs, args: &NameArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Cluster)?;
    let api = crate::way::connect(&resolved).await?;
    let ns = resolved.settings.argo_namespace.value.clone();
    api.stop(&ns, &args.name).await?;
    if ui.json() {
        Event::Stopped {
            name: args.name.clone(),
            namespace: ns.clone(),
        }
        .emit();
    } else {
        println!(
            "stopped {ns}/{}; `cargo xtask watch {}` shows it end",
            args.name, args.name
        );
    }
    Ok(ExitCode::Success)
}

//! `cargo xtask fetch-results`: results off the PVC through a short-lived helper pod,
//! only what changed, verified by checksum, with a byte progress bar.

use crate::exit::ExitCode;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use kit_config::{Need, Resolved};
use kit_fetch::{
    self as fetch, Compression, ExecRoot, FetchEvent, FetchOptions, HelperSpec, PodChoice,
    RemoteOptions,
};

use crate::Exit;
use crate::cli::{FetchArgs, GlobalArgs};
use crate::ui::Ui;
use kit_records::{find_record, last_record};
use kit_runview::text::human_bytes;

/// Test clusters whose exec runs on the host in the claim's folder (the kwok stack) set
/// this to `working-directory`; real clusters need nothing.
const EXEC_ROOT_ENV: &str = "XTASK_FETCH_EXEC_ROOT";

fn remote_options(resolved: &Resolved, args: &FetchArgs) -> anyhow::Result<RemoteOptions> {
    let pod = match &args.pod {
        Some(name) => PodChoice::Existing(name.clone()),
        None => {
            let image = args
                .helper_image
                .clone()
                .unwrap_or_else(|| fetch::default_helper_image(&resolved.settings));
            let mut spec = HelperSpec::new(image);
            // The workflows' service account carries the registry's pull secret.
            spec.service_account = resolved
                .settings
                .argo_service_account
                .as_ref()
                .map(|s| s.value.clone());
            PodChoice::Helper(spec)
        }
    };
    let mut options = RemoteOptions::from_settings(&resolved.settings, pod)
        .map_err(|e| Exit::input(e.to_string()))?;
    options.exec_root = match std::env::var(EXEC_ROOT_ENV).as_deref() {
        Ok("working-directory") => ExecRoot::WorkingDirectory,
        Ok("mount-path") | Err(_) => ExecRoot::MountPath,
        Ok(other) => {
            return Err(Exit::input(format!(
                "{EXEC_ROOT_ENV}={other:?} is not understood: use mount-path (real clusters) or working-directory"
            ))
            .into());
        }
    };
    Ok(options)
}

/// The path to fetch: given, or the `experiment` parameter of the chosen (or last) run;
/// and the run's record, when one is meant.
fn default_path(
    resolved: &Resolved,
    args: &FetchArgs,
) -> anyhow::Result<(String, Option<PathBuf>)> {
    let root = resolved.workspace_root();
    if let Some(path) = &args.path {
        let record = match &args.run {
            Some(run) => Some(find_record(&root, run).map_err(|e| Exit::input(e.to_string()))?),
            None => None,
        };
        return Ok((path.clone(), record));
    }
    let record = match &args.run {
        Some(run) => find_record(&root, run).map_err(|e| Exit::input(e.to_string()))?,
        None => last_record(&root).ok_or_else(|| {
            Exit::input("no run recorded yet: give the path on the PVC, e.g. `cargo xtask fetch-results junk`")
        })?,
    };
    let manifest = kit_records::manifest_path(&record);
    let loaded = kit_argo::load_workflow(&manifest).map_err(|e| Exit::input(e.to_string()))?;
    let experiment = loaded
        .workflow
        .spec
        .arguments
        .iter()
        .flat_map(|a| a.parameters.iter())
        .find(|p| p.name == "experiment")
        .and_then(|p| p.value.clone());
    let experiment = experiment.ok_or_else(|| {
        Exit::input(format!(
            "the run in {} has no `experiment` parameter telling where its results are: give the path on the PVC",
            record.display()
        ))
    })?;
    Ok((experiment, Some(record)))
}

pub async fn run(global: &GlobalArgs, args: &FetchArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Fetch)?;
    let client = crate::kube::client(&resolved).await?;
    let remote = remote_options(&resolved, args)?;
    let mut progress = Progress::new(ui);

    if args.cleanup {
        let deleted = fetch::cleanup_helper_pods(&client, &remote.namespace, Duration::ZERO)
            .await
            .map_err(|e| Exit::failure(e.to_string()))?;
        if ui.json() {
            println!(
                "{}",
                serde_json::to_string(&crate::documents::CleanupDocument { deleted: &deleted })?
            );
        } else {
            println!("removed {} leftover helper pod(s)", deleted.len());
        }
        return Ok(ExitCode::Success);
    }

    let (path, record) = default_path(&resolved, args)?;
    if args.list {
        let listing = fetch::list_remote(&client, &remote, &path, |e| progress.event(e))
            .await
            .map_err(|e| Exit::failure(e.to_string()))?;
        if ui.json() {
            println!("{}", serde_json::to_string_pretty(&listing.tree())?);
        } else {
            for row in listing.tree() {
                let indent = "  ".repeat(row.depth);
                let name = row.path.rsplit('/').next().unwrap_or(&row.path);
                let slash = if row.is_dir { "/" } else { "" };
                println!("{indent}{name}{slash}  {}", human_bytes(row.bytes));
            }
            println!(
                "{} file(s), {}",
                listing.files.len(),
                human_bytes(listing.total_bytes())
            );
        }
        return Ok(ExitCode::Success);
    }

    let to = args.to.clone().unwrap_or_else(|| {
        resolved
            .settings
            .results_dir
            .value
            .join(path.trim_matches('/'))
    });
    let options = FetchOptions {
        remote: remote.clone(),
        path: path.clone(),
        to: to.clone(),
        compression: if args.gzip {
            Compression::Gzip
        } else {
            args.compress
        },
        verify_local: args.verify,
        dry_run: false,
    };
    let outcome = tokio::select! {
        report = fetch::fetch(&client, &options, |e| progress.event(e)) => Some(report),
        _ = tokio::signal::ctrl_c() => None,
    };
    let report = match outcome {
        Some(report) => report.map_err(|e| Exit::failure(e.to_string()))?,
        None => {
            progress.finish();
            // Deleted here rather than by the dropped fetch's guard, which would race
            // the runtime's shutdown.
            if let Some(pod) = progress.helper.take() {
                let _ = fetch::delete_helper_pod(&client, &remote.namespace, &pod).await;
            }
            eprintln!(
                "interrupted: what arrived is kept and verified; run the same command again to fetch the rest"
            );
            return Ok(ExitCode::Interrupted);
        }
    };
    progress.finish();
    if let Some(dir) = &record {
        let summary = kit_runview::ResultsSummary {
            dir: report.target.display().to_string(),
            source: format!("{}:{}", report.source.claim, report.source.path),
            files: report.files_total,
            bytes: report.bytes_total,
            complete: true,
            written_at: chrono::Utc::now(),
        };
        // The run's page shows what was fetched; failing to say so loses no result.
        if let Err(err) = crate::page::note_results(dir, &summary) {
            eprintln!(
                "{} {err:#}",
                ui.warn("warning: the run's record does not know of this fetch:")
            );
        }
    }
    if ui.json() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let checked = report
            .transfer_check
            .map(|program| format!(", each checked against {program} in the pod"))
            .unwrap_or_default();
        println!(
            "{} {} file(s) fetched ({}){checked}, {} unchanged, in {:.1} s; manifest {}",
            ui.ok("✓"),
            report.files_fetched,
            human_bytes(report.bytes_fetched),
            report.files_unchanged,
            report.elapsed.as_secs_f64(),
            report.manifest.display()
        );
        list_local(&to, ui);
    }

    if args.delete_remote {
        if !args.yes
            && !confirm(&format!(
                "delete {path} on the PVC now that {} holds a verified copy?",
                to.display()
            ))?
        {
            println!("kept {path} on the PVC");
            return Ok(ExitCode::Success);
        }
        let deleted = fetch::delete_remote(&client, &remote, &path, &to, |e| progress.event(e))
            .await
            .map_err(|e| Exit::failure(e.to_string()))?;
        println!(
            "deleted {} file(s) ({}) from {path} on the PVC",
            deleted.files_deleted,
            human_bytes(deleted.bytes_deleted)
        );
    }
    Ok(ExitCode::Success)
}

/// Asks on the terminal; refuses without one (scripts must say --yes).
fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Exit::input(
            "--delete-remote needs a confirmation: add --yes when no terminal can answer",
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// The fetched files, one line per folder with its files' names (the quick start
/// ends with this).
fn list_local(dir: &Path, ui: Ui) {
    let mut by_folder: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
    for file in walk(dir) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name == fetch::MANIFEST_FILE {
            continue;
        }
        by_folder
            .entry(file.parent().unwrap_or(dir).to_path_buf())
            .or_default()
            .push(name);
    }
    for (folder, mut names) in by_folder {
        names.sort();
        let shown: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
        let more = if names.len() > 4 {
            format!(", … ({} files)", names.len())
        } else {
            String::new()
        };
        println!(
            "  {}: {}{more}",
            folder.display(),
            ui.dim(&shown.join(", "))
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A byte bar with rate and ETA on a terminal; plain lines otherwise.
struct Progress {
    ui: Ui,
    bar: Option<ProgressBar>,
    /// The helper pod, to delete it ourselves on Ctrl-C.
    helper: Option<String>,
}

impl Progress {
    fn new(ui: Ui) -> Self {
        Progress {
            ui,
            bar: None,
            helper: None,
        }
    }

    fn say(&self, text: String) {
        if self.ui.json() {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn event(&mut self, event: FetchEvent) {
        match event {
            FetchEvent::HelperCreated { pod } => {
                self.say(format!("helper pod {pod} created"));
                self.helper = Some(pod);
            }
            FetchEvent::HelperRunning { pod, waited } => self.say(format!(
                "helper pod {pod} running after {:.1} s",
                waited.as_secs_f64()
            )),
            FetchEvent::UsingPod {
                pod, mount_path, ..
            } => self.say(format!("using pod {pod} (claim mounted at {mount_path})")),
            FetchEvent::Listed {
                path, files, bytes, ..
            } => self.say(format!("{path}: {files} file(s), {}", human_bytes(bytes))),
            FetchEvent::Planned {
                fetch_files,
                fetch_bytes,
                unchanged_files,
                ..
            } => {
                self.say(format!(
                    "to fetch: {fetch_files} file(s), {}; unchanged: {unchanged_files}",
                    human_bytes(fetch_bytes)
                ));
                if self.ui.live && fetch_bytes > 0 {
                    let bar = self.ui.progress().add(ProgressBar::new(fetch_bytes));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(200));
                    self.bar = Some(bar);
                }
            }
            FetchEvent::Progress { done_bytes, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(done_bytes);
                }
            }
            FetchEvent::FileDone { .. } => {}
            FetchEvent::Compressing { codec, reason, .. } => {
                self.say(format!("transfer compression: {} ({reason})", codec.name()))
            }
            FetchEvent::Warning(text) => self.say(format!("warning: {text}")),
            FetchEvent::HelperDeleted { pod } => self.say(format!("helper pod {pod} deleted")),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

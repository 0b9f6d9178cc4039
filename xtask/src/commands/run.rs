//! `cargo xtask run`, `lint`, `runs` and `rerun`: prepare a workflow of workflows/
//! (parameters, configuration, pinned images, offline validation), submit it, follow it,
//! and keep a record of the run for reproducibility.

use crate::exit::ExitCode;
use std::path::{Path, PathBuf};

use kit_argo::{Diagnostic, Injection, LoadedWorkflow, Rewrite, ValidateOptions};
use kit_cluster::follow::diagnose_config;
use kit_config::{Need, Resolved};
use kit_images::Lock;
use kit_records::RunRecord;

use crate::Exit;
use crate::cli::{GlobalArgs, LintArgs, RunArgs, ScriptArgs};
use crate::events::Event;
use crate::follow::{self, FollowOptions};
use crate::script::{self, Keep, ScriptSource};
use crate::ui::Ui;
use crate::way::Api;

/// A workflow ready to submit, and what was done to it on the way.
struct Prepared {
    loaded: LoadedWorkflow,
    rewrites: Vec<Rewrite>,
    diagnostics: Vec<Diagnostic>,
    /// Images left as written: not in the lock file, or `--no-pin`.
    unpinned: Vec<kit_argo::ImageUse>,
    /// The Hera script the workflow was captured from, when it came from one.
    script: Option<ScriptSource>,
}

fn load_lock(resolved: &Resolved) -> anyhow::Result<Lock> {
    Lock::load(&resolved.workspace_root().join(kit_images::LOCK_FILE))
        .map_err(|e| Exit::input(e.to_string()).into())
}

fn prepare(resolved: &Resolved, args: &RunArgs, ui: Ui) -> anyhow::Result<Prepared> {
    let root = resolved.workspace_root();
    let path = workflow_path(&args.workflow, &root.join("workflows"), ui)?;
    let script = if kit_argo::is_script(&path) {
        Some(script::capture(
            resolved,
            &path,
            &args.script,
            Keep::One,
            ui,
        )?)
    } else {
        None
    };
    let source = script
        .as_ref()
        .map_or(path.as_path(), |s| s.captured.as_path());
    let loaded = kit_argo::load_workflow(source).map_err(|e| Exit::input(e.to_string()))?;
    let lock = load_lock(resolved)?;
    let mut prepared = prepare_loaded(
        resolved,
        loaded,
        &lock,
        &args.parameters,
        args.no_pin,
        false,
    )?;
    if let Some(s) = &script {
        script::point_to_script(&mut prepared.diagnostics, &s.script, &prepared.loaded);
    }
    prepared.script = script;
    Ok(prepared)
}

/// The file a workflow name stands for; says which when both `NAME.yaml` and the Hera
/// script `NAME.py` exist (YAML is used; the file name picks the other).
fn workflow_path(name: &str, workflows_dir: &Path, ui: Ui) -> anyhow::Result<PathBuf> {
    let path =
        kit_argo::resolve_workflow(name, workflows_dir).map_err(|e| Exit::input(e.to_string()))?;
    let named_only = !name.contains('.') && !name.contains('/');
    let script = path.with_extension("py");
    if named_only && !kit_argo::is_script(&path) && script.is_file() && !ui.json() {
        eprintln!(
            "{} both {} and {} exist: using the YAML (give `{}` to run the script)",
            ui.warn("note:"),
            path.display(),
            script.display(),
            script.display()
        );
    }
    Ok(path)
}

/// Parameters, injection of the configured values, pinning and validation of one workflow.
fn prepare_loaded(
    resolved: &Resolved,
    mut loaded: LoadedWorkflow,
    lock: &Lock,
    parameters: &[String],
    no_pin: bool,
    lint: bool,
) -> anyhow::Result<Prepared> {
    let resolve = |image: &str| lock.resolve(image);
    let mut rewrites = kit_argo::set_parameters(&mut loaded, parameters)
        .map_err(|e| Exit::input(e.to_string()))?;
    rewrites.extend(kit_argo::inject(
        &mut loaded,
        &Injection::from_settings(&resolved.settings),
    ));
    let pins = kit_argo::pin_images(&mut loaded, &resolve, no_pin);
    rewrites.extend(pins.rewrites);
    let unpinned = pins.unresolved;
    let options = ValidateOptions {
        lint,
        images: (!no_pin).then_some(&resolve as &dyn Fn(&str) -> Option<String>),
    };
    let diagnostics = kit_argo::validate(&loaded, &options);
    Ok(Prepared {
        loaded,
        rewrites,
        diagnostics,
        unpinned,
        script: None,
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
    let prepared = prepare(&resolved, args, ui)?;
    report_diagnostics(&prepared.diagnostics, ui)?;
    if !ui.json() {
        for rewrite in &prepared.rewrites {
            eprintln!("{} {rewrite}", ui.dim("·"));
        }
    }
    if args.dry_run {
        print!(
            "{}",
            kit_argo::to_yaml_with_companions(
                &prepared.loaded.workflow,
                &prepared.loaded.companions
            )
        );
        return Ok(ExitCode::Success);
    }
    if !args.no_check_images {
        check_unpinned_images(&resolved, &prepared, ui).await?;
    }
    let api = crate::way::connect(&resolved).await?;
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
        wait_anyway: args.wait_anyway,
        stop_on_interrupt: args.stop_on_interrupt,
        report: !args.no_report,
        logs: args.logs,
        diagnose: diagnose_config(&resolved),
    };
    let record = RunRecord::create(
        &resolved.workspace_root(),
        &resolved,
        &prepared.loaded,
        &prepared.rewrites,
        &args.parameters,
        None,
    )?;
    if let Some(script) = &prepared.script {
        record.keep_script(&script.files())?;
    }
    submit_and_follow(&resolved, &api, &prepared.loaded, record, &options, ui).await
}

/// Refuses to submit a workflow whose image is not in the registry it points at: without
/// this, the step would wait in ImagePullBackOff. Only images of the configured registry
/// (whose credentials the toolkit has) are checked, one HEAD each, all at once; a registry
/// that cannot be asked is a warning, not a refusal.
async fn check_unpinned_images(
    resolved: &Resolved,
    prepared: &Prepared,
    ui: Ui,
) -> anyhow::Result<()> {
    let Some(config) = kit_images::RegistryConfig::from_settings(&resolved.settings) else {
        return Ok(());
    };
    let ours: Vec<&kit_argo::ImageUse> = prepared
        .unpinned
        .iter()
        .filter(|u| {
            kit_images::ImageRef::parse(&u.image, "workflow").is_ok_and(|r| {
                r.digest.is_none() && r.registry.as_deref() == Some(config.host.as_str())
            })
        })
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    let registry = match kit_images::RegistryClient::from_config(&config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "{}: cannot check that the images are in the registry: {e}",
                ui.warn("warning")
            );
            return Ok(());
        }
    };
    let answers = futures::future::join_all(
        ours.iter()
            .map(|u| async { (*u, registry.pinned_exists(&u.image).await) }),
    )
    .await;
    let lock = load_lock(resolved)?;
    let pushed: Vec<&str> = lock.images.values().map(|e| e.reference.as_str()).collect();
    let mut missing = vec![];
    for (image, answer) in answers {
        match answer {
            Ok(true) => {}
            Ok(false) => missing.push(image),
            Err(e) => eprintln!(
                "{}: cannot check that {} is in the registry: {e}",
                ui.warn("warning"),
                image.image
            ),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let file = prepared.loaded.file.display();
    let evidence: Vec<String> = missing
        .iter()
        .map(|u| {
            let closest = pushed
                .iter()
                .min_by_key(|p| strsim::levenshtein(p, &u.image))
                .map(|p| format!("; closest pushed image: {p}"))
                .unwrap_or_default();
            format!(
                "{file}:{}: {} is not in the registry{closest}",
                u.line.map_or_else(|| "?".to_string(), |l| l.to_string()),
                u.image
            )
        })
        .collect();
    let finding = kit_diagnose::Finding {
        level: kit_diagnose::Level::User,
        reason: kit_diagnose::Reason::ImageNotFound,
        step: None,
        pod: None,
        summary: format!("{} image(s) of the workflow are not in {}: their steps would wait for them forever", missing.len(), config.host),
        evidence,
        fix: "push the image (`cargo xtask up NAME` for a folder of containers/) or correct its name; `--no-check-images` submits anyway".into(),
        terminal: true,
        watching: false,
        since: None,
    };
    if ui.json() {
        Event::Finding { finding }.emit();
    } else {
        eprintln!(
            "{} user · image-not-found: {}",
            ui.bad("✗"),
            finding.summary
        );
        for e in &finding.evidence {
            eprintln!("    {e}");
        }
        eprintln!("  fix: {}", finding.fix);
    }
    Err(Exit::input("nothing was submitted: an image is not in the registry").into())
}

async fn submit_and_follow(
    resolved: &Resolved,
    api: &Api,
    loaded: &LoadedWorkflow,
    mut record: RunRecord,
    options: &FollowOptions,
    ui: Ui,
) -> anyhow::Result<ExitCode> {
    let ns = resolved.settings.argo_namespace.value.clone();
    // The file's templates and ConfigMaps first: the workflow refers to them.
    for companion in &loaded.companions {
        let Some(client) = api.kube() else {
            return Err(Exit::input(format!(
                "{}: {} `{}` must be applied before the workflow, which needs the Kubernetes API (the Argo Server cannot create it); nothing was submitted. Ask the cluster admins to create it once, or {}",
                companion.at,
                companion.kind,
                companion.name,
                kit_config::KUBECONFIG_HINT
            ))
            .into());
        };
        kit_argo::apply_companion(client.clone(), &ns, companion)
            .await
            .map_err(|e| Exit::failure(format!("{e}; nothing was submitted")))?;
        if ui.json() {
            Event::Applied {
                kind: companion.kind.clone(),
                name: companion.name.clone(),
                namespace: ns.clone(),
                at: companion.at.clone(),
            }
            .emit();
        } else {
            eprintln!(
                "{} applied {} {} ({}) before submitting",
                ui.dim("·"),
                companion.kind,
                companion.name,
                companion.at
            );
        }
    }
    let workflow = &loaded.workflow;
    // Events about the workflow can only come after this version: the events watch
    // starts there and never lists the namespace's backlog.
    let events_after = match api {
        Api::Kube(client) => {
            let events_api = kube::Api::namespaced(client.clone(), &ns);
            kit_cluster::events_after::current_version(&events_api).await
        }
        // The Argo Server's event stream starts with the namespace's backlog, which the
        // follower filters to this workflow's.
        Api::Server(_) => None,
    };
    let submitted = api.submit(&ns, workflow).await?;
    let name = submitted.metadata.name.clone().unwrap_or_default();
    record.submitted(&name)?;
    let link = resolved
        .settings
        .argo_server
        .as_ref()
        .map(|s| kit_argo::ui_link(&s.value, &ns, &name));
    if ui.json() {
        Event::Submitted {
            name: name.clone(),
            namespace: ns.clone(),
            ui: link.clone(),
            record: record.dir.clone(),
        }
        .emit();
    } else {
        println!("submitted {ns}/{name}");
        if let Some(link) = &link {
            println!("  {link}");
        }
    }
    let outcome = follow::follow(api, &ns, &name, events_after, options, ui).await?;
    record.finished(&outcome, "run")?;
    if options.report {
        crate::page::announce(crate::page::after_follow(&record, &outcome), ui);
    }
    Ok(outcome.exit())
}

/// Lints every file given (every file of workflows/ without arguments), every document of
/// each, and reports each; one that does not load does not stop the others.
pub async fn lint(global: &GlobalArgs, args: &LintArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    // The server's lint comes after ours, on what passed ours: through the Argo Server by
    // default, with a kubeconfig only when asked.
    let server = if args.server || resolved.settings.way_in().via == kit_config::Via::ArgoServer {
        Some(crate::way::server(&resolved)?)
    } else {
        None
    };
    let root = resolved.workspace_root();
    let workflows_dir = root.join("workflows");
    let names: Vec<String> = if args.workflows.is_empty() {
        kit_argo::list_workflow_sources(&workflows_dir)
            .map_err(|e| Exit::input(e.to_string()))?
            .into_iter()
            .map(|(_, path)| path.display().to_string())
            .collect()
    } else {
        args.workflows.clone()
    };
    let lock = load_lock(&resolved)?;
    let mut files = vec![];
    let mut all = vec![];
    let mut failed = 0;
    for name in &names {
        let mut report = lint_file(&resolved, &lock, name, &workflows_dir, &args.script, ui)?;
        if let Some(server) = &server {
            server_lint(&resolved, server, &mut report).await?;
        }
        if !report.ok() {
            failed += 1;
        }
        if !ui.json() {
            report.print(ui);
        }
        all.extend(report.documents.iter().flat_map(|d| d.diagnostics.clone()));
        files.push(report);
    }
    if ui.json() {
        crate::documents::print(&crate::documents::LintDocument {
            workflows: &names,
            files: &files,
            diagnostics: &all,
        })?;
    }
    if failed > 0 {
        return Err(
            Exit::input(format!("{failed} of {} file(s) did not pass", names.len())).into(),
        );
    }
    Ok(ExitCode::Success)
}

/// Asks the Argo Server's lint about every workflow of the file that passed ours; its
/// refusal becomes an error diagnostic. A server that cannot be used stops `lint`.
async fn server_lint(
    resolved: &Resolved,
    server: &kit_argo_server::ArgoServer,
    report: &mut FileReport,
) -> anyhow::Result<()> {
    let ns = &resolved.settings.argo_namespace.value;
    for doc in &mut report.documents {
        let Some(workflow) = doc.workflow.take() else {
            continue;
        };
        if doc.error.is_some() || doc.diagnostics.iter().any(Diagnostic::is_error) {
            continue;
        }
        let submitted = kit_argo::for_submission(ns, &workflow);
        match server.lint_workflow(ns, &submitted).await {
            Ok(()) => {}
            // Argo answers a workflow its validation refuses with a 500 (codes.Internal)
            // and the validation's message; 400 for a malformed one.
            Err(kit_argo_server::ServerError::Api {
                status: 400 | 500,
                message,
                ..
            }) => {
                doc.diagnostics.push(Diagnostic {
                    severity: kit_argo::Severity::Error,
                    file: PathBuf::from(&report.file),
                    line: Some(doc.line),
                    path: String::new(),
                    message: format!("the Argo Server's lint refused it: {message}"),
                    hint: Some(
                        "the server knows its own controller's rules (its version, its templates); fix what it names".into(),
                    ),
                });
            }
            Err(err) => return Err(crate::way::server_exit(err)),
        }
    }
    Ok(())
}

/// What `lint` found in one file.
#[derive(serde::Serialize)]
struct FileReport {
    file: String,
    /// Why the file could not be read at all.
    error: Option<String>,
    documents: Vec<DocumentReport>,
}

#[derive(serde::Serialize)]
struct DocumentReport {
    number: usize,
    line: usize,
    kind: String,
    name: Option<String>,
    /// Why the document could not be read.
    error: Option<String>,
    diagnostics: Vec<Diagnostic>,
    /// The workflow as it would be submitted, for the Argo Server's lint.
    #[serde(skip)]
    workflow: Option<kit_argo::Workflow>,
}

impl FileReport {
    fn ok(&self) -> bool {
        self.error.is_none()
            && self
                .documents
                .iter()
                .all(|d| d.error.is_none() && !d.diagnostics.iter().any(Diagnostic::is_error))
    }

    fn print(&self, ui: Ui) {
        let mark = if self.ok() {
            ui.ok("✓")
        } else {
            ui.bad("✗")
        };
        println!("{mark} {}", self.file);
        if let Some(e) = &self.error {
            println!("  {} {e}", ui.bad("error:"));
        }
        let several = self.documents.len() > 1;
        for doc in &self.documents {
            if several {
                println!(
                    "  document {} (line {}): {}{}",
                    doc.number,
                    doc.line,
                    doc.kind,
                    doc.name
                        .as_deref()
                        .map(|n| format!(" {n}"))
                        .unwrap_or_default()
                );
            }
            if let Some(e) = &doc.error {
                println!("  {} {e}", ui.bad("error:"));
            }
            for d in &doc.diagnostics {
                println!("  {d}");
            }
        }
    }
}

fn lint_file(
    resolved: &Resolved,
    lock: &Lock,
    name: &str,
    workflows_dir: &Path,
    script_args: &ScriptArgs,
    ui: Ui,
) -> anyhow::Result<FileReport> {
    let failed = |file: String, e: &dyn std::fmt::Display| FileReport {
        file,
        error: Some(e.to_string()),
        documents: vec![],
    };
    let path = match kit_argo::resolve_workflow(name, workflows_dir) {
        Ok(p) => p,
        Err(e) => return Ok(failed(name.to_string(), &e)),
    };
    // A Hera script is linted through what it builds; its own errors are its report.
    let source = if kit_argo::is_script(&path) {
        match script::capture(resolved, &path, script_args, Keep::All, ui) {
            Ok(s) => s.captured,
            Err(e) => return Ok(failed(path.display().to_string(), &e)),
        }
    } else {
        path.clone()
    };
    let file = match kit_argo::load_file(&source) {
        Ok(f) => f,
        Err(e) => return Ok(failed(path.display().to_string(), &e)),
    };
    let mut documents = vec![];
    for doc in file.documents {
        let mut report = DocumentReport {
            number: doc.number,
            line: doc.line,
            kind: doc.raw["kind"].as_str().unwrap_or("?").to_string(),
            name: doc.raw["metadata"]["name"]
                .as_str()
                .or(doc.raw["metadata"]["generateName"].as_str())
                .map(str::to_string),
            error: None,
            diagnostics: vec![],
            workflow: None,
        };
        match doc.content {
            kit_argo::DocumentContent::Workflow(loaded) => {
                match prepare_loaded(resolved, *loaded, lock, &[], false, true) {
                    Ok(mut p) => {
                        if kit_argo::is_script(&path) {
                            script::point_to_script(&mut p.diagnostics, &path, &p.loaded);
                        }
                        report.diagnostics = p.diagnostics;
                        report.workflow = Some(p.loaded.workflow);
                    }
                    Err(e) => report.error = Some(e.to_string()),
                }
            }
            // A ConfigMap is applied as written; the API server checks the rest.
            kit_argo::DocumentContent::ConfigMap { .. } => {}
            kit_argo::DocumentContent::Invalid(e) => report.error = Some(e.to_string()),
        }
        documents.push(report);
    }
    Ok(FileReport {
        file: path.display().to_string(),
        error: None,
        documents,
    })
}

pub fn runs(global: &GlobalArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve(global, ui)?;
    let rows: Vec<serde_json::Value> = kit_records::records(&resolved.workspace_root())
        .iter()
        .map(|dir| kit_records::summary(dir))
        .collect();
    if ui.json() {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!(
            "no run recorded yet (records are kept in {}/)",
            kit_records::RUNS_DIR
        );
    } else {
        for row in &rows {
            println!(
                "{:<12} {:<30} {}",
                row["phase"].as_str().unwrap_or("unknown"),
                row["name"].as_str().unwrap_or("-"),
                row["record"].as_str().unwrap_or("")
            );
            if let Some(note) = row["note"].as_str().filter(|n| !n.is_empty()) {
                println!("{:<12} {}", "", ui.dim(note));
            }
        }
    }
    Ok(ExitCode::Success)
}

pub async fn rerun(global: &GlobalArgs, record: &str, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Run)?;
    let root = resolved.workspace_root();
    let dir = kit_records::find_record(&root, record).map_err(|e| Exit::input(e.to_string()))?;
    let manifest = kit_records::manifest_path(&dir);
    // Exactly the manifest as submitted, companions included: no parameters, injection
    // or pinning again.
    let loaded = kit_argo::load_workflow(&manifest).map_err(|e| Exit::input(e.to_string()))?;
    let api = crate::way::connect(&resolved).await?;
    // As `run` without flags: stop following a workflow that waits until someone acts.
    let options = FollowOptions {
        wait_anyway: false,
        ..FollowOptions::plain(diagnose_config(&resolved))
    };
    let new_record = RunRecord::create(&root, &resolved, &loaded, &[], &[], Some(&dir))?;
    submit_and_follow(&resolved, &api, &loaded, new_record, &options, ui).await
}

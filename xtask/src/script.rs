//! Hera scripts (`workflows/NAME.py`) as workflow sources: the script runs in the
//! Python environment kit-hera manages, its `create()` is captured instead of sent, and
//! the captured workflow is written as YAML under `.xtask/hera/`, which then takes the
//! same path as a YAML workflow (parameters, injection, pinning, validation, records).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kit_config::Resolved;
use kit_hera::{CaptureRequest, Captured, CapturedWorkflow, HeraError, HeraSettings};

use crate::Exit;
use crate::cli::ScriptArgs;
use crate::events::Event;
use crate::ui::Ui;

/// Where captured workflows are written, relative to the workspace root.
pub const CAPTURED_DIR: &str = ".xtask/hera";
/// A script that runs longer than this is stopped: building a workflow takes seconds.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// What a script gave, written down.
pub struct ScriptSource {
    pub script: PathBuf,
    /// The YAML file holding the captured documents.
    pub captured: PathBuf,
    pub hera_version: String,
    pub python: PathBuf,
    pub seconds: f64,
}

impl ScriptSource {
    /// What a run record keeps of the script.
    pub fn files(&self) -> kit_records::ScriptFiles<'_> {
        kit_records::ScriptFiles {
            script: &self.script,
            captured: &self.captured,
            hera_version: &self.hera_version,
            python: &self.python,
            seconds: self.seconds,
        }
    }
}

/// Which of the captured workflows to keep.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// All of them (lint).
    All,
    /// The one to submit, with the templates the script handed over (run).
    One,
}

/// Runs `script` and writes what it built to `.xtask/hera/NAME.yaml`.
pub fn capture(
    resolved: &Resolved,
    script: &Path,
    args: &ScriptArgs,
    keep: Keep,
    ui: Ui,
) -> anyhow::Result<ScriptSource> {
    let root = resolved.workspace_root();
    let settings = HeraSettings::for_workspace(
        &root,
        &resolved.settings.hera_version.value,
        args.python.clone(),
    );
    let request = CaptureRequest {
        script,
        env: script_env(resolved),
        timeout: SCRIPT_TIMEOUT,
    };
    let mut progress = |line: &str| {
        if !ui.json() {
            eprintln!("{} {line}", ui.dim("·"));
        }
    };
    let captured = kit_hera::capture(&settings, &request, &mut progress)
        .map_err(|e| hera_error(e, &resolved.settings.hera_version.origin.to_string()))?;
    let chosen = choose(&captured, args.select.as_deref(), keep, script)?;
    let others: Vec<String> = captured
        .workflows
        .iter()
        .filter(|w| !chosen.iter().any(|c| std::ptr::eq(*c, *w)))
        .map(describe)
        .collect();
    let dir = root.join(CAPTURED_DIR);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Exit::failure(format!("cannot create {}: {e}", dir.display())))?;
    let stem = script
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "script".into());
    let path = dir.join(format!("{stem}.yaml"));
    std::fs::write(&path, kit_hera::to_yaml(script, &captured, &chosen))
        .map_err(|e| Exit::failure(format!("cannot write {}: {e}", path.display())))?;
    if ui.json() && keep == Keep::One {
        // `run`'s stdout is a stream of JSON events; lint's is one document at the end.
        Event::Captured {
            script: script.to_path_buf(),
            captured: path.clone(),
            workflows: chosen.iter().map(|w| describe(w)).collect(),
            others: others.clone(),
            hera_version: captured.hera_version.clone(),
            seconds: captured.seconds,
        }
        .emit();
    } else if !ui.json() {
        eprintln!(
            "{} {}: captured {} with Hera {} in {:.1} s (as YAML: {})",
            ui.dim("·"),
            script.display(),
            chosen
                .iter()
                .map(|w| describe(w))
                .collect::<Vec<_>>()
                .join(", "),
            captured.hera_version,
            captured.seconds,
            path.display()
        );
        if !others.is_empty() {
            eprintln!(
                "{} the script also built {}; --select NAME runs another",
                ui.dim("·"),
                others.join(", ")
            );
        }
    }
    Ok(ScriptSource {
        script: script.to_path_buf(),
        captured: path,
        hera_version: captured.hera_version,
        python: captured.python,
        seconds: captured.seconds,
    })
}

/// `Workflow collect- (create)`.
fn describe(w: &CapturedWorkflow) -> String {
    let name = if w.name.is_empty() {
        "(no name)"
    } else {
        &w.name
    };
    format!("{} {name} ({})", w.kind, w.call)
}

fn is_template(w: &CapturedWorkflow) -> bool {
    matches!(
        w.kind.as_str(),
        "WorkflowTemplate" | "ClusterWorkflowTemplate"
    )
}

/// The workflows to write: all for lint; for run, the one `--select` names (else the
/// first the script handed over, a Workflow before a CronWorkflow before a template),
/// with the templates the script handed over, applied first as companions.
fn choose<'a>(
    captured: &'a Captured,
    select: Option<&str>,
    keep: Keep,
    script: &Path,
) -> anyhow::Result<Vec<&'a CapturedWorkflow>> {
    let all: Vec<&CapturedWorkflow> = captured.workflows.iter().collect();
    if keep == Keep::All {
        return Ok(all);
    }
    let handed: Vec<&CapturedWorkflow> =
        all.iter().copied().filter(|w| w.call != "built").collect();
    let pool = if handed.is_empty() { &all } else { &handed };
    let main = match select {
        Some(name) => *all
            .iter()
            .find(|w| w.name == name || w.name.trim_end_matches('-') == name.trim_end_matches('-'))
            .ok_or_else(|| {
                Exit::input(format!(
                    "{} built no workflow named `{name}` (--select); it built: {}",
                    script.display(),
                    all.iter()
                        .map(|w| describe(w))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        None => [
            "Workflow",
            "CronWorkflow",
            "WorkflowTemplate",
            "ClusterWorkflowTemplate",
        ]
        .iter()
        .find_map(|kind| pool.iter().copied().find(|w| w.kind == *kind))
        .ok_or_else(|| Exit::input(format!("{} built no workflow", script.display())))?,
    };
    let mut chosen = vec![main];
    chosen.extend(
        handed
            .iter()
            .copied()
            .filter(|w| is_template(w) && !std::ptr::eq(*w, main)),
    );
    Ok(chosen)
}

/// The settings the team's helper library reads, as the toolkit resolved them: a script
/// sees the same cluster, namespace, claim and ConfigMap as the run it is part of.
/// Secrets go only into the script's environment, never into a message.
fn script_env(resolved: &Resolved) -> Vec<(String, String)> {
    let s = &resolved.settings;
    let mut env: Vec<(String, String)> = vec![
        ("ARGO_NAMESPACE".into(), s.argo_namespace.value.clone()),
        (
            "ARGO_INSECURE_SKIP_VERIFY".into(),
            s.argo_insecure_skip_verify.value.to_string(),
        ),
    ];
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            env.push((key.to_string(), v));
        }
    };
    put(
        "KUBECONFIG",
        s.kubeconfig.as_ref().and_then(|k| {
            std::env::join_paths(&k.value)
                .ok()
                .map(|p| p.to_string_lossy().to_string())
        }),
    );
    put(
        "KUBECONFIGMAP",
        s.configmap_name.as_ref().map(|v| v.value.clone()),
    );
    put(
        "KUBEVOLUMECLAIMNAME",
        s.volume_claim_name.as_ref().map(|v| v.value.clone()),
    );
    put(
        "ARGO_SERVER",
        s.argo_server.as_ref().map(|v| v.value.clone()),
    );
    put(
        "ARGO_SERVICE_ACCOUNT",
        s.argo_service_account.as_ref().map(|v| v.value.clone()),
    );
    put(
        "ARGO_TOKEN",
        s.argo_token.as_ref().map(|v| v.value.expose().to_string()),
    );
    // The hera.config the toolkit read, for helper libraries that read it themselves
    // (the script runs from its own folder: the path is made absolute).
    put(
        "ARGOCONFIG",
        resolved
            .sources
            .iter()
            .find(|r| {
                r.kind == kit_config::SourceKind::HeraConfig
                    && matches!(
                        r.status,
                        kit_config::SourceStatus::Used | kit_config::SourceStatus::Found
                    )
            })
            .and_then(|r| {
                std::env::current_dir()
                    .ok()
                    .map(|cwd| cwd.join(&r.location))
            })
            .map(|p| p.display().to_string()),
    );
    put(
        "XTASK_REGISTRY",
        s.registry.as_ref().map(|r| match &r.value.project {
            Some(p) => format!("{}/{p}", r.value.host),
            None => r.value.host.clone(),
        }),
    );
    env
}

/// A kit-hera error as the CLI reports it: the script's own mistakes are bad input.
fn hera_error(err: HeraError, version_origin: &str) -> anyhow::Error {
    let text = err.to_string();
    match err {
        HeraError::Script { .. } | HeraError::NoWorkflow { .. } | HeraError::HeraMissing { .. } => {
            Exit::input(text).into()
        }
        HeraError::HeraVersion { .. } => Exit::input(format!(
            "{text}\n(the version wanted comes from {version_origin})"
        ))
        .into(),
        _ => Exit::failure(text).into(),
    }
}

/// Diagnostics of a captured workflow point into `.xtask/hera/NAME.yaml` (a real file
/// with real lines); each also names the script and, when it sits in a template, that
/// template by the name the script gave it.
pub fn point_to_script(
    diagnostics: &mut [kit_argo::Diagnostic],
    script: &Path,
    loaded: &kit_argo::LoadedWorkflow,
) {
    let names: Vec<&str> = loaded
        .workflow
        .spec
        .templates
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    for d in diagnostics {
        let template = template_index(&d.path)
            .and_then(|i| names.get(i))
            .filter(|n| !n.is_empty())
            .map(|n| format!(", template `{n}`"))
            .unwrap_or_default();
        d.message = format!("{} (built by {}{template})", d.message, script.display());
    }
}

/// `3` in `spec.templates[3].dag.tasks[0]`.
fn template_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("spec.templates[")?;
    rest[..rest.find(']')?].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::template_index;

    #[test]
    fn template_indexes_are_read_from_paths() {
        assert_eq!(template_index("spec.templates[3].dag.tasks[0]"), Some(3));
        assert_eq!(template_index("spec.templates[12]"), Some(12));
        assert_eq!(template_index("spec.entrypoint"), None);
        assert_eq!(template_index("spec.templates[x]"), None);
    }
}

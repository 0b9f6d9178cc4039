//! Argo Workflows for the toolkit: the `Workflow` and `WorkflowTemplate` types, loading a file
//! with line numbers, fitting it to the configured cluster, pinning images, `-p` parameters,
//! offline validation, and submitting.
//!
//! # A run, step by step
//!
//! ```no_run
//! # async fn run(client: kube::Client, settings: kit_config::Settings,
//! #              lock: &dyn Fn(&str) -> Option<String>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! let file = kit_argo::resolve_workflow("collect", Path::new("workflows"))?;
//! let mut loaded = kit_argo::load_workflow(&file)?;
//! let mut record = kit_argo::set_parameters(&mut loaded, &["vintage=2012".to_string()])?;
//! record.extend(kit_argo::inject(&mut loaded, &kit_argo::Injection::from_settings(&settings)));
//! let pins = kit_argo::pin_images(&mut loaded, lock, false);
//! record.extend(pins.rewrites);
//! let problems = kit_argo::validate(&loaded, &kit_argo::ValidateOptions { lint: false, images: Some(lock) });
//! if problems.iter().any(|d| d.is_error()) {
//!     for d in &problems { eprintln!("{d}"); }
//!     return Ok(());
//! }
//! let created = kit_argo::submit(client, &settings.argo_namespace.value, &loaded.workflow).await?;
//! # let _ = created; Ok(()) }
//! ```
//!
//! # Workflow files stay upstream Argo YAML
//!
//! Every file under `workflows/` must also run with plain `argo submit`. So the toolkit never
//! needs a placeholder syntax of its own: files name the team's usual resources, and
//! [`inject`] swaps in the configured ones:
//!
//! | in the file | becomes | when |
//! |---|---|---|
//! | `metadata.namespace` | `argo_namespace` | always (the run goes where the settings say) |
//! | `metadata.name: X` without `generateName` | `generateName: X-` | always, so runs do not collide |
//! | `spec.serviceAccountName` | `argo_service_account` | only when the file sets none |
//! | `persistentVolumeClaim.claimName: vcity-pvc` in `spec.volumes` or a template's `volumes` | `volume_claim_name` | only that well-known name ([`DEFAULT_CLAIM_NAME`]) |
//! | `configMap.name`, `envFrom[].configMapRef.name`, `env[].valueFrom.configMapKeyRef.name` equal to `vcity-pagoda-proxy-environment` | `configmap_name` | only that well-known name ([`DEFAULT_CONFIGMAP_NAME`]) |
//!
//! Any other claim or ConfigMap name is left as written: a file that names a specific
//! resource means it. Claim names written as Argo expressions (`{{workflow.parameters.pvc}}`)
//! are left to Argo. `volumeClaimTemplates` are per-run claims and are not touched. Every change
//! is returned as a [`Rewrite`] (path, line, before, after, and which setting caused it) for
//! `--dry-run` and the run record.
//!
//! # Running a WorkflowTemplate
//!
//! A `WorkflowTemplate` file is run by copying its spec into a new `Workflow` (labels and
//! annotations too, `generateName: TEMPLATE-`), not by `workflowTemplateRef`. The file on disk
//! is then what runs: its images are pinned, its parameters checked and its settings injected
//! like any workflow's, and it need not have been installed in the cluster first. A `Workflow`
//! file that itself uses `workflowTemplateRef` is submitted as written; only the reference
//! can be checked offline.
//!
//! # Image pinning
//!
//! [`pin_images`] passes each image of `container`, `script`, `initContainers` and `sidecars`
//! to a resolver (the image lock file's lookup, wired by the CLI) and writes back the pinned
//! reference. References already pinned by digest and Argo expressions are skipped; unknown
//! ones are listed, and [`validate`] warns about them ("not in the lock file").

mod depends;
mod inject;
mod lines;
mod load;
mod names;
mod params;
mod pin;
mod report;
mod submit;
pub use kit_argo_types as types;
mod validate;

pub use depends::{DependsError, RESULTS as DEPENDS_RESULTS, TaskTerm, parse_depends};
pub use inject::{DEFAULT_CLAIM_NAME, DEFAULT_CONFIGMAP_NAME, Injection, Setting, inject};
pub use lines::LineMap;
pub use load::{
    API_VERSION, Companion, Document, DocumentContent, LoadError, LoadedFile, LoadedWorkflow,
    SourceKind, is_script, list_workflow_sources, list_workflows, load_file, load_file_str,
    load_workflow, load_workflow_str, resolve_workflow, workflow_from_template,
};
pub use names::{
    MAX_FIELD_NAME, MAX_GENERATE_NAME, MAX_WORKFLOW_NAME, dns_subdomain_problem,
    field_name_problem, generate_name_problem, parameter_name_problem, workflow_name_problem,
};
pub use params::{
    MissingParameter, ParamError, missing_parameters, parse_parameter, set_parameter_values,
    set_parameters,
};
pub use pin::{ImageUse, PinReport, Resolver, images, not_pinnable, pin_images};
pub use report::{Diagnostic, Rewrite, RewriteKind, Severity};
pub use submit::{
    ApiError, ApplyError, apply_companion, for_submission, get, list, stop, submit, ui_link,
};
pub use types::*;
pub use validate::{ValidateOptions, validate};

/// The workflow as YAML, for `--dry-run`.
///
/// Serialising these types cannot fail in practice (every map has string keys); should it
/// anyway, the JSON form is returned, which is valid YAML too.
pub fn to_yaml(wf: &Workflow) -> String {
    yaml_of(wf)
}

/// The file `run` submitted: its companions first, then the workflow, one document each.
/// Loading it again gives the same workflow with the same companions (for `rerun`).
pub fn to_yaml_with_companions(wf: &Workflow, companions: &[Companion]) -> String {
    let mut out = String::new();
    for c in companions {
        out.push_str(&yaml_of(&c.manifest));
        out.push_str("---\n");
    }
    out.push_str(&yaml_of(wf));
    out
}

fn yaml_of<T: serde::Serialize>(value: &T) -> String {
    // Long single-line values (digest-pinned images) stay on one line instead of being folded;
    // multi-line scripts still come out as literal blocks.
    let options = serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX };
    serde_saphyr::to_string_with_options(value, options)
        .or_else(|_| serde_json::to_string_pretty(value))
        .unwrap_or_default()
}

//! Turns the global flags into configuration inputs and resolves the settings once.

use anyhow::Context;
use kit_config::{FlagOverrides, Inputs, Need, Resolved};

use crate::Exit;
use crate::cli::GlobalArgs;
use crate::ui::Ui;

pub fn inputs(global: &GlobalArgs) -> anyhow::Result<Inputs> {
    let mut inputs = Inputs::from_process().context("reading the working directory")?;
    inputs.env_file = global.env_file.clone();
    inputs.profile = global.profile.clone();
    inputs.flags = FlagOverrides {
        kubeconfig: global.kubeconfig.clone(),
        kube_context: global.context.clone(),
        configmap_name: global.configmap.clone(),
        volume_claim_name: global.volume_claim.clone(),
        argo_server: global.argo_server.clone(),
        via: global.via.clone(),
        argo_server_ca: global.argo_server_ca.clone(),
        argo_namespace: global.namespace.clone(),
        argo_service_account: global.service_account.clone(),
        registry: global.registry.clone(),
        ..FlagOverrides::default()
    };
    Ok(inputs)
}

/// Resolves the settings; warnings go to stderr. A malformed source exits 2.
pub fn resolve(global: &GlobalArgs, ui: Ui) -> anyhow::Result<Resolved> {
    let inputs = inputs(global)?;
    let resolved = kit_config::resolve(&inputs).map_err(|e| Exit::input(e.to_string()))?;
    if global.verbose {
        // Debug output of the settings: secrets print as *** here too.
        eprintln!("debug: resolved settings: {resolved:#?}");
    }
    if !ui.json() {
        for warning in &resolved.warnings {
            eprintln!("{} {warning}", ui.warn("warning:"));
        }
    }
    Ok(resolved)
}

/// Resolves and insists on what `need` requires, listing every gap at once.
pub fn resolve_for(global: &GlobalArgs, ui: Ui, need: Need) -> anyhow::Result<Resolved> {
    let resolved = resolve(global, ui)?;
    insist(
        &resolved,
        need,
        "`cargo xtask config` shows every value and where it came from",
    )?;
    Ok(resolved)
}

/// Fails (exit 2) when the settings lack what `need` requires, listing every gap, then
/// `hint`.
pub fn insist(resolved: &Resolved, need: Need, hint: &str) -> anyhow::Result<()> {
    let missing = resolved.settings.missing_for(need);
    if missing.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = missing.iter().map(|m| format!("  - {m}")).collect();
    Err(Exit::input(format!(
        "the configuration is incomplete:\n{}\n({hint})",
        lines.join("\n")
    ))
    .into())
}

//! `cargo xtask doctor`: the cluster readiness checks, one line each.

use std::process::ExitCode;
use std::time::Duration;

use kit_cluster::doctor::{self, Check, Expectations, Outcome, PROXY_KEYS};
use kit_config::{Need, Resolved};

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::ui::Ui;

pub async fn run(global: &GlobalArgs, args: &DoctorArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Cluster)?;
    let client = crate::kube::client(&resolved).await?;
    let want = expectations(&resolved, args.canary);
    if args.fix {
        for line in fix(&client, &resolved).await? {
            if !ui.json() {
                println!("{} {line}", ui.ok("fixed:"));
            }
        }
    }
    let checks = doctor::run_checks(&client, &want).await;
    Ok(report(&checks, ui))
}

pub fn expectations(resolved: &Resolved, canary: bool) -> Expectations {
    let s = &resolved.settings;
    let controller_grace = Duration::from_secs(s.timeouts.controller_grace_secs.value);
    Expectations {
        namespace: s.argo_namespace.value.clone(),
        service_account: s.argo_service_account.as_ref().map(|v| v.value.clone()),
        volume_claim: s.volume_claim_name.as_ref().map(|v| v.value.clone()),
        parallel_steps_on_pvc: false,
        configmap: s.configmap_name.as_ref().map(|v| v.value.clone()),
        configmap_keys: PROXY_KEYS.iter().map(|k| k.to_string()).collect(),
        // The canary waits longer than the grace: a cold controller may take a moment.
        canary: canary.then_some(controller_grace.max(Duration::from_secs(10))),
        controller_grace,
    }
}

/// Applies the workspace's PVC and ConfigMap manifests where the objects are missing.
async fn fix(client: &kube::Client, resolved: &Resolved) -> anyhow::Result<Vec<String>> {
    let s = &resolved.settings;
    let root = s
        .workspace_root
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let ns = &s.argo_namespace.value;
    let mut done = vec![];
    let targets = [
        (s.volume_claim_name.as_ref(), "workflows/resources/pvc.yaml"),
        (
            s.configmap_name.as_ref(),
            "workflows/resources/configmap.yaml",
        ),
    ];
    for (name, manifest) in targets {
        let Some(name) = name else { continue };
        if let Some(line) =
            doctor::apply_if_missing(client, ns, &root.join(manifest), &name.value).await?
        {
            done.push(line);
        }
    }
    Ok(done)
}

/// Prints the checks and gives the exit code: 1 when any check failed.
pub fn report(checks: &[Check], ui: Ui) -> ExitCode {
    let failed = checks.iter().any(|c| c.outcome == Outcome::Fail);
    if ui.json() {
        let json = serde_json::json!({"ok": !failed, "checks": checks});
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        for check in checks {
            let mark = match check.outcome {
                Outcome::Pass => ui.ok("✓"),
                Outcome::Warn => ui.warn("!"),
                Outcome::Fail => ui.bad("✗"),
                Outcome::CouldNotCheck => ui.dim("?"),
            };
            println!("{mark} [{}] {}: {}", check.level, check.id, check.summary);
            for line in &check.evidence {
                println!("    {}", ui.dim(line));
            }
            if let Some(fix) = check
                .fix
                .as_ref()
                .filter(|_| check.outcome != Outcome::Pass)
            {
                println!("    → {fix}");
            }
        }
        let count = |o: Outcome| checks.iter().filter(|c| c.outcome == o).count();
        println!(
            "{} passed, {} failed, {} warnings, {} could not be checked",
            count(Outcome::Pass),
            count(Outcome::Fail),
            count(Outcome::Warn),
            count(Outcome::CouldNotCheck)
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

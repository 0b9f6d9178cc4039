//! `cargo xtask doctor`: the cluster readiness checks, one line each.

use crate::exit::ExitCode;

use kit_cluster::doctor::{self, Expectations};
use kit_config::{Need, Resolved};
use kit_images::{Lock, RegistryClient, RegistryConfig};

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::ui::Ui;
use crate::way::Api;

pub async fn run(global: &GlobalArgs, args: &DoctorArgs, ui: Ui) -> anyhow::Result<ExitCode> {
    let resolved = crate::settings::resolve_for(global, ui, Need::Cluster)?;
    let way = resolved.settings.way_in();
    if !ui.json() {
        println!("{} {} ({})", ui.dim("way in:"), way.via, way.why);
    }
    let want = Expectations::from_resolved(&resolved, args.canary);
    let mut checks = match crate::way::connect(&resolved).await? {
        Api::Kube(client) => {
            if args.fix {
                for line in fix(&client, &resolved).await? {
                    if !ui.json() {
                        println!("{} {line}", ui.ok("fixed:"));
                    }
                }
            }
            doctor::run_checks(&client, &want).await
        }
        Api::Server(server) => {
            if args.fix {
                crate::settings::insist(
                    &resolved,
                    Need::KubeApi,
                    "--fix creates a PVC or a ConfigMap, which only the Kubernetes API can",
                )?;
            }
            doctor::run_server_checks(&server, &want).await
        }
    };
    let root = resolved.workspace_root();
    let lock = Lock::load(&root.join(kit_images::LOCK_FILE))
        .map_err(|e| crate::Exit::input(e.to_string()))?;
    let registry = RegistryConfig::from_settings(&resolved.settings)
        .map(|c| RegistryClient::from_config(&c))
        .transpose()?;
    checks.push(doctor::workflow_images_check(&resolved, &lock, registry.as_ref()).await);
    Ok(crate::checks::report(&checks, Some(&way), ui))
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

//! The checks that read the workspace rather than the cluster: what the workflows of
//! workflows/ expect of it (the claim they share) and whether their images were pushed.

use std::time::Duration;

use kit_config::Resolved;
use kit_diagnose::Level;
use kit_images::{Lock, RegistryClient};

use super::{Check, Expectations, Outcome, PROXY_KEYS};

impl Expectations {
    /// What the checks look for, from the configuration and the workflows of the
    /// workspace. `canary`: submit a canary workflow too.
    pub fn from_resolved(resolved: &Resolved, canary: bool) -> Self {
        let s = &resolved.settings;
        let controller_grace = Duration::from_secs(s.timeouts.controller_grace_secs.value);
        Expectations {
            namespace: s.argo_namespace.value.clone(),
            service_account: s.argo_service_account.as_ref().map(|v| v.value.clone()),
            volume_claim: s.volume_claim_name.as_ref().map(|v| v.value.clone()),
            parallel_steps_on_pvc: workflows_run_parallel_steps_on_claim(resolved),
            configmap: s.configmap_name.as_ref().map(|v| v.value.clone()),
            configmap_keys: PROXY_KEYS.iter().map(|k| k.to_string()).collect(),
            registry_host: s.registry.as_ref().map(|r| r.value.host.clone()),
            // The canary waits longer than the grace: a cold controller may take a moment.
            canary: canary.then_some(controller_grace.max(Duration::from_secs(10))),
            controller_grace,
        }
    }
}

/// Whether a workflow of workflows/ mounts the experiment's claim and runs steps in
/// parallel (loops, or DAG tasks): then a ReadWriteOnce claim would serialise them.
fn workflows_run_parallel_steps_on_claim(resolved: &Resolved) -> bool {
    let root = resolved.workspace_root();
    let claim = resolved
        .settings
        .volume_claim_name
        .as_ref()
        .map(|c| c.value.as_str());
    let names = [Some(kit_argo::DEFAULT_CLAIM_NAME), claim];
    let workflows = kit_argo::list_workflows(&root.join("workflows")).unwrap_or_default();
    workflows.iter().any(|(_, path)| {
        let Ok(loaded) = kit_argo::load_workflow(path) else {
            return false;
        };
        let spec = &loaded.workflow.spec;
        let template_volumes = spec
            .templates
            .iter()
            .filter_map(|t| t.volumes.as_ref())
            .flatten();
        let mounts_claim = spec.volumes.iter().chain(template_volumes).any(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|p| names.contains(&Some(p.claim_name.as_str())))
        });
        let parallel = spec.templates.iter().any(|t| {
            let looping_steps = t.steps.iter().flatten().any(|group| {
                group.len() > 1
                    || group
                        .iter()
                        .any(|s| s.with_items.is_some() || s.with_param.is_some())
            });
            let dag = t.dag.as_ref().is_some_and(|d| {
                d.tasks.len() > 1
                    || d.tasks
                        .iter()
                        .any(|t| t.with_items.is_some() || t.with_param.is_some())
            });
            looping_steps || dag
        });
        mounts_claim && parallel
    })
}

/// Every image the workflows name must be pinnable: in the lock file (pushed), or a
/// reference of its own to a registry. A bare name matching nothing is a typo.
pub async fn workflow_images_check(
    resolved: &Resolved,
    lock: &Lock,
    registry: Option<&RegistryClient>,
) -> Check {
    let root = resolved.workspace_root();
    let mut problems = vec![];
    let mut deleted = vec![];
    let mut count = 0;
    let known: Vec<String> = lock.images.keys().cloned().collect();
    for (_, path) in kit_argo::list_workflows(&root.join("workflows")).unwrap_or_default() {
        let Ok(loaded) = kit_argo::load_workflow(&path) else {
            continue;
        };
        for image in kit_argo::images(&loaded) {
            count += 1;
            if kit_argo::not_pinnable(&image.image).is_some() {
                continue;
            }
            if let Some(pinned) = lock.resolve(&image.image) {
                // The lock says it was pushed; the registry must still have it.
                if let Some(registry) = registry
                    && let Ok(false) = registry.pinned_exists(&pinned).await
                {
                    deleted.push(format!(
                        "{}:{}: {} -> {pinned} is no longer in the registry",
                        path.display(),
                        image.line.unwrap_or(0),
                        image.image
                    ));
                }
                continue;
            }
            let short = image.image.rsplit('/').next().unwrap_or(&image.image);
            let short = short.split(':').next().unwrap_or(short);
            let closest = if root
                .join("containers")
                .join(short)
                .join("Dockerfile")
                .exists()
            {
                format!(" (in containers/ but not pushed: `cargo xtask up {short}`)")
            } else {
                known
                    .iter()
                    .min_by_key(|k| strsim::levenshtein(k, &image.image))
                    .map(|k| format!(" (closest pushed image: {k})"))
                    .unwrap_or_default()
            };
            problems.push(format!(
                "{}:{}: {}{closest}",
                path.display(),
                image.line.unwrap_or(0),
                image.image
            ));
        }
    }
    let level = Level::User;
    if !deleted.is_empty() {
        return Check {
            id: "workflow-images",
            outcome: Outcome::Fail,
            level,
            summary: format!(
                "{} pinned image(s) were deleted from the registry: their steps will fail with ImagePullBackOff",
                deleted.len()
            ),
            evidence: deleted,
            fix: Some("push them again: `cargo xtask up --images-only`".into()),
        };
    }
    if problems.is_empty() {
        Check {
            id: "workflow-images",
            outcome: Outcome::Pass,
            level,
            summary: format!(
                "the {count} image references of workflows/ are pinned to pushed digests"
            ),
            evidence: vec![],
            fix: None,
        }
    } else {
        Check {
            id: "workflow-images",
            outcome: Outcome::Warn,
            level,
            summary: format!("{} image reference(s) of workflows/ are not in the registry's lock file", problems.len()),
            evidence: problems,
            fix: Some("add a containers/NAME folder or a mirror for each, or fix the name; they would run unpinned and may not exist in the registry".into()),
        }
    }
}

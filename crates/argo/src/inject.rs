//! Fitting a workflow file to the configured cluster (namespace, service account, PVC,
//! ConfigMap). The convention is described in the crate documentation.

use crate::load::LoadedWorkflow;
use crate::report::{Rewrite, RewriteKind};
use crate::types::{Container, Template, Volume};

/// The claim name workflow files use for the team's PersistentVolumeClaim.
pub const DEFAULT_CLAIM_NAME: &str = "vcity-pvc";
/// The ConfigMap name workflow files use for the proxy environment.
pub const DEFAULT_CONFIGMAP_NAME: &str = "vcity-pagoda-proxy-environment";

/// A configured value and where it came from (`ARGO_NAMESPACE (environment)`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: String,
}

impl Setting {
    pub fn new(value: impl Into<String>, origin: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            origin: origin.into(),
        }
    }
}

/// What to inject; `None` leaves the file's value alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub namespace: Option<Setting>,
    pub service_account: Option<Setting>,
    pub claim_name: Option<Setting>,
    pub configmap_name: Option<Setting>,
    /// The claim name in files that stands for "the configured claim".
    pub default_claim_name: String,
    /// The ConfigMap name in files that stands for "the configured ConfigMap".
    pub default_configmap_name: String,
}

impl Default for Injection {
    fn default() -> Self {
        Self {
            namespace: None,
            service_account: None,
            claim_name: None,
            configmap_name: None,
            default_claim_name: DEFAULT_CLAIM_NAME.to_string(),
            default_configmap_name: DEFAULT_CONFIGMAP_NAME.to_string(),
        }
    }
}

impl Injection {
    /// Takes the four values from the resolved settings, keeping their origins.
    pub fn from_settings(settings: &kit_config::Settings) -> Self {
        fn take(s: &Option<kit_config::Sourced<String>>) -> Option<Setting> {
            s.as_ref()
                .map(|s| Setting::new(s.value.clone(), s.origin.to_string()))
        }
        Self {
            namespace: Some(Setting::new(
                settings.argo_namespace.value.clone(),
                settings.argo_namespace.origin.to_string(),
            )),
            service_account: take(&settings.argo_service_account),
            claim_name: take(&settings.volume_claim_name),
            configmap_name: take(&settings.configmap_name),
            ..Self::default()
        }
    }
}

/// Applies the injection convention and returns every change made.
pub fn inject(loaded: &mut LoadedWorkflow, inj: &Injection) -> Vec<Rewrite> {
    let mut out = Vec::new();
    let lines = loaded.lines.clone();
    let line = |p: &str| lines.line(p);
    let wf = &mut loaded.workflow;

    if let Some(ns) = &inj.namespace {
        let from = wf.metadata.namespace.clone();
        if from.as_deref() != Some(ns.value.as_str()) {
            wf.metadata.namespace = Some(ns.value.clone());
            out.push(Rewrite {
                kind: RewriteKind::Namespace,
                path: "metadata.namespace".to_string(),
                line: from.as_ref().and_then(|_| line("metadata.namespace")),
                from,
                to: ns.value.clone(),
                reason: format!("argo_namespace from {}", ns.origin),
            });
        }
    }

    // A fixed name would make the second run collide with the first.
    if wf.metadata.generate_name.is_none()
        && let Some(name) = wf.metadata.name.take()
    {
        let to = format!("{name}-");
        out.push(Rewrite {
            kind: RewriteKind::GenerateName,
            path: "metadata.generateName".to_string(),
            line: line("metadata.name"),
            from: Some(format!("name: {name}")),
            to: to.clone(),
            reason: "each run gets a fresh name".to_string(),
        });
        wf.metadata.generate_name = Some(to);
    }

    if let Some(sa) = &inj.service_account
        && wf.spec.service_account_name.is_none()
        && wf.spec.workflow_template_ref.is_none()
    {
        wf.spec.service_account_name = Some(sa.value.clone());
        out.push(Rewrite {
            kind: RewriteKind::ServiceAccount,
            path: "spec.serviceAccountName".to_string(),
            line: None,
            from: None,
            to: sa.value.clone(),
            reason: format!("argo_service_account from {}", sa.origin),
        });
    }

    rewrite_volumes(&mut wf.spec.volumes, "spec.volumes", inj, &line, &mut out);
    for (t, template) in wf.spec.templates.iter_mut().enumerate() {
        let tpath = format!("spec.templates[{t}]");
        if let Some(vols) = template.volumes.as_mut() {
            rewrite_volumes(vols, &format!("{tpath}.volumes"), inj, &line, &mut out);
        }
        if let Some(cm) = &inj.configmap_name {
            for (cpath, c) in containers_mut(template, &tpath) {
                rewrite_container_configmaps(
                    c,
                    &cpath,
                    cm,
                    &inj.default_configmap_name,
                    &line,
                    &mut out,
                );
            }
        }
    }
    out
}

/// Every container of a template with its path: `container`, `script`, `initContainers[i]`,
/// `sidecars[i]`.
pub(crate) fn containers_mut<'a>(
    t: &'a mut Template,
    tpath: &str,
) -> Vec<(String, &'a mut Container)> {
    let mut v = Vec::new();
    if let Some(c) = t.container.as_mut() {
        v.push((format!("{tpath}.container"), c));
    }
    if let Some(s) = t.script.as_mut() {
        v.push((format!("{tpath}.script"), &mut s.container));
    }
    if let Some(list) = t.init_containers.as_mut() {
        for (i, c) in list.iter_mut().enumerate() {
            v.push((format!("{tpath}.initContainers[{i}]"), c));
        }
    }
    if let Some(list) = t.sidecars.as_mut() {
        for (i, c) in list.iter_mut().enumerate() {
            v.push((format!("{tpath}.sidecars[{i}]"), c));
        }
    }
    v
}

/// Read-only twin of [`containers_mut`].
pub(crate) fn containers<'a>(t: &'a Template, tpath: &str) -> Vec<(String, &'a Container)> {
    let mut v = Vec::new();
    if let Some(c) = t.container.as_ref() {
        v.push((format!("{tpath}.container"), c));
    }
    if let Some(s) = t.script.as_ref() {
        v.push((format!("{tpath}.script"), &s.container));
    }
    for (key, list) in [
        ("initContainers", &t.init_containers),
        ("sidecars", &t.sidecars),
    ] {
        for (i, c) in list.iter().flatten().enumerate() {
            v.push((format!("{tpath}.{key}[{i}]"), c));
        }
    }
    v
}

fn rewrite_volumes(
    vols: &mut [Volume],
    base: &str,
    inj: &Injection,
    line: &dyn Fn(&str) -> Option<usize>,
    out: &mut Vec<Rewrite>,
) {
    for (i, vol) in vols.iter_mut().enumerate() {
        if let (Some(claim), Some(pvc)) = (&inj.claim_name, vol.persistent_volume_claim.as_mut())
            && pvc.claim_name == inj.default_claim_name
            && pvc.claim_name != claim.value
        {
            let path = format!("{base}[{i}].persistentVolumeClaim.claimName");
            out.push(Rewrite {
                kind: RewriteKind::VolumeClaim,
                line: line(&path),
                path,
                from: Some(pvc.claim_name.clone()),
                to: claim.value.clone(),
                reason: format!("volume_claim_name from {}", claim.origin),
            });
            pvc.claim_name = claim.value.clone();
        }
        if let (Some(cm), Some(cmv)) = (&inj.configmap_name, vol.config_map.as_mut())
            && cmv.name == inj.default_configmap_name
            && cmv.name != cm.value
        {
            let path = format!("{base}[{i}].configMap.name");
            out.push(Rewrite {
                kind: RewriteKind::ConfigMap,
                line: line(&path),
                path,
                from: Some(cmv.name.clone()),
                to: cm.value.clone(),
                reason: format!("configmap_name from {}", cm.origin),
            });
            cmv.name = cm.value.clone();
        }
    }
}

fn rewrite_container_configmaps(
    c: &mut Container,
    cpath: &str,
    cm: &Setting,
    default_name: &str,
    line: &dyn Fn(&str) -> Option<usize>,
    out: &mut Vec<Rewrite>,
) {
    let mut targets: Vec<(String, &mut String)> = Vec::new();
    for (i, e) in c.env_from.iter_mut().flatten().enumerate() {
        if let Some(r) = e.config_map_ref.as_mut() {
            targets.push((
                format!("{cpath}.envFrom[{i}].configMapRef.name"),
                &mut r.name,
            ));
        }
    }
    for (i, e) in c.env.iter_mut().flatten().enumerate() {
        if let Some(r) = e
            .value_from
            .as_mut()
            .and_then(|v| v.config_map_key_ref.as_mut())
        {
            targets.push((
                format!("{cpath}.env[{i}].valueFrom.configMapKeyRef.name"),
                &mut r.name,
            ));
        }
    }
    for (path, name) in targets {
        if name == default_name && *name != cm.value {
            out.push(Rewrite {
                kind: RewriteKind::ConfigMap,
                line: line(&path),
                path,
                from: Some(name.clone()),
                to: cm.value.clone(),
                reason: format!("configmap_name from {}", cm.origin),
            });
            *name = cm.value.clone();
        }
    }
}

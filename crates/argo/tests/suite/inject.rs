//! The injection convention: namespace, service account, PVC and ConfigMap.

use kit_argo::{Injection, RewriteKind, Setting, inject};

use crate::load;

fn full() -> Injection {
    Injection {
        namespace: Some(Setting::new("vcity", "ARGO_NAMESPACE (environment)")),
        service_account: Some(Setting::new("vcity-runner", "hera.config")),
        claim_name: Some(Setting::new(
            "lyon-data",
            "KUBEVOLUMECLAIMNAME (environment)",
        )),
        configmap_name: Some(Setting::new("lyon-proxy", "--configmap")),
        ..Injection::default()
    }
}

#[test]
fn rewrites_the_well_known_names_and_reports_each() {
    let mut l = load("steps.yaml");
    let rewrites = inject(&mut l, &full());
    let wf = &l.workflow;
    assert_eq!(wf.metadata.namespace.as_deref(), Some("vcity"));
    assert_eq!(
        wf.spec.service_account_name.as_deref(),
        Some("vcity-runner")
    );
    assert_eq!(
        wf.spec.volumes[0]
            .persistent_volume_claim
            .as_ref()
            .map(|p| p.claim_name.as_str()),
        Some("lyon-data")
    );
    assert_eq!(
        wf.spec.volumes[1]
            .config_map
            .as_ref()
            .map(|c| c.name.as_str()),
        Some("lyon-proxy")
    );
    let c = wf.spec.templates[1].container.as_ref();
    assert_eq!(
        c.and_then(|c| c.env_from.as_ref())
            .and_then(|e| e[0].config_map_ref.as_ref())
            .map(|r| r.name.as_str()),
        Some("lyon-proxy")
    );
    assert_eq!(
        c.and_then(|c| c.env.as_ref())
            .and_then(|e| e[0].value_from.as_ref())
            .and_then(|v| v.config_map_key_ref.as_ref())
            .map(|r| r.name.as_str()),
        Some("lyon-proxy")
    );

    type Row<'a> = (
        RewriteKind,
        &'a str,
        Option<usize>,
        Option<&'a str>,
        &'a str,
    );
    let summary: Vec<Row<'_>> = rewrites
        .iter()
        .map(|r| {
            (
                r.kind,
                r.path.as_str(),
                r.line,
                r.from.as_deref(),
                r.to.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                RewriteKind::Namespace,
                "metadata.namespace",
                Some(7),
                Some("argo"),
                "vcity"
            ),
            (
                RewriteKind::ServiceAccount,
                "spec.serviceAccountName",
                None,
                None,
                "vcity-runner"
            ),
            (
                RewriteKind::VolumeClaim,
                "spec.volumes[0].persistentVolumeClaim.claimName",
                Some(29),
                Some("vcity-pvc"),
                "lyon-data"
            ),
            (
                RewriteKind::ConfigMap,
                "spec.volumes[1].configMap.name",
                Some(32),
                Some("vcity-pagoda-proxy-environment"),
                "lyon-proxy"
            ),
            (
                RewriteKind::ConfigMap,
                "spec.templates[1].container.envFrom[0].configMapRef.name",
                Some(76),
                Some("vcity-pagoda-proxy-environment"),
                "lyon-proxy"
            ),
            (
                RewriteKind::ConfigMap,
                "spec.templates[1].container.env[0].valueFrom.configMapKeyRef.name",
                Some(81),
                Some("vcity-pagoda-proxy-environment"),
                "lyon-proxy"
            ),
        ]
    );
    assert!(rewrites[0].reason.contains("ARGO_NAMESPACE"));
    assert_eq!(
        rewrites[2].to_string(),
        "spec.volumes[0].persistentVolumeClaim.claimName (line 29): vcity-pvc -> lyon-data (volume_claim_name from KUBEVOLUMECLAIMNAME (environment))"
    );
}

#[test]
fn template_volumes_are_rewritten_too() {
    let mut l = load("template.yaml");
    let rewrites = inject(&mut l, &full());
    let vols = l.workflow.spec.templates[0]
        .volumes
        .clone()
        .unwrap_or_default();
    assert_eq!(
        vols[0]
            .persistent_volume_claim
            .as_ref()
            .map(|p| p.claim_name.as_str()),
        Some("lyon-data")
    );
    assert!(rewrites.iter().any(|r| r.path
        == "spec.templates[0].volumes[0].persistentVolumeClaim.claimName"
        && r.line == Some(26)));
}

#[test]
fn the_files_own_service_account_and_other_names_are_kept() {
    let mut l = load("dag.yaml");
    let rewrites = inject(&mut l, &full());
    assert_eq!(
        l.workflow.spec.service_account_name.as_deref(),
        Some("workflow-runner")
    );
    assert!(
        !rewrites
            .iter()
            .any(|r| r.kind == RewriteKind::ServiceAccount)
    );
    // Namespace absent from the file: set, and reported without a line.
    assert_eq!(rewrites[0].kind, RewriteKind::Namespace);
    assert_eq!(
        (rewrites[0].from.as_deref(), rewrites[0].line),
        (None, None)
    );

    let mut l = load("steps.yaml");
    if let Some(p) = l.workflow.spec.volumes[0].persistent_volume_claim.as_mut() {
        p.claim_name = "their-own".into();
    }
    let rewrites = inject(&mut l, &full());
    assert!(!rewrites.iter().any(|r| r.kind == RewriteKind::VolumeClaim));
    assert_eq!(
        l.workflow.spec.volumes[0]
            .persistent_volume_claim
            .as_ref()
            .map(|p| p.claim_name.as_str()),
        Some("their-own")
    );
}

#[test]
fn nothing_configured_changes_nothing_but_a_fixed_name() {
    let mut l = load("steps.yaml");
    let before = l.workflow.clone();
    assert!(inject(&mut l, &Injection::default()).is_empty());
    assert_eq!(l.workflow, before);

    // Same values as the defaults: no rewrite to report.
    let mut same = full();
    same.claim_name = Some(Setting::new("vcity-pvc", "default"));
    same.configmap_name = Some(Setting::new("vcity-pagoda-proxy-environment", "default"));
    same.namespace = Some(Setting::new("argo", "default"));
    let rewrites = inject(&mut l, &same);
    assert_eq!(
        rewrites.iter().map(|r| r.kind).collect::<Vec<_>>(),
        vec![RewriteKind::ServiceAccount]
    );

    let mut l = load("dag-dependencies.yaml");
    let rewrites = inject(&mut l, &Injection::default());
    assert_eq!(
        l.workflow.metadata.generate_name.as_deref(),
        Some("classic-dag-")
    );
    assert_eq!(l.workflow.metadata.name, None);
    assert_eq!(rewrites[0].kind, RewriteKind::GenerateName);
    assert_eq!(rewrites[0].line, Some(4));
}

#[test]
fn custom_well_known_names() {
    let mut l = load("steps.yaml");
    let inj = Injection {
        default_claim_name: "results-pvc".into(),
        ..full()
    };
    let rewrites = inject(&mut l, &inj);
    assert!(!rewrites.iter().any(|r| r.kind == RewriteKind::VolumeClaim));
}

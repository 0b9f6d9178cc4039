//! Talking to the API server about workflows: create, get, list, stop.

use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::load::Companion;
use crate::types::Workflow;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "not allowed to {verb} workflows.argoproj.io in namespace `{namespace}`: {message}; ask the cluster administrators for a Role granting `{verb}` on `workflows` (apiGroup argoproj.io) there, or check argo_namespace (`cargo xtask config`)"
    )]
    Forbidden {
        verb: &'static str,
        namespace: String,
        message: String,
    },
    #[error(
        "workflow `{name}` not found in namespace `{namespace}`; check the name (it ends with the random suffix Argo added) and argo_namespace"
    )]
    NotFound { namespace: String, name: String },
    #[error(
        "cannot {verb} workflows in namespace `{namespace}`: {message}; check that the namespace exists and that Argo Workflows is installed (`cargo xtask doctor`)"
    )]
    NoWorkflowsHere {
        verb: &'static str,
        namespace: String,
        message: String,
    },
    #[error(
        "the API server refused to {verb} the workflow ({code} {reason}): {message}; run `cargo xtask lint` on the file and fix what it reports"
    )]
    Rejected {
        verb: &'static str,
        code: u16,
        reason: String,
        message: String,
    },
    #[error(
        "cannot {verb} workflows in namespace `{namespace}`: {source}; check the kubeconfig context and that the API server is reachable"
    )]
    Transport {
        verb: &'static str,
        namespace: String,
        source: kube::Error,
    },
}

fn map_err(verb: &'static str, namespace: &str, name: Option<&str>, e: kube::Error) -> ApiError {
    let kube::Error::Api(status) = &e else {
        return ApiError::Transport {
            verb,
            namespace: namespace.to_string(),
            source: e,
        };
    };
    match (status.code, name) {
        (403, _) => ApiError::Forbidden {
            verb,
            namespace: namespace.to_string(),
            message: status.message.clone(),
        },
        // A 404 naming our workflow means the workflow; any other means the namespace or
        // the resource type is missing.
        (404, Some(n)) if status.message.contains(n) && status.message.contains("workflows") => {
            ApiError::NotFound {
                namespace: namespace.to_string(),
                name: n.to_string(),
            }
        }
        (404, _) => ApiError::NoWorkflowsHere {
            verb,
            namespace: namespace.to_string(),
            message: status.message.clone(),
        },
        (code, _) => ApiError::Rejected {
            verb,
            code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
    }
}

/// Creates the workflow in `namespace` and returns it as stored (with its generated name).
///
/// The namespace of the manifest is set to `namespace`. Without `generateName` a fixed name is
/// turned into a prefix, so repeated runs do not collide; without either, `workflow-` is used.
pub async fn submit(client: Client, namespace: &str, wf: &Workflow) -> Result<Workflow, ApiError> {
    let wf = for_submission(namespace, wf);
    let api: Api<Workflow> = Api::namespaced(client, namespace);
    api.create(&PostParams::default(), &wf)
        .await
        .map_err(|e| map_err("create", namespace, None, e))
}

/// The manifest as it is created, whatever the API: in `namespace`, named by a
/// `generateName`, without the fields the API server owns.
pub fn for_submission(namespace: &str, wf: &Workflow) -> Workflow {
    let mut wf = wf.clone();
    wf.metadata.namespace = Some(namespace.to_string());
    if wf.metadata.generate_name.is_none() {
        let base = wf
            .metadata
            .name
            .take()
            .unwrap_or_else(|| "workflow".to_string());
        wf.metadata.generate_name = Some(format!("{}-", base.trim_end_matches('-')));
    }
    wf.metadata.name = None;
    wf.metadata.resource_version = None;
    wf.metadata.uid = None;
    wf.status = None;
    wf
}

/// Why a companion document could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("{at}: cannot apply {kind} `{name}` before submitting: {reason}")]
pub struct ApplyError {
    pub at: String,
    pub kind: String,
    pub name: String,
    pub reason: String,
}

/// The field manager named on what `run` applies, so `kubectl` shows who wrote it.
const FIELD_MANAGER: &str = "cargo-xtask";

/// Applies a document of the workflow's file (server-side apply: created when missing,
/// updated to the file's content when present). Namespaced kinds go to `namespace`; a
/// document naming another namespace is refused rather than written elsewhere.
pub async fn apply_companion(
    client: Client,
    namespace: &str,
    companion: &Companion,
) -> Result<(), ApplyError> {
    let fail = |reason: String| ApplyError {
        at: companion.at.clone(),
        kind: companion.kind.clone(),
        name: companion.name.clone(),
        reason,
    };
    let (group, version, plural, namespaced) = match companion.kind.as_str() {
        "ConfigMap" => ("", "v1", "configmaps", true),
        "WorkflowTemplate" => ("argoproj.io", "v1alpha1", "workflowtemplates", true),
        "ClusterWorkflowTemplate" => ("argoproj.io", "v1alpha1", "clusterworkflowtemplates", false),
        other => return Err(fail(format!("`run` does not apply a {other}"))),
    };
    let mut object: kube::api::DynamicObject =
        serde_json::from_value(companion.manifest.clone())
            .map_err(|e| fail(format!("it does not read as a Kubernetes object: {e}")))?;
    if namespaced {
        match object.metadata.namespace.as_deref() {
            Some(ns) if ns != namespace => {
                return Err(fail(format!(
                    "it names namespace `{ns}` but the workflow runs in `{namespace}`; remove `metadata.namespace` (the configured namespace is used)"
                )));
            }
            _ => object.metadata.namespace = Some(namespace.to_string()),
        }
    }
    let resource = kube::discovery::ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        },
        kind: companion.kind.clone(),
        plural: plural.to_string(),
    };
    let api: Api<kube::api::DynamicObject> = if namespaced {
        Api::namespaced_with(client, namespace, &resource)
    } else {
        Api::all_with(client, &resource)
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&companion.name, &params, &Patch::Apply(&object))
        .await
        .map(|_| ())
        .map_err(|e| {
            fail(match &e {
                kube::Error::Api(s) if s.code == 403 => format!(
                    "not allowed ({}); ask the cluster administrators for `patch` and `create` on {plural} there, or create it once with someone who has the right",
                    s.message
                ),
                kube::Error::Api(s) if s.code == 404 => format!(
                    "the cluster does not know {plural} ({}); is Argo Workflows installed? (`cargo xtask doctor`)",
                    s.message
                ),
                kube::Error::Api(s) => format!("refused ({} {}): {}", s.code, s.reason, s.message),
                other => format!("{other}; check that the API server is reachable"),
            })
        })
}

pub async fn get(client: Client, namespace: &str, name: &str) -> Result<Workflow, ApiError> {
    let api: Api<Workflow> = Api::namespaced(client, namespace);
    api.get(name)
        .await
        .map_err(|e| map_err("get", namespace, Some(name), e))
}

/// Workflows of the namespace; `label_selector` like `workflows.argoproj.io/phase=Running`.
pub async fn list(
    client: Client,
    namespace: &str,
    label_selector: Option<&str>,
) -> Result<Vec<Workflow>, ApiError> {
    let api: Api<Workflow> = Api::namespaced(client, namespace);
    let mut lp = ListParams::default();
    if let Some(sel) = label_selector {
        lp = lp.labels(sel);
    }
    api.list(&lp)
        .await
        .map(|l| l.items)
        .map_err(|e| map_err("list", namespace, None, e))
}

/// Asks the controller to stop the workflow: running steps end, exit handlers still run
/// (what `argo stop` does, by setting `spec.shutdown: Stop`).
pub async fn stop(client: Client, namespace: &str, name: &str) -> Result<Workflow, ApiError> {
    let api: Api<Workflow> = Api::namespaced(client, namespace);
    let patch = serde_json::json!({ "spec": { "shutdown": "Stop" } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| map_err("patch", namespace, Some(name), e))
}

/// The Argo UI page of a workflow. `argo_server` may carry a scheme (`http://`, `https://`)
/// or not, in which case `https://` is assumed as the Argo CLI does.
pub fn ui_link(argo_server: &str, namespace: &str, name: &str) -> String {
    let server = argo_server.trim().trim_end_matches('/');
    let base = if server.starts_with("http://") || server.starts_with("https://") {
        server.to_string()
    } else {
        format!("https://{server}")
    };
    format!("{base}/workflows/{namespace}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_links() {
        assert_eq!(
            ui_link("argo.example.org:2746", "vcity", "collect-x7k2p"),
            "https://argo.example.org:2746/workflows/vcity/collect-x7k2p"
        );
        assert_eq!(
            ui_link("http://127.0.0.1:2746/", "argo", "a"),
            "http://127.0.0.1:2746/workflows/argo/a"
        );
    }

    fn api_error(code: u16, message: &str) -> kube::Error {
        let mut status = kube::core::Status::failure(message, "Reason");
        status.code = code;
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn forbidden_names_verb_and_namespace() {
        let e = map_err(
            "create",
            "vcity",
            None,
            api_error(
                403,
                "workflows.argoproj.io is forbidden: User \"u\" cannot create resource",
            ),
        );
        let text = e.to_string();
        assert!(matches!(e, ApiError::Forbidden { .. }));
        assert!(text.contains("not allowed to create workflows.argoproj.io in namespace `vcity`"));
        assert!(text.contains("Role"));
    }

    #[test]
    fn not_found_distinguishes_workflow_from_namespace() {
        let e = map_err(
            "get",
            "argo",
            Some("x-1"),
            api_error(404, "workflows.argoproj.io \"x-1\" not found"),
        );
        assert!(matches!(e, ApiError::NotFound { .. }));
        let e = map_err(
            "create",
            "argo",
            None,
            api_error(404, "the server could not find the requested resource"),
        );
        assert!(matches!(e, ApiError::NoWorkflowsHere { .. }));
        let e = map_err(
            "create",
            "argo",
            None,
            api_error(422, "spec.templates: Invalid value"),
        );
        assert!(matches!(e, ApiError::Rejected { code: 422, .. }));
    }
}

//! `doctor` through the Argo Server: what its API can prove (reachable, TLS, the token,
//! the namespace, a controller at work) is checked; everything it cannot show (service
//! accounts, claims, ConfigMaps, secrets, rights, nodes) is said to be not checkable
//! here, with the command an admin can run — never a pass that was not earned.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kit_argo_server::{ArgoServer, ServerError, TOKEN_HINT};
use kit_argo_types::Workflow;
use kit_diagnose::Level;

use super::{Check, Expectations, Outcome};

/// Every check that makes sense through the Argo Server, in order; a server that cannot
/// be reached, or a refused token, stops the rest.
pub async fn run_server_checks(server: &ArgoServer, want: &Expectations) -> Vec<Check> {
    let mut checks = vec![];
    let reach = check_reach(server).await;
    let reached = reach.outcome == Outcome::Pass;
    checks.push(reach);
    if !reached {
        return checks;
    }
    let token = check_token(server, &want.namespace).await;
    let usable = token.outcome == Outcome::Pass;
    checks.push(token);
    if !usable {
        return checks;
    }
    checks.push(check_controller(server, want).await);
    let ns = &want.namespace;
    if let Some(sa) = &want.service_account {
        checks.push(unseen(
            "service-account",
            Level::User,
            &format!("service account {sa}"),
            &format!("kubectl -n {ns} get serviceaccount {sa}"),
        ));
        checks.push(unseen(
            "executor-rights",
            Level::ArgoServer,
            &format!("the rights of {sa} (workflowtaskresults, pods)"),
            &format!(
                "kubectl -n {ns} auth can-i create workflowtaskresults.argoproj.io --as system:serviceaccount:{ns}:{sa}"
            ),
        ));
        if let Some(host) = &want.registry_host {
            checks.push(unseen(
                "pull-secret",
                Level::User,
                &format!("the pull secret of {sa} for {host}"),
                &format!(
                    "kubectl -n {ns} get serviceaccount {sa} -o jsonpath='{{.imagePullSecrets}}'"
                ),
            ));
        }
    }
    if let Some(pvc) = &want.volume_claim {
        checks.push(unseen(
            "pvc",
            Level::User,
            &format!("PVC {pvc}"),
            &format!("kubectl -n {ns} get pvc {pvc}"),
        ));
    }
    if let Some(cm) = &want.configmap {
        checks.push(unseen(
            "configmap",
            Level::User,
            &format!("ConfigMap {cm} and its keys"),
            &format!("kubectl -n {ns} get configmap {cm} -o yaml"),
        ));
    }
    checks.push(unseen(
        "nodes",
        Level::Kubernetes,
        "the nodes",
        "kubectl get nodes",
    ));
    checks
}

/// A check the Argo Server's API cannot make.
fn unseen(id: &'static str, level: Level, what: &str, admin_command: &str) -> Check {
    Check::new(
        id,
        level,
        Outcome::CouldNotCheck,
        format!("{what}: not checkable through the Argo Server (its API shows workflows, not Kubernetes objects)"),
    )
    .fix(format!(
        "with a kubeconfig, `cargo xtask doctor --via kube` checks it; or ask the cluster admins to run `{admin_command}`"
    ))
}

async fn check_reach(server: &ArgoServer) -> Check {
    match server.version().await {
        Ok(version) => {
            let v = version
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown version");
            Check::new(
                "argo-server",
                Level::ArgoServer,
                Outcome::Pass,
                format!("Argo Server {} answers ({v})", server.url()),
            )
        }
        // In client mode even the version needs a valid token: the server is there.
        Err(ServerError::Unauthorized { .. }) => Check::new(
            "argo-server",
            Level::ArgoServer,
            Outcome::Pass,
            format!(
                "Argo Server {} answers (the token is judged below)",
                server.url()
            ),
        ),
        Err(err) => {
            let level = match err {
                ServerError::Timeout { .. } | ServerError::Refused { .. } => Level::ArgoServer,
                _ => Level::User,
            };
            Check::new(
                "argo-server",
                level,
                Outcome::Fail,
                format!("the Argo Server cannot be used: {err}"),
            )
        }
    }
}

/// `/userinfo` accepts any token; listing one workflow proves both the token and the
/// namespace.
async fn check_token(server: &ArgoServer, namespace: &str) -> Check {
    match server.list_workflows(namespace, Some(1), None).await {
        Ok(_) => Check::new(
            "token",
            Level::User,
            Outcome::Pass,
            format!("the token is accepted and may list workflows in {namespace}"),
        ),
        Err(ServerError::Unauthorized { message, .. }) => Check::new(
            "token",
            Level::User,
            Outcome::Fail,
            "the Argo Server refused the token (invalid or expired)",
        )
        .evidence(message)
        .fix(TOKEN_HINT),
        Err(ServerError::Forbidden { message, .. }) => Check::new(
            "token",
            Level::User,
            Outcome::Fail,
            format!("the token is valid but may not list workflows in namespace {namespace}"),
        )
        .evidence(message)
        .fix(format!(
            "set ARGO_NAMESPACE to your team's namespace, or ask the cluster admins for rights on workflows in {namespace}"
        )),
        Err(err) => Check::new(
            "token",
            Level::ArgoServer,
            Outcome::Fail,
            format!("listing workflows in {namespace} failed: {err}"),
        ),
    }
}

async fn check_controller(server: &ArgoServer, want: &Expectations) -> Check {
    match want.canary {
        Some(limit) => canary(server, &want.namespace, limit).await,
        None => recent(server, &want.namespace).await,
    }
}

/// The newest workflows with a phase show a controller at work.
async fn recent(server: &ArgoServer, namespace: &str) -> Check {
    match server.list_workflows(namespace, Some(20), None).await {
        Ok(list) => {
            let judged = list.items.iter().find_map(|w| {
                let phase = w.phase()?.to_string();
                (!phase.is_empty()).then(|| (w.metadata.name.clone().unwrap_or_default(), phase))
            });
            match judged {
                Some((name, phase)) => Check::new(
                    "argo-controller",
                    Level::ArgoServer,
                    Outcome::Pass,
                    format!("a workflow-controller handles {namespace} (workflow {name} is {phase})"),
                ),
                None => Check::new(
                    "argo-controller",
                    Level::ArgoServer,
                    Outcome::CouldNotCheck,
                    "no workflow with a phase to judge the controller by",
                )
                .fix("run `cargo xtask doctor --canary` to submit a tiny workflow and see the controller act"),
            }
        }
        Err(err) => Check::new(
            "argo-controller",
            Level::ArgoServer,
            Outcome::Fail,
            format!("listing workflows failed: {err}"),
        ),
    }
}

/// Submits a one-step workflow through the server and waits for a phase.
async fn canary(server: &ArgoServer, namespace: &str, limit: Duration) -> Check {
    let workflow: Workflow = match serde_json::from_value(super::canary_manifest()) {
        Ok(w) => w,
        Err(err) => {
            return Check::new(
                "argo-controller",
                Level::ArgoServer,
                Outcome::Fail,
                format!("canary manifest: {err}"),
            );
        }
    };
    let created = match server.create_workflow(namespace, &workflow).await {
        Ok(w) => w,
        Err(err) => {
            return Check::new(
                "argo-controller",
                Level::ArgoServer,
                Outcome::Fail,
                format!("the canary workflow was refused: {err}"),
            );
        }
    };
    let name = created.metadata.name.clone().unwrap_or_default();
    let started = Instant::now();
    let acted = tokio::time::timeout(limit, async {
        let mut stream = Box::pin(server.watch_workflow(namespace, &name, None).await.ok()?);
        while let Some(Ok(event)) = stream.next().await {
            let phase = event.object.phase();
            if let Some(phase) = phase.map(|p| p.to_string()).filter(|p| !p.is_empty()) {
                return Some(phase);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let _ = server.delete_workflow(namespace, &name).await;
    match acted {
        Some(phase) => Check::new(
            "argo-controller",
            Level::ArgoServer,
            Outcome::Pass,
            format!(
                "the workflow-controller acted on canary {name} in {} ms ({phase})",
                started.elapsed().as_millis()
            ),
        ),
        None => Check::new(
            "argo-controller",
            Level::ArgoServer,
            Outcome::Fail,
            format!("no workflow-controller acted on canary {name} within {} s", limit.as_secs()),
        )
        .fix("the controller is down or not watching this namespace: ask the cluster admins to check the workflow-controller's logs"),
    }
}

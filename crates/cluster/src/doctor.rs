//! The readiness checks behind `cargo xtask doctor` and the second half of `up`.
//!
//! Every check runs as the configured user, says at which level a problem sits (the
//! user's own resources, the Argo server, or Kubernetes itself), shows the evidence and
//! the fix. A check the user has no right to make is reported as "could not check",
//! never as a failure: PaGoDA users only have namespaced rights.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, ResourceAttributes, SelfSubjectAccessReview,
    SelfSubjectAccessReviewSpec, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolumeClaim, Secret, ServiceAccount,
};
use kit_argo_types::Workflow;
use kit_diagnose::Level;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;

mod argo_server;
mod workspace;
pub use argo_server::run_server_checks;
pub use workspace::workflow_images_check;

use crate::errors::{describe, error_chain, forbidden, not_found, status_code};

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    /// Works, but something will bite later (e.g. ReadWriteOnce with parallel steps).
    Warn,
    Fail,
    /// The user has no right to look; not a failure.
    CouldNotCheck,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. `pvc-bound`.
    pub id: &'static str,
    pub outcome: Outcome,
    pub level: Level,
    /// One line saying what was checked and what was seen.
    pub summary: String,
    /// Verbatim facts from the cluster backing the summary.
    pub evidence: Vec<String>,
    /// What to do when the outcome is not Pass.
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &'static str, level: Level, outcome: Outcome, summary: impl Into<String>) -> Self {
        Check {
            id,
            outcome,
            level,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
        }
    }
    fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// What the checks look for; names come from the resolved configuration.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub namespace: String,
    pub service_account: Option<String>,
    pub volume_claim: Option<String>,
    /// Some workflow runs steps in parallel on the PVC (ReadWriteOnce would serialise them).
    pub parallel_steps_on_pvc: bool,
    pub configmap: Option<String>,
    pub configmap_keys: Vec<String>,
    /// The registry the workflows' images come from (`host[:port]`): the service
    /// account needs a pull secret for it.
    pub registry_host: Option<String>,
    /// Submit a canary workflow and wait this long for the controller to act.
    pub canary: Option<Duration>,
    /// How long a workflow may stay without status before the controller is suspect.
    pub controller_grace: Duration,
}

/// The proxy keys the team's workflows read from the ConfigMap.
pub const PROXY_KEYS: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Rights the toolkit itself needs in the namespace: (verb, group, resource, subresource, why).
const USER_RIGHTS: [(&str, &str, &str, &str, &str); 11] = [
    ("create", "argoproj.io", "workflows", "", "run"),
    ("get", "argoproj.io", "workflows", "", "run"),
    ("watch", "argoproj.io", "workflows", "", "run"),
    (
        "patch",
        "argoproj.io",
        "workflows",
        "",
        "run --stop-on-interrupt",
    ),
    ("list", "", "pods", "", "run"),
    ("watch", "", "pods", "", "run"),
    ("list", "", "events", "", "run"),
    ("get", "", "pods", "log", "run --logs"),
    ("create", "", "pods", "", "fetch-results"),
    ("create", "", "pods", "exec", "fetch-results"),
    ("delete", "", "pods", "", "fetch-results"),
];

/// Rights Argo's executor needs as the workflow service account.
const EXECUTOR_RIGHTS: [(&str, &str, &str); 3] = [
    ("create", "argoproj.io", "workflowtaskresults"),
    ("patch", "argoproj.io", "workflowtaskresults"),
    ("get", "", "pods"),
];

/// Runs every check in order. The connection check gates the rest: without an API
/// server nothing else can be learnt.
pub async fn run_checks(client: &kube::Client, want: &Expectations) -> Vec<Check> {
    let mut checks = vec![];
    let connection = check_connection(client).await;
    let connected = connection.outcome == Outcome::Pass;
    checks.push(connection);
    if !connected {
        return checks;
    }
    checks.push(check_namespace(client, &want.namespace).await);
    let argo = check_argo_installed(client).await;
    let argo_installed = argo.outcome == Outcome::Pass;
    checks.push(argo);
    if argo_installed {
        checks.push(check_controller(client, want).await);
    }
    checks.push(check_user_rights(client, &want.namespace).await);
    if let Some(sa) = &want.service_account {
        checks.push(check_service_account(client, &want.namespace, sa).await);
        checks.push(check_executor_rights(client, &want.namespace, sa).await);
        if let Some(host) = &want.registry_host {
            checks.push(check_pull_secret(client, &want.namespace, sa, host).await);
        }
    }
    if let Some(pvc) = &want.volume_claim {
        checks.push(check_pvc(client, &want.namespace, pvc, want.parallel_steps_on_pvc).await);
    }
    if let Some(cm) = &want.configmap {
        checks.push(check_configmap(client, &want.namespace, cm, &want.configmap_keys).await);
    }
    checks.push(check_nodes(client).await);
    checks
}

async fn check_connection(client: &kube::Client) -> Check {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match api.create(&PostParams::default(), &review).await {
        Ok(review) => {
            let info = review.status.and_then(|s| s.user_info).unwrap_or_default();
            let user = info.username.unwrap_or_else(|| "(unnamed)".into());
            let groups = info.groups.unwrap_or_default().join(", ");
            Check::new(
                "api-server",
                Level::User,
                Outcome::Pass,
                format!("API server reachable, authenticated as {user}"),
            )
            .evidence(format!("groups: {groups}"))
        }
        Err(err) => connection_failure(&err),
    }
}

/// Sorts a failed first request into unreachable, untrusted, or refused credentials.
fn connection_failure(err: &kube::Error) -> Check {
    let text = error_chain(err);
    let lower = text.to_lowercase();
    match status_code(err) {
        Some(401) => Check::new("api-server", Level::User, Outcome::Fail, "the API server refused the credentials (401 Unauthorized)")
            .evidence(text)
            .fix("the token or certificate in your kubeconfig is wrong or expired: download a fresh kubeconfig from the cluster's portal"),
        Some(403) => Check::new("api-server", Level::User, Outcome::Pass, "API server reachable; identity review not allowed")
            .evidence(text),
        _ if lower.contains("certificate") || lower.contains("x509") || lower.contains("unknownissuer") => {
            Check::new("api-server", Level::User, Outcome::Fail, "the API server's TLS certificate is not trusted")
                .evidence(text)
                .fix("the kubeconfig's certificate-authority-data does not match the cluster: get the cluster's kubeconfig again")
        }
        _ => Check::new("api-server", Level::Kubernetes, Outcome::Fail, "the API server cannot be reached")
            .evidence(text)
            .fix("check the server address in your kubeconfig and your network (VPN?); `kubectl cluster-info` shows the same"),
    }
}

async fn check_namespace(client: &kube::Client, namespace: &str) -> Check {
    let api: Api<Namespace> = Api::all(client.clone());
    match api.get(namespace).await {
        Ok(ns) => {
            let phase = ns.status.and_then(|s| s.phase).unwrap_or_default();
            Check::new("namespace", Level::User, Outcome::Pass, format!("namespace {namespace} exists ({phase})"))
        }
        Err(err) if not_found(&err) => Check::new("namespace", Level::User, Outcome::Fail, format!("namespace {namespace} does not exist"))
            .evidence(describe(&err))
            .fix("set the namespace your cluster account was given: ARGO_NAMESPACE, argo_namespace in hera.config, or --namespace"),
        // Namespaced users may not read namespaces; being allowed to list workflows
        // there is the next best proof that the namespace is usable.
        Err(err) if forbidden(&err) => match can(client, namespace, "list", "argoproj.io", "workflows", "").await {
            Ok(true) => Check::new("namespace", Level::User, Outcome::Pass, format!("namespace {namespace} is usable (you may list workflows there)")),
            Ok(false) => Check::new("namespace", Level::User, Outcome::Fail, format!("you have no rights in namespace {namespace}"))
                .fix("check the namespace name, or ask the cluster admins for a RoleBinding there"),
            Err(_) => Check::new("namespace", Level::User, Outcome::CouldNotCheck, format!("could not check namespace {namespace} (no right to get namespaces)")),
        },
        Err(err) => Check::new("namespace", Level::User, Outcome::Fail, format!("cannot read namespace {namespace}")).evidence(describe(&err)),
    }
}

async fn check_argo_installed(client: &kube::Client) -> Check {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow");
    // Discovery is open to every authenticated user, unlike reading CRDs.
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok(_) => Check::new("argo-installed", Level::ArgoServer, Outcome::Pass, "Argo Workflows API argoproj.io/v1alpha1 Workflow is served"),
        Err(err) => Check::new("argo-installed", Level::ArgoServer, Outcome::Fail, "the cluster does not serve argoproj.io/v1alpha1 Workflow: Argo Workflows is not installed")
            .evidence(describe(&err))
            .fix("ask the cluster admins to install Argo Workflows (its CRDs and workflow-controller)"),
    }
}

async fn check_controller(client: &kube::Client, want: &Expectations) -> Check {
    let api: Api<Workflow> = Api::namespaced(client.clone(), &want.namespace);
    match want.canary {
        Some(limit) => canary(&api, &want.namespace, limit).await,
        None => recent_workflows_hint(&api, want.controller_grace).await,
    }
}

/// A one-step workflow that runs no pod: only the controller has to act.
fn canary_manifest() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "xtask-canary-", "labels": {"xtask.dev/canary": "true"}},
        "spec": {
            "entrypoint": "canary",
            "activeDeadlineSeconds": 60,
            "templates": [{"name": "canary", "suspend": {"duration": "0"}}]
        }
    })
}

/// Submits a one-step workflow and waits for the controller to give it a phase.
async fn canary(api: &Api<Workflow>, namespace: &str, limit: Duration) -> Check {
    let workflow: Workflow = match serde_json::from_value(canary_manifest()) {
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
    let created = match api.create(&PostParams::default(), &workflow).await {
        Ok(w) => w,
        Err(err) => {
            return controller_check_refused(
                &err,
                "could not submit the canary workflow (no right to create workflows)",
                "the canary workflow was refused",
            );
        }
    };
    let name = created.metadata.name.clone().unwrap_or_default();
    let started = Instant::now();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let acted = tokio::time::timeout(limit, async {
        let mut stream = watcher(api.clone(), config).applied_objects().boxed();
        while let Ok(Some(obj)) = stream.try_next().await {
            if let Some(phase) = phase_of(&obj) {
                return Some(phase);
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let _ = api.delete(&name, &DeleteParams::default()).await;
    match acted {
        Some(phase) => Check::new(
            "argo-controller",
            Level::ArgoServer,
            Outcome::Pass,
            format!("the workflow-controller acted on canary {name} in {} ms ({phase})", started.elapsed().as_millis()),
        ),
        None => Check::new(
            "argo-controller",
            Level::ArgoServer,
            Outcome::Fail,
            format!("no workflow-controller acted on canary {name} within {} s", limit.as_secs()),
        )
        .evidence(format!("workflow {namespace}/{name} stayed without status.phase"))
        .fix("the controller is down, not watching this namespace, or uses another instanceID: ask the cluster admins to check the workflow-controller's logs"),
    }
}

fn phase_of(obj: &Workflow) -> Option<String> {
    obj.status
        .as_ref()
        .and_then(|s| s.phase.as_ref())
        .map(|p| p.to_string())
        .filter(|p| !p.is_empty())
}

/// A workflow API call of the controller check failed: without the right it is "could
/// not check" (the user's business); any other error fails the check.
fn controller_check_refused(err: &kube::Error, no_right: &str, failed: &str) -> Check {
    let (level, outcome, summary) = if forbidden(err) {
        (Level::User, Outcome::CouldNotCheck, no_right)
    } else {
        (Level::ArgoServer, Outcome::Fail, failed)
    };
    Check::new("argo-controller", level, outcome, summary).evidence(describe(err))
}

/// Without a canary, the recent workflows tell whether a controller handles the namespace.
async fn recent_workflows_hint(api: &Api<Workflow>, grace: Duration) -> Check {
    let list = match api.list(&ListParams::default().limit(50)).await {
        Ok(list) => list,
        Err(err) => {
            return controller_check_refused(
                &err,
                "could not check the controller (no right to list workflows)",
                "cannot list workflows",
            );
        }
    };
    let now = k8s_openapi::jiff::Timestamp::now();
    let mut handled = None;
    let mut ignored = vec![];
    for wf in &list.items {
        let name = wf.metadata.name.clone().unwrap_or_default();
        let age = wf
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| now.duration_since(t.0).as_secs().max(0) as u64)
            .unwrap_or(0);
        match phase_of(wf) {
            Some(phase) => handled = Some(format!("{name} ({phase})")),
            None if age > grace.as_secs() => {
                ignored.push(format!("{name}: no status after {age} s"))
            }
            None => {}
        }
    }
    if !ignored.is_empty() {
        let mut check = Check::new("argo-controller", Level::ArgoServer, Outcome::Fail, "workflows in this namespace stay without status: no controller is acting on them")
            .fix("the workflow-controller is down, not watching this namespace, or uses another instanceID: ask the cluster admins; `cargo xtask doctor --canary` confirms");
        check.evidence = ignored;
        return check;
    }
    match handled {
        Some(seen) => Check::new("argo-controller", Level::ArgoServer, Outcome::Pass, format!("a controller handled recent workflow {seen}"))
            .evidence("hint only: `--canary` proves it now"),
        None => Check::new("argo-controller", Level::ArgoServer, Outcome::CouldNotCheck, "no recent workflow to judge the controller by")
            .fix("run `cargo xtask doctor --canary` to submit a tiny workflow and see the controller act"),
    }
}

/// Asks the API server whether the current user may do `verb` on a resource.
async fn can(
    client: &kube::Client,
    namespace: &str,
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
) -> Result<bool, kube::Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(attributes(namespace, verb, group, resource, subresource)),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn attributes(
    namespace: &str,
    verb: &str,
    group: &str,
    resource: &str,
    subresource: &str,
) -> ResourceAttributes {
    ResourceAttributes {
        namespace: Some(namespace.to_string()),
        verb: Some(verb.to_string()),
        group: Some(group.to_string()),
        resource: Some(resource.to_string()),
        subresource: (!subresource.is_empty()).then(|| subresource.to_string()),
        ..Default::default()
    }
}

fn right_name(verb: &str, group: &str, resource: &str, subresource: &str) -> String {
    let resource = if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    };
    if group.is_empty() {
        format!("{verb} {resource}")
    } else {
        format!("{verb} {resource}.{group}")
    }
}

async fn check_user_rights(client: &kube::Client, namespace: &str) -> Check {
    let mut missing = vec![];
    for (verb, group, resource, sub, why) in USER_RIGHTS {
        match can(client, namespace, verb, group, resource, sub).await {
            Ok(true) => {}
            Ok(false) => missing.push(format!(
                "{} (needed by {why})",
                right_name(verb, group, resource, sub)
            )),
            Err(err) => {
                return Check::new(
                    "user-rights",
                    Level::User,
                    Outcome::CouldNotCheck,
                    "could not review your rights (SelfSubjectAccessReview refused)",
                )
                .evidence(describe(&err));
            }
        }
    }
    if missing.is_empty() {
        Check::new(
            "user-rights",
            Level::User,
            Outcome::Pass,
            format!(
                "you have the {} rights the toolkit needs in {namespace}",
                USER_RIGHTS.len()
            ),
        )
    } else {
        let mut check = Check::new("user-rights", Level::User, Outcome::Fail, format!("you lack {} right(s) in namespace {namespace}", missing.len()))
            .fix(format!("ask the cluster admins to grant these rights in {namespace} (a Role and RoleBinding for your user)"));
        check.evidence = missing;
        check
    }
}

async fn check_service_account(client: &kube::Client, namespace: &str, sa: &str) -> Check {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    match api.get(sa).await {
        Ok(_) => Check::new("service-account", Level::User, Outcome::Pass, format!("service account {sa} exists")),
        Err(err) if not_found(&err) => Check::new("service-account", Level::User, Outcome::Fail, format!("service account {sa} does not exist in {namespace}"))
            .evidence(describe(&err))
            .fix(format!("use the service account the admins made for workflows (ARGO_SERVICE_ACCOUNT, argo_service_account in hera.config), or ask them to create {sa}")),
        Err(err) if forbidden(&err) => Check::new("service-account", Level::User, Outcome::CouldNotCheck, format!("could not check service account {sa} (no right to get serviceaccounts)")),
        Err(err) => Check::new("service-account", Level::User, Outcome::Fail, format!("cannot read service account {sa}")).evidence(describe(&err)),
    }
}

/// Whether the workflow service account's pods can pull from the registry: one of its
/// image pull secrets must hold credentials for that host (a private Harbor project
/// answers 401 to a pull without them: ImagePullBackOff on every step).
async fn check_pull_secret(client: &kube::Client, namespace: &str, sa: &str, host: &str) -> Check {
    const ID: &str = "pull-secret";
    let create = format!(
        "kubectl -n {namespace} create secret docker-registry harbor-pull --docker-server={host} --docker-username='robot$PROJECT+NAME' --docker-password=…; \
         kubectl -n {namespace} patch serviceaccount {sa} -p '{{\"imagePullSecrets\":[{{\"name\":\"harbor-pull\"}}]}}' (or ask the admins)"
    );
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let names: Vec<String> = match accounts.get(sa).await {
        Ok(account) => account
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .filter(|n| !n.is_empty())
            .collect(),
        Err(err) => {
            return Check::new(
                ID,
                Level::User,
                Outcome::CouldNotCheck,
                format!("could not read service account {sa}'s image pull secrets"),
            )
            .evidence(describe(&err));
        }
    };
    if names.is_empty() {
        return Check::new(ID, Level::User, Outcome::Fail, format!("service account {sa} has no image pull secret: pods cannot pull from {host} unless its projects are public"))
            .fix(format!("give it one with a robot account's pull credentials: {create}"));
    }
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut seen = vec![];
    let mut unreadable = vec![];
    for name in &names {
        match secrets.get(name).await {
            Ok(secret) => match PullSecretHosts::read(&secret) {
                Ok(hosts) if hosts.covers(host) => {
                    return Check::new(
                        ID,
                        Level::User,
                        Outcome::Pass,
                        format!("service account {sa} pulls from {host} with secret {name}"),
                    );
                }
                Ok(hosts) => seen.push(format!(
                    "secret {name}: credentials for {}",
                    hosts.describe()
                )),
                Err(why) => seen.push(format!("secret {name}: {why}")),
            },
            Err(err) if not_found(&err) => {
                seen.push(format!("secret {name}: listed by {sa} but does not exist"))
            }
            Err(err) => unreadable.push(format!("secret {name}: {}", describe(&err))),
        }
    }
    if seen.is_empty() {
        let mut check = Check::new(
            ID,
            Level::User,
            Outcome::CouldNotCheck,
            format!(
                "could not read the pull secrets of {sa} ({})",
                names.join(", ")
            ),
        );
        check.evidence = unreadable;
        return check;
    }
    let mut check = Check::new(
        ID,
        Level::User,
        Outcome::Fail,
        format!("no image pull secret of service account {sa} holds credentials for {host}"),
    )
    .fix(format!("add a pull secret for {host}: {create}"));
    check.evidence = seen.into_iter().chain(unreadable).collect();
    check
}

/// The registry hosts a pull secret holds credentials for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PullSecretHosts(Vec<String>);

impl PullSecretHosts {
    /// Reads a `kubernetes.io/dockerconfigjson` (`{"auths":{HOST:…}}`) or legacy
    /// `kubernetes.io/dockercfg` (`{HOST:…}`) secret.
    pub(crate) fn read(secret: &Secret) -> Result<Self, String> {
        let data = secret.data.as_ref();
        let (json, nested) = match (
            data.and_then(|d| d.get(".dockerconfigjson")),
            data.and_then(|d| d.get(".dockercfg")),
        ) {
            (Some(j), _) => (j, true),
            (None, Some(j)) => (j, false),
            (None, None) => {
                return Err(format!(
                    "not a docker-registry secret (type {})",
                    secret.type_.as_deref().unwrap_or("unknown")
                ));
            }
        };
        Self::parse(&json.0, nested)
    }

    pub(crate) fn parse(json: &[u8], nested: bool) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| format!("unreadable docker configuration: {e}"))?;
        let map = if nested {
            value.get("auths")
        } else {
            Some(&value)
        };
        let hosts = map
            .and_then(|m| m.as_object())
            .map(|m| m.keys().map(|k| normalise_registry_key(k)).collect())
            .unwrap_or_default();
        Ok(PullSecretHosts(hosts))
    }

    /// Whether one entry is for `host` (`host[:port]`). Docker Hub's legacy key
    /// (`https://index.docker.io/v1/`) counts for `docker.io`.
    pub(crate) fn covers(&self, host: &str) -> bool {
        let host = normalise_registry_key(host);
        self.0.contains(&host)
    }

    fn describe(&self) -> String {
        if self.0.is_empty() {
            "no registry".into()
        } else {
            self.0.join(", ")
        }
    }
}

/// `https://HOST:PORT/v1/` → `host:port`, as the kubelet matches keys.
fn normalise_registry_key(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        _ => host,
    }
}

async fn check_executor_rights(client: &kube::Client, namespace: &str, sa: &str) -> Check {
    let api: Api<LocalSubjectAccessReview> = Api::namespaced(client.clone(), namespace);
    let user = format!("system:serviceaccount:{namespace}:{sa}");
    let mut missing = vec![];
    for (verb, group, resource) in EXECUTOR_RIGHTS {
        let review = LocalSubjectAccessReview {
            metadata: Default::default(),
            spec: SubjectAccessReviewSpec {
                user: Some(user.clone()),
                resource_attributes: Some(attributes(namespace, verb, group, resource, "")),
                ..Default::default()
            },
            status: None,
        };
        match api.create(&PostParams::default(), &review).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => missing.push(right_name(verb, group, resource, "")),
            Err(err) => {
                return Check::new("executor-rights", Level::ArgoServer, Outcome::CouldNotCheck, format!("could not check the rights of {sa} (no right to create localsubjectaccessreviews)"))
                    .evidence(describe(&err));
            }
        }
    }
    if missing.is_empty() {
        Check::new(
            "executor-rights",
            Level::ArgoServer,
            Outcome::Pass,
            format!("service account {sa} has the rights Argo's executor needs"),
        )
    } else {
        let mut check = Check::new(
            "executor-rights",
            Level::ArgoServer,
            Outcome::Fail,
            format!(
                "service account {sa} lacks rights Argo's executor needs: steps will fail or hang"
            ),
        )
        .fix(format!(
            "ask the cluster admins to bind a Role with these rights to {user}"
        ));
        check.evidence = missing;
        check
    }
}

async fn check_pvc(client: &kube::Client, namespace: &str, name: &str, parallel: bool) -> Check {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let pvc = match api.get(name).await {
        Ok(pvc) => pvc,
        Err(err) if not_found(&err) => {
            return Check::new("pvc", Level::User, Outcome::Fail, format!("PersistentVolumeClaim {name} does not exist in {namespace}"))
                .evidence(describe(&err))
                .fix("`cargo xtask doctor --fix` creates it from workflows/resources/pvc.yaml, or set KUBEVOLUMECLAIMNAME to an existing claim");
        }
        Err(err) if forbidden(&err) => {
            return Check::new(
                "pvc",
                Level::User,
                Outcome::CouldNotCheck,
                format!("could not check PVC {name} (no right to get persistentvolumeclaims)"),
            );
        }
        Err(err) => {
            return Check::new(
                "pvc",
                Level::User,
                Outcome::Fail,
                format!("cannot read PVC {name}"),
            )
            .evidence(describe(&err));
        }
    };
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let modes = pvc
        .spec
        .as_ref()
        .and_then(|s| s.access_modes.clone())
        .unwrap_or_default();
    if phase != "Bound" {
        let mut check = Check::new("pvc", Level::User, Outcome::Fail, format!("PVC {name} is {phase}, not Bound: steps that mount it will wait forever"))
            .fix("a Pending claim has no volume: check its storageClassName and size, or ask the admins for a volume/provisioner");
        check.evidence = events_for(client, namespace, "PersistentVolumeClaim", name).await;
        return check;
    }
    let size = pvc
        .status
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default();
    let rwo_only = !modes.is_empty()
        && modes
            .iter()
            .all(|m| m == "ReadWriteOnce" || m == "ReadWriteOncePod");
    let summary = format!("PVC {name} is Bound ({size}, {})", modes.join(", "));
    if rwo_only && parallel {
        Check::new("pvc", Level::User, Outcome::Warn, summary)
            .evidence("a workflow of workflows/ runs parallel steps on this claim")
            .fix("ReadWriteOnce lets only one node mount it: parallel steps on other nodes will wait; use a ReadWriteMany claim")
    } else {
        Check::new("pvc", Level::User, Outcome::Pass, summary)
    }
}

/// The Warning/Normal events about one object, verbatim, newest last.
async fn events_for(client: &kube::Client, namespace: &str, kind: &str, name: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    match api.list(&ListParams::default().fields(&selector)).await {
        Ok(list) => list
            .items
            .into_iter()
            .map(|e| {
                format!(
                    "{} {}: {}",
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default()
                )
            })
            .collect(),
        Err(err) => vec![format!("events not readable: {err}")],
    }
}

async fn check_configmap(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    keys: &[String],
) -> Check {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(cm) => {
            let data: BTreeMap<String, String> = cm.data.unwrap_or_default();
            let missing: Vec<&String> = keys.iter().filter(|k| !data.contains_key(*k)).collect();
            if missing.is_empty() {
                Check::new("configmap", Level::User, Outcome::Pass, format!("ConfigMap {name} has the {} expected keys", keys.len()))
            } else {
                let names: Vec<&str> = missing.iter().map(|k| k.as_str()).collect();
                Check::new("configmap", Level::User, Outcome::Fail, format!("ConfigMap {name} lacks key(s) {}", names.join(", ")))
                    .evidence(format!("keys present: {}", data.keys().cloned().collect::<Vec<_>>().join(", ")))
                    .fix("pods reading a missing key fail with CreateContainerConfigError: add the keys, or `cargo xtask doctor --fix` to apply workflows/resources/configmap.yaml")
            }
        }
        Err(err) if not_found(&err) => Check::new("configmap", Level::User, Outcome::Fail, format!("ConfigMap {name} does not exist in {namespace}"))
            .evidence(describe(&err))
            .fix("`cargo xtask doctor --fix` creates it from workflows/resources/configmap.yaml, or set KUBECONFIGMAP to an existing one"),
        Err(err) if forbidden(&err) => Check::new("configmap", Level::User, Outcome::CouldNotCheck, format!("could not check ConfigMap {name} (no right to get configmaps)")),
        Err(err) => Check::new("configmap", Level::User, Outcome::Fail, format!("cannot read ConfigMap {name}")).evidence(describe(&err)),
    }
}

async fn check_nodes(client: &kube::Client) -> Check {
    let api: Api<Node> = Api::all(client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let not_ready: Vec<String> = list
                .items
                .iter()
                .filter(|n| !node_ready(n))
                .map(|n| n.metadata.name.clone().unwrap_or_default())
                .collect();
            if list.items.is_empty() {
                Check::new(
                    "nodes",
                    Level::Kubernetes,
                    Outcome::Fail,
                    "the cluster has no node",
                )
                .fix("ask the cluster admins")
            } else if not_ready.is_empty() {
                Check::new(
                    "nodes",
                    Level::Kubernetes,
                    Outcome::Pass,
                    format!("{} node(s) Ready", list.items.len()),
                )
            } else {
                Check::new(
                    "nodes",
                    Level::Kubernetes,
                    Outcome::Warn,
                    format!(
                        "{} of {} node(s) not Ready",
                        not_ready.len(),
                        list.items.len()
                    ),
                )
                .evidence(not_ready.join(", "))
                .fix("pods sent to those nodes will not start: tell the cluster admins")
            }
        }
        Err(err) if forbidden(&err) => Check::new(
            "nodes",
            Level::Kubernetes,
            Outcome::CouldNotCheck,
            "could not check nodes (no right to list nodes, as usual for namespaced users)",
        ),
        Err(err) => Check::new(
            "nodes",
            Level::Kubernetes,
            Outcome::Fail,
            "cannot list nodes",
        )
        .evidence(describe(&err)),
    }
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `doctor --fix`: creates a workspace manifest's object under the configured name when
/// it is missing. A plain create (not server-side apply) needs only the `create` right,
/// which namespaced users have where `patch` may be refused, and it never touches an
/// object that exists. Returns what was done, for the report.
pub async fn apply_if_missing(
    client: &kube::Client,
    namespace: &str,
    manifest: &std::path::Path,
    name: &str,
) -> Result<Option<String>, FixError> {
    let text = std::fs::read_to_string(manifest).map_err(|source| FixError::Read {
        path: manifest.to_path_buf(),
        source,
    })?;
    let mut object: DynamicObject = serde_saphyr::from_str(&text).map_err(|e| FixError::Parse {
        path: manifest.to_path_buf(),
        message: e.to_string(),
    })?;
    let gvk = object
        .types
        .as_ref()
        .map(GroupVersionKind::try_from)
        .transpose()
        .map_err(|e| FixError::Parse {
            path: manifest.to_path_buf(),
            message: e.to_string(),
        })?
        .ok_or_else(|| FixError::Parse {
            path: manifest.to_path_buf(),
            message: "no apiVersion/kind".into(),
        })?;
    let resource = ApiResource::from_gvk(&gvk);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    match api.get_opt(name).await {
        Ok(Some(_)) => return Ok(None),
        Ok(None) => {}
        Err(source) => {
            return Err(FixError::Api {
                kind: gvk.kind,
                name: name.into(),
                message: describe(&source),
            });
        }
    }
    object.metadata.name = Some(name.to_string());
    object.metadata.namespace = Some(namespace.to_string());
    object.metadata.resource_version = None;
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|source| FixError::Api {
            kind: gvk.kind.clone(),
            name: name.into(),
            message: describe(&source),
        })?;
    Ok(Some(format!(
        "created {} {namespace}/{name} from {}",
        gvk.kind,
        manifest.display()
    )))
}

#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Kubernetes manifest: {message}")]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("creating {kind} {name}: {message}")]
    Api {
        kind: String,
        name: String,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_secret_hosts_match_as_the_kubelet_does() {
        let json = br#"{"auths":{"https://harbor.pagoda.os.univ-lyon1.fr/v1/":{"auth":"x"},"127.0.0.1:5443":{"auth":"y"}}}"#;
        let hosts = PullSecretHosts::parse(json, true).unwrap();
        assert!(hosts.covers("harbor.pagoda.os.univ-lyon1.fr"));
        assert!(hosts.covers("HARBOR.pagoda.os.univ-lyon1.fr"));
        assert!(hosts.covers("127.0.0.1:5443"));
        assert!(!hosts.covers("127.0.0.1:5444"));
        assert!(!hosts.covers("harbor.example"));
        let legacy =
            PullSecretHosts::parse(br#"{"https://index.docker.io/v1/":{}}"#, false).unwrap();
        assert!(legacy.covers("docker.io"));
        assert!(
            PullSecretHosts::parse(b"{", true)
                .unwrap_err()
                .contains("unreadable")
        );
        assert_eq!(
            PullSecretHosts::parse(br#"{"other":1}"#, true)
                .unwrap()
                .describe(),
            "no registry"
        );
    }

    #[test]
    fn a_secret_of_another_type_is_named() {
        let secret = Secret {
            type_: Some("Opaque".into()),
            ..Default::default()
        };
        let err = PullSecretHosts::read(&secret).unwrap_err();
        assert!(err.contains("type Opaque"), "{err}");
    }
}

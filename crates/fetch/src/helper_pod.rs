//! The pod commands run in: a short-lived helper that mounts the claim (created, waited
//! for with a watch, always deleted), or a running pod of the user's (`--pod`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    Container, EnvVar, Event, LocalObjectReference, PersistentVolumeClaim,
    PersistentVolumeClaimVolumeSource, Pod, PodSpec, ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kit_diagnose::{DiagnoseConfig, Finding, LABEL_WORKFLOW, Snapshot, WorkflowView};
use kube::api::{Api, AttachParams, DeleteParams, ListParams, PostParams};
use kube::runtime::wait::await_condition;

use super::error::{FetchError, is_forbidden, is_not_found, missing_right};

/// Labels every helper pod carries, so that leftovers can be found.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_ROLE: &str = "xtask.dev/role";
pub const ROLE_FETCH_HELPER: &str = "fetch-helper";
/// The label selector of helper pods.
pub const HELPER_SELECTOR: &str = "app.kubernetes.io/managed-by=xtask,xtask.dev/role=fetch-helper";
/// The helper's only container.
pub const HELPER_CONTAINER: &str = "fetch";

/// How to make the helper pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperSpec {
    /// An image with `sh`, `find`, `stat`, `sha256sum` and `tar` (busybox has them),
    /// e.g. `harbor.pagoda.os.univ-lyon1.fr/vcity/busybox:1`.
    pub image: String,
    /// How long the pod may take to be Running before its diagnosis is returned.
    pub start_timeout: Duration,
    /// The pod ends by itself after this long even if nobody deletes it.
    pub lifetime: Duration,
    /// Mount the claim read-only (fetch and list); deleting needs it writable.
    pub read_only: bool,
    pub image_pull_secrets: Vec<String>,
    /// The service account the pod runs as: the workflows' own, so the helper pulls its
    /// image with the same pull secrets as the workflow's pods (none: the namespace's
    /// `default`). Its token is never mounted.
    pub service_account: Option<String>,
    /// Added to the pod's labels (e.g. the local stack's fault labels in tests).
    pub extra_labels: BTreeMap<String, String>,
}

impl HelperSpec {
    pub fn new(image: impl Into<String>) -> Self {
        HelperSpec {
            image: image.into(),
            start_timeout: Duration::from_secs(120),
            lifetime: Duration::from_secs(4 * 3600),
            read_only: true,
            image_pull_secrets: Vec::new(),
            service_account: None,
            extra_labels: BTreeMap::new(),
        }
    }
}

/// The helper pod's manifest. The API server picks the name (`xtask-fetch-…`).
pub fn helper_pod(spec: &HelperSpec, claim: &str, mount_path: &str) -> Pod {
    let mut labels = spec.extra_labels.clone();
    labels.insert(LABEL_MANAGED_BY.into(), "xtask".into());
    labels.insert(LABEL_ROLE.into(), ROLE_FETCH_HELPER.into());
    let lifetime = spec.lifetime.as_secs().max(60);
    let quantity = |s: &str| Quantity(s.to_string());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some("xtask-fetch-".into()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "xtask.dev/claim".to_string(),
                claim.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            // A helper whose deletion was missed (killed client) still goes away.
            active_deadline_seconds: Some(lifetime as i64),
            termination_grace_period_seconds: Some(1),
            automount_service_account_token: Some(false),
            service_account_name: spec.service_account.clone(),
            enable_service_links: Some(false),
            image_pull_secrets: (!spec.image_pull_secrets.is_empty()).then(|| {
                spec.image_pull_secrets
                    .iter()
                    .map(|n| LocalObjectReference { name: n.clone() })
                    .collect()
            }),
            containers: vec![Container {
                name: HELPER_CONTAINER.into(),
                image: Some(spec.image.clone()),
                // A plain `sleep` as the first process ignores SIGTERM, and the kubelet
                // would wait out the grace period before killing it: the trap ends it
                // at once, so that the deletion is over in well under a second.
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "trap 'exit 0' TERM; sleep \"$1\" & wait".into(),
                    "xtask-helper".into(),
                    lifetime.to_string(),
                ]),
                // What tells the start probe (`answers_exec`) it reached this container.
                env: Some(vec![EnvVar {
                    name: HELPER_MARK.into(),
                    value: Some("1".into()),
                    ..EnvVar::default()
                }]),
                volume_mounts: Some(vec![VolumeMount {
                    name: "pvc".into(),
                    mount_path: mount_path.into(),
                    read_only: Some(spec.read_only),
                    ..VolumeMount::default()
                }]),
                // Namespaces with a ResourceQuota refuse pods without requests and limits.
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".to_string(), quantity("100m")),
                        ("memory".to_string(), quantity("64Mi")),
                    ])),
                    limits: Some(BTreeMap::from([
                        ("cpu".to_string(), quantity("1")),
                        ("memory".to_string(), quantity("256Mi")),
                    ])),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            volumes: Some(vec![Volume {
                name: "pvc".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.into(),
                    read_only: Some(spec.read_only),
                }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
        status: None,
    }
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// The pod runs and its container is started.
pub fn is_running(pod: &Pod) -> bool {
    phase(pod) == "Running"
        && pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.name == HELPER_CONTAINER
                        && c.state.as_ref().is_some_and(|s| s.running.is_some())
                })
            })
}

/// Container waiting reasons that waiting longer will not cure.
const HOPELESS_WAITING: &[&str] = &[
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Why the pod will not start by itself, when it is already clear: an image that
/// cannot be pulled, a claim that is missing or unbound, a pod that ended.
pub fn hopeless(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if matches!(phase(pod), "Failed" | "Succeeded") {
        return Some(format!(
            "pod {}{}",
            phase(pod),
            status
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    for c in status.container_statuses.iter().flatten() {
        if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.as_deref().unwrap_or_default();
            if HOPELESS_WAITING.contains(&reason) {
                return Some(format!(
                    "{reason}: {}",
                    w.message.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    for cond in status.conditions.iter().flatten() {
        let message = cond.message.as_deref().unwrap_or_default();
        if cond.type_ == "PodScheduled"
            && cond.status == "False"
            && (kit_diagnose::parse::pvc_not_found(message).is_some()
                || kit_diagnose::parse::pvc_unbound(message))
        {
            return Some(format!("Unschedulable: {message}"));
        }
    }
    None
}

/// Phase and waiting reasons, in a few words.
pub fn describe_status(pod: &Pod) -> String {
    let mut text = phase(pod).to_string();
    let status = pod.status.as_ref();
    for c in status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            text.push_str(&format!(
                ", container {} waiting: {}",
                c.name,
                w.reason.as_deref().unwrap_or("?")
            ));
        }
    }
    for cond in status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
    {
        if cond.type_ == "PodScheduled" && cond.status == "False" {
            text.push_str(&format!(
                ", not scheduled: {}",
                cond.message.as_deref().unwrap_or_default()
            ));
        }
    }
    text
}

/// The diagnosis of a helper pod that did not start, reusing the workflow rules: the
/// pod is presented as the only step of a running workflow named after it. Grace
/// periods are zero: the caller has already waited its own time.
pub fn diagnose_pod(
    pod: &Pod,
    events: &[Event],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Finding> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let mut pod = pod.clone();
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(LABEL_WORKFLOW.into(), name.clone());
    let created = pod
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(to_chrono)
        .unwrap_or(now);
    let workflow = WorkflowView {
        name,
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        created,
        phase: Some("Running".into()),
        ..WorkflowView::default()
    };
    let config = DiagnoseConfig {
        pending_grace: Duration::ZERO,
        image_pull_grace: Duration::ZERO,
        silent_grace: Duration::ZERO,
        ..DiagnoseConfig::default()
    };
    let snapshot = Snapshot {
        now,
        workflow,
        pods: vec![std::sync::Arc::new(pod)],
        events: events.iter().cloned().map(std::sync::Arc::new).collect(),
        nodes: None,
        logs: BTreeMap::new(),
        config,
    };
    kit_diagnose::diagnose(&snapshot)
}

fn to_chrono(t: &Time) -> Option<chrono::DateTime<chrono::Utc>> {
    i64::try_from(t.0.as_nanosecond())
        .ok()
        .map(chrono::DateTime::from_timestamp_nanos)
}

/// The events about one object, verbatim.
pub(crate) async fn events_about(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    api.list(&ListParams::default().fields(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

pub(crate) fn event_line(e: &Event) -> String {
    format!(
        "{} {}: {}",
        e.type_.as_deref().unwrap_or_default(),
        e.reason.as_deref().unwrap_or_default(),
        e.message.as_deref().unwrap_or_default()
    )
}

/// Fails early, with the doctor's words, when the claim is missing or unbound. A user
/// who may not read claims goes on: the pod's own diagnosis will tell.
pub(crate) async fn check_claim(
    client: &kube::Client,
    namespace: &str,
    claim: &str,
) -> Result<(), FetchError> {
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let pvc = match api.get(claim).await {
        Ok(pvc) => pvc,
        Err(err) if is_not_found(&err) => {
            return Err(FetchError::PvcMissing {
                claim: claim.into(),
                namespace: namespace.into(),
            });
        }
        Err(err) if is_forbidden(&err) => return Ok(()),
        Err(err) => {
            return Err(FetchError::kube(
                format!("read PersistentVolumeClaim {claim} in {namespace}"),
                err,
            ));
        }
    };
    let phase = pvc
        .status
        .and_then(|s| s.phase)
        .unwrap_or_else(|| "Pending".into());
    if phase != "Bound" {
        let events = events_about(client, namespace, "PersistentVolumeClaim", claim).await;
        return Err(FetchError::PvcUnbound {
            claim: claim.into(),
            namespace: namespace.into(),
            phase,
            events: events.iter().map(event_line).collect(),
        });
    }
    Ok(())
}

/// A helper pod that is deleted when dropped (from a spawned task, since drop cannot
/// wait), unless [`HelperGuard::delete`] already did it.
pub(crate) struct HelperGuard {
    api: Api<Pod>,
    name: String,
    armed: bool,
}

impl HelperGuard {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the pod without waiting for it to be gone: its work is over, its command
    /// ends on the kubelet's signal, and the kubelet removes it within a few seconds;
    /// waiting would add those seconds to every fetch (they were most of a re-fetch
    /// with nothing changed).
    pub async fn delete(mut self) -> Result<(), FetchError> {
        self.armed = false;
        match self.api.delete(&self.name, &fast_delete()).await {
            Ok(_) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(FetchError::kube(
                format!("delete helper pod {}", self.name),
                err,
            )),
        }
    }
}

impl Drop for HelperGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Without a runtime (process exiting) the pod's activeDeadlineSeconds and
        // `cleanup_helper_pods` take over.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let api = self.api.clone();
            let name = std::mem::take(&mut self.name);
            handle.spawn(async move {
                let _ = api.delete(&name, &fast_delete()).await;
            });
        }
    }
}

fn fast_delete() -> DeleteParams {
    DeleteParams {
        grace_period_seconds: Some(1),
        ..DeleteParams::default()
    }
}

/// How long deletion is awaited before moving on (the pod goes away anyway).
const DELETE_WAIT: Duration = Duration::from_secs(20);

async fn delete_and_wait(api: &Api<Pod>, name: &str) -> Result<(), FetchError> {
    let uid = match api.delete(name, &fast_delete()).await {
        Ok(either) => either.left().and_then(|p| p.metadata.uid),
        Err(err) if is_not_found(&err) => return Ok(()),
        Err(err) => return Err(FetchError::kube(format!("delete helper pod {name}"), err)),
    };
    if let Some(uid) = uid {
        let gone = await_condition(
            api.clone(),
            name,
            kube::runtime::conditions::is_deleted(&uid),
        );
        let _ = tokio::time::timeout(DELETE_WAIT, gone).await;
    }
    Ok(())
}

/// Set in the helper's container only.
const HELPER_MARK: &str = "XTASK_FETCH_HELPER";

/// Resolves when a command runs in the helper's container and finds it is there (the
/// variable set in the pod spec: a simulated node may run commands elsewhere). The kubelet starts
/// the container about half a second after the pod is created but reports it only at
/// its next relist of the runtime (every second by default), and exec finds the
/// container through the runtime, not the reported status: trying every 100 ms wins
/// up to a second on each fetch. Slower after a few seconds, for a pod that pulls a
/// large image or waits for a node.
async fn answers_exec(api: &Api<Pod>, name: &str) {
    let params = AttachParams::default()
        .container(HELPER_CONTAINER)
        .stdout(false);
    let check = format!("[ \"${HELPER_MARK}\" = 1 ]");
    for attempt in 0u32.. {
        let pause = if attempt < 30 { 100 } else { 1000 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let Ok(mut process) = api.exec(name, ["sh", "-c", &check], &params).await else {
            continue;
        };
        let status = match process.take_status() {
            Some(status) => status.await,
            None => None,
        };
        if status.is_some_and(|s| s.status.as_deref() == Some("Success")) {
            return;
        }
    }
}

/// Deletes one helper pod by name and waits (up to 20 s) for it to be gone: for a CLI
/// that cancelled a fetch (see [`super::FetchEvent::HelperCreated`]).
pub async fn delete_helper_pod(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<(), FetchError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    delete_and_wait(&api, name).await
}

/// Creates the helper pod and waits, with a watch, until it runs. On failure the pod
/// is deleted and its diagnosis returned.
pub(crate) async fn start_helper(
    client: &kube::Client,
    namespace: &str,
    claim: &str,
    mount_path: &str,
    spec: &HelperSpec,
    on_created: &mut dyn FnMut(&str),
) -> Result<(HelperGuard, Duration), FetchError> {
    check_claim(client, namespace, claim).await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let manifest = helper_pod(spec, claim, mount_path);
    let started = Instant::now();
    let created = api
        .create(&PostParams::default(), &manifest)
        .await
        .map_err(|err| {
            if missing_right(&err) {
                FetchError::NoRight {
                    right: "create pods".into(),
                    namespace: namespace.into(),
                    needed: "start the helper pod that reads the PVC",
                    message: kit_cluster::errors::describe(&err),
                }
            } else {
                FetchError::kube(format!("create the helper pod in {namespace}"), err)
            }
        })?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let guard = HelperGuard {
        api: api.clone(),
        name: name.clone(),
        armed: true,
    };
    on_created(&name);
    let ready = await_condition(api.clone(), &name, |p: Option<&Pod>| {
        p.is_none_or(|p| is_running(p) || hopeless(p).is_some())
    });
    // Whichever comes first: the status says Running (or never will), or the
    // container answers.
    let ready = async {
        tokio::select! {
            seen = ready => Some(seen),
            () = answers_exec(&api, &name) => None,
        }
    };
    let seen = match tokio::time::timeout(spec.start_timeout, ready).await {
        Ok(None) => return Ok((guard, started.elapsed())),
        Ok(Some(Ok(Some(pod)))) if is_running(&pod) => return Ok((guard, started.elapsed())),
        Ok(Some(Ok(Some(pod)))) => Some(pod),
        Ok(Some(Ok(None))) => None,
        Ok(Some(Err(err))) => {
            guard.delete().await.ok();
            return Err(FetchError::Watch {
                what: format!("helper pod {name}"),
                message: kit_cluster::errors::error_chain(&err),
            });
        }
        Err(_elapsed) => api.get_opt(&name).await.ok().flatten(),
    };
    let events = events_about(client, namespace, "Pod", &name).await;
    let (status, findings) = match &seen {
        Some(pod) => (
            hopeless(pod).unwrap_or_else(|| describe_status(pod)),
            diagnose_pod(pod, &events, chrono::Utc::now()),
        ),
        None => ("deleted by someone else".to_string(), Vec::new()),
    };
    guard.delete().await.ok();
    Err(FetchError::HelperNotStarted {
        pod: name,
        waited: started.elapsed(),
        status,
        findings,
        events: events.iter().map(event_line).collect(),
    })
}

/// Checks that an existing pod runs and mounts the whole claim; returns the container
/// that mounts it and where.
pub(crate) async fn existing_pod(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    claim: &str,
) -> Result<(String, String), FetchError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = match api.get(name).await {
        Ok(pod) => pod,
        Err(err) if is_not_found(&err) => {
            return Err(FetchError::PodNotFound {
                pod: name.into(),
                namespace: namespace.into(),
            });
        }
        Err(err) if missing_right(&err) => {
            return Err(FetchError::NoRight {
                right: "get pods".into(),
                namespace: namespace.into(),
                needed: "check the pod given with --pod",
                message: kit_cluster::errors::describe(&err),
            });
        }
        Err(err) => return Err(FetchError::kube(format!("read pod {name}"), err)),
    };
    if phase(&pod) != "Running" {
        return Err(FetchError::PodNotRunning {
            pod: name.into(),
            phase: phase(&pod).into(),
        });
    }
    claim_mount(&pod, claim)
}

/// The container mounting `claim` in a pod's spec, and its mount path.
pub fn claim_mount(pod: &Pod, claim: &str) -> Result<(String, String), FetchError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let volumes = spec.and_then(|s| s.volumes.as_ref());
    let claims: Vec<(&str, &str)> = volumes
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let c = v.persistent_volume_claim.as_ref()?;
            Some((v.name.as_str(), c.claim_name.as_str()))
        })
        .collect();
    let Some((volume, _)) = claims.iter().find(|(_, c)| *c == claim) else {
        let mounted: Vec<&str> = claims.iter().map(|(_, c)| *c).collect();
        return Err(FetchError::PodLacksClaim {
            pod: name,
            claim: claim.into(),
            mounted: if mounted.is_empty() {
                "none".into()
            } else {
                mounted.join(", ")
            },
        });
    };
    let mut sub_path = None;
    for container in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        for mount in container.volume_mounts.iter().flatten() {
            if mount.name != *volume {
                continue;
            }
            match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
                None => return Ok((container.name.clone(), mount.mount_path.clone())),
                Some(sp) => sub_path = Some(sp.to_string()),
            }
        }
    }
    Err(match sub_path {
        Some(sub_path) => FetchError::PodMountsSubPath {
            pod: name,
            claim: claim.into(),
            sub_path,
        },
        None => FetchError::PodLacksClaim {
            pod: name,
            claim: claim.into(),
            mounted: format!("{claim} is a volume but no container mounts it"),
        },
    })
}

/// Deletes helper pods left behind (killed clients), older than `min_age`. Returns
/// their names.
pub async fn cleanup_helper_pods(
    client: &kube::Client,
    namespace: &str,
    min_age: Duration,
) -> Result<Vec<String>, FetchError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(HELPER_SELECTOR))
        .await
        .map_err(|err| {
            if missing_right(&err) {
                FetchError::NoRight {
                    right: "list pods".into(),
                    namespace: namespace.into(),
                    needed: "find leftover helper pods",
                    message: kit_cluster::errors::describe(&err),
                }
            } else {
                FetchError::kube(format!("list helper pods in {namespace}"), err)
            }
        })?;
    let now = chrono::Utc::now();
    let mut deleted = Vec::new();
    for pod in pods.items {
        let Some(name) = pod.metadata.name.clone() else {
            continue;
        };
        let age = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(to_chrono)
            .and_then(|t| (now - t).to_std().ok())
            .unwrap_or(Duration::MAX);
        if age < min_age || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        match api.delete(&name, &fast_delete()).await {
            Ok(_) => deleted.push(name),
            Err(err) if is_not_found(&err) => {}
            Err(err) if missing_right(&err) => {
                return Err(FetchError::NoRight {
                    right: "delete pods".into(),
                    namespace: namespace.into(),
                    needed: "remove leftover helper pods",
                    message: kit_cluster::errors::describe(&err),
                });
            }
            Err(err) => return Err(FetchError::kube(format!("delete helper pod {name}"), err)),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit_diagnose::Reason;

    fn pod_json(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn helper_manifest_mounts_the_claim_and_is_labelled() {
        let mut spec = HelperSpec::new("reg/vcity/busybox:1");
        spec.image_pull_secrets = vec!["harbor".into()];
        spec.service_account = Some("argo-workflow".into());
        let pod = helper_pod(&spec, "vcity-pvc", "/data");
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_MANAGED_BY], "xtask");
        assert_eq!(labels[LABEL_ROLE], ROLE_FETCH_HELPER);
        let s = pod.spec.as_ref().unwrap();
        assert_eq!(s.restart_policy.as_deref(), Some("Never"));
        assert!(s.active_deadline_seconds.unwrap() >= 60);
        let c = &s.containers[0];
        assert_eq!(c.image.as_deref(), Some("reg/vcity/busybox:1"));
        let m = &c.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(m.mount_path, "/data");
        assert_eq!(m.read_only, Some(true));
        let v = &s.volumes.as_ref().unwrap()[0];
        assert_eq!(
            v.persistent_volume_claim.as_ref().unwrap().claim_name,
            "vcity-pvc"
        );
        assert_eq!(
            claim_mount(&pod, "vcity-pvc").unwrap(),
            ("fetch".into(), "/data".into())
        );
        assert_eq!(s.image_pull_secrets.as_ref().unwrap()[0].name, "harbor");
        assert_eq!(s.service_account_name.as_deref(), Some("argo-workflow"));
        assert_eq!(s.automount_service_account_token, Some(false));
    }

    #[test]
    fn claim_mount_explains_what_the_pod_mounts() {
        let pod = pod_json(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "main", "volumeMounts": [{"name": "w", "mountPath": "/work", "subPath": "runs"}]}],
                "volumes": [{"name": "w", "persistentVolumeClaim": {"claimName": "vcity-pvc"}},
                            {"name": "o", "persistentVolumeClaim": {"claimName": "other"}}]
            }
        }));
        assert!(matches!(
            claim_mount(&pod, "vcity-pvc"),
            Err(FetchError::PodMountsSubPath { .. })
        ));
        let err = claim_mount(&pod, "missing").unwrap_err();
        assert!(
            err.to_string().contains("its claims: vcity-pvc, other"),
            "{err}"
        );
    }

    fn pending_pull_failure() -> Pod {
        pod_json(serde_json::json!({
            "metadata": {"name": "xtask-fetch-abc", "namespace": "argo", "uid": "u1",
                          "creationTimestamp": "2026-11-30T10:00:00Z"},
            "spec": {"containers": [{"name": "fetch", "image": "reg/vcity/busybox:nope"}]},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "fetch", "image": "reg/vcity/busybox:nope", "imageID": "", "ready": false,
                "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff",
                  "message": "Back-off pulling image \"reg/vcity/busybox:nope\": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image \"reg/vcity/busybox:nope\": failed to resolve reference \"reg/vcity/busybox:nope\": reg/vcity/busybox:nope: not found"}}
            }]}
        }))
    }

    #[test]
    fn image_pull_back_off_is_hopeless_and_diagnosed() {
        let pod = pending_pull_failure();
        assert!(!is_running(&pod));
        let why = hopeless(&pod).unwrap();
        assert!(why.starts_with("ImagePullBackOff"), "{why}");
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e1", "namespace": "argo"},
            "involvedObject": {"kind": "Pod", "name": "xtask-fetch-abc", "uid": "u1"},
            "type": "Warning", "reason": "Failed",
            "message": "Failed to pull image \"reg/vcity/busybox:nope\": rpc error: code = NotFound desc = failed to pull and unpack image \"reg/vcity/busybox:nope\": failed to resolve reference \"reg/vcity/busybox:nope\": reg/vcity/busybox:nope: not found",
            "firstTimestamp": "2026-11-30T10:00:01Z", "lastTimestamp": "2026-11-30T10:00:01Z"
        }))
        .unwrap();
        let now = "2026-11-30T10:02:00Z".parse().unwrap();
        let findings = diagnose_pod(&pod, &[event], now);
        assert!(
            findings
                .iter()
                .any(|f| f.reason == Reason::ImageNotFound && f.terminal),
            "{findings:#?}"
        );
    }

    #[test]
    fn unschedulable_for_a_claim_is_hopeless_other_pending_is_not() {
        let mut pod = pod_json(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
              "reason": "Unschedulable",
              "message": "0/1 nodes are available: persistentvolumeclaim \"vcity-pvc\" not found."}]}
        }));
        assert!(hopeless(&pod).unwrap().contains("not found"));
        pod.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].message =
            Some("0/1 nodes are available: 1 Insufficient memory.".into());
        assert_eq!(hopeless(&pod), None);
        assert!(describe_status(&pod).contains("Insufficient memory"));
    }

    #[test]
    fn running_needs_the_container_started() {
        let pod = pod_json(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "fetch", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-30T10:00:00Z"}}}]}
        }));
        assert!(is_running(&pod));
        assert_eq!(hopeless(&pod), None);
    }
}

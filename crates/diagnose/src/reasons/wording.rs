//! What the rules found, as facts, and the words a finding of each reason says.
//!
//! A rule returns a [`Fact`] (the names and numbers it read); this file turns it into
//! the summary and the fix. One arm per reason, in the table's order.

use super::Reason;
use crate::parse::registry_of;
use kit_argo_types::LABEL_INSTANCE_ID;

/// What a rule read from the snapshot: one variant per reason, with what its words need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fact {
    ImageNotFound {
        image: String,
    },
    RegistryUnauthorized {
        image: String,
        /// The pod's imagePullSecrets, when the pod is known (from the workflow or,
        /// through admission, from its service account).
        pull_secrets: Option<Vec<String>>,
    },
    RegistryTls {
        image: String,
    },
    ImagePullFailed {
        image: String,
    },
    InvalidImageName {
        image: String,
    },
    PvcMissing {
        claim: String,
    },
    PvcUnbound {
        /// The claim, or the pod's claims joined with commas.
        claims: String,
        /// The claim to describe in the fix.
        first: String,
    },
    ConfigmapMissing {
        name: String,
    },
    ConfigmapKeyMissing {
        name: String,
        key: String,
    },
    SecretMissing {
        name: String,
    },
    SecretKeyMissing {
        name: String,
        key: String,
    },
    ServiceAccountMissing {
        namespace: String,
        name: String,
    },
    OomKilled {
        container: String,
        limit: Option<String>,
        template: String,
    },
    NonZeroExit {
        container: String,
        code: i32,
        /// The evidence ends with the program's last log lines.
        logs_shown: bool,
    },
    CommandNotFound {
        container: String,
        /// The program as the template names it.
        command: String,
        /// The container's image, when the pod is still there to say it.
        image: Option<String>,
        template: String,
    },
    DeadlineExceeded {
        template: String,
    },
    InvalidSpec {
        /// The `{{variable}}` the controller could not resolve, when it says which.
        unresolved: Option<String>,
    },
    ImageCommandUnknown {
        step: String,
        image: String,
    },
    WorkflowTooLarge {
        workflow: String,
        /// Nodes in the status as last seen.
        nodes: usize,
        /// Compressed size and the limit, in bytes, when the message gives them.
        size: Option<u64>,
        max: Option<u64>,
    },
    StepError {
        workflow: String,
        phase: String,
    },
    ControllerNotActing {
        workflow: String,
        age: String,
        instance_id: Option<String>,
    },
    Forbidden {
        user: String,
        /// `(namespace, name)` when the user is a service account.
        service_account: Option<(String, String)>,
        verb: String,
        /// As the refusal names it (`workflowtaskresults`, `pods/log`).
        resource: String,
        /// With its API group (`workflowtaskresults.argoproj.io`).
        qualified: String,
        namespace: String,
    },
    QuotaExceeded {
        quota: String,
    },
    UnschedulableResources {
        /// The resources the scheduler lacks, joined with "and".
        wanted: String,
        /// What the user's containers ask for (`main requests memory=64Gi`).
        asked: Vec<String>,
        /// Resources no node can ever give, with the largest allocatable.
        never: Vec<String>,
        template: String,
    },
    PodNotCreated {
        step: String,
    },
    PodErrorWorkflowSilent {
        pod: String,
        /// How long ago the pod failed (`3m`), when known.
        ago: Option<String>,
        /// What the workflow still shows for the step.
        recorded: String,
        /// Argo's wait container still runs after the program ended: the executor,
        /// not the controller, is what holds the step.
        wait_running: bool,
        workflow: String,
    },
    ExecutorFailed {
        container: String,
        code: i32,
    },
    PodSandboxFailed {
        node: String,
        plugin: Option<String>,
    },
    NodeNotReady {
        /// The pod's node; `None` when no node could run the pod at all.
        node: Option<String>,
    },
    VolumeAttachFailed {
        volume: String,
        node: String,
        /// ReadWriteOnce volume already attached elsewhere.
        multi_attach: bool,
        /// Only the kubelet's generic "Unable to attach or mount volumes" timeout, which
        /// also follows a missing ConfigMap or claim.
        generic_timeout: bool,
    },
    RegistryUnreachable {
        image: String,
    },
    Evicted {
        node: String,
        /// `" (low on memory)"`, `" (low on disk)"` or empty.
        pressure: &'static str,
        template: String,
    },
    Unschedulable {
        clauses: String,
    },
    StuckPending {
        /// kubectl's STATUS column: `Init:0/1`, `ContainerCreating`, `Pending`.
        status: String,
        age: String,
    },
}

/// Where a finding is, for the commands its fix names.
pub(crate) struct Place<'a> {
    pub namespace: &'a str,
    pub pod: Option<&'a str>,
}

impl Place<'_> {
    fn pod(&self) -> &str {
        self.pod.unwrap_or("POD")
    }

    fn describe_pod(&self) -> String {
        format!(
            "`kubectl -n {} describe pod {}`",
            self.namespace,
            self.pod()
        )
    }
}

impl Fact {
    pub fn reason(&self) -> Reason {
        use Fact as F;
        match self {
            F::ImageNotFound { .. } => Reason::ImageNotFound,
            F::RegistryUnauthorized { .. } => Reason::RegistryUnauthorized,
            F::RegistryTls { .. } => Reason::RegistryTls,
            F::ImagePullFailed { .. } => Reason::ImagePullFailed,
            F::InvalidImageName { .. } => Reason::InvalidImageName,
            F::PvcMissing { .. } => Reason::PvcMissing,
            F::PvcUnbound { .. } => Reason::PvcUnbound,
            F::ConfigmapMissing { .. } => Reason::ConfigmapMissing,
            F::ConfigmapKeyMissing { .. } => Reason::ConfigmapKeyMissing,
            F::SecretMissing { .. } => Reason::SecretMissing,
            F::SecretKeyMissing { .. } => Reason::SecretKeyMissing,
            F::ServiceAccountMissing { .. } => Reason::ServiceAccountMissing,
            F::OomKilled { .. } => Reason::OomKilled,
            F::NonZeroExit { .. } => Reason::NonZeroExit,
            F::CommandNotFound { .. } => Reason::CommandNotFound,
            F::DeadlineExceeded { .. } => Reason::DeadlineExceeded,
            F::InvalidSpec { .. } => Reason::InvalidSpec,
            F::ImageCommandUnknown { .. } => Reason::ImageCommandUnknown,
            F::WorkflowTooLarge { .. } => Reason::WorkflowTooLarge,
            F::StepError { .. } => Reason::StepError,
            F::ControllerNotActing { .. } => Reason::ControllerNotActing,
            F::Forbidden { .. } => Reason::Forbidden,
            F::QuotaExceeded { .. } => Reason::QuotaExceeded,
            F::UnschedulableResources { .. } => Reason::UnschedulableResources,
            F::PodNotCreated { .. } => Reason::PodNotCreated,
            F::PodErrorWorkflowSilent { .. } => Reason::PodErrorWorkflowSilent,
            F::ExecutorFailed { .. } => Reason::ExecutorFailed,
            F::PodSandboxFailed { .. } => Reason::PodSandboxFailed,
            F::NodeNotReady { .. } => Reason::NodeNotReady,
            F::VolumeAttachFailed { .. } => Reason::VolumeAttachFailed,
            F::RegistryUnreachable { .. } => Reason::RegistryUnreachable,
            F::Evicted { .. } => Reason::Evicted,
            F::Unschedulable { .. } => Reason::Unschedulable,
            F::StuckPending { .. } => Reason::StuckPending,
        }
    }

    /// What tells two findings of the same reason on the same pod apart (an image, a
    /// ConfigMap); findings with equal reason, pod and key merge.
    pub fn key(&self) -> String {
        use Fact as F;
        match self {
            F::ImageNotFound { image }
            | F::RegistryUnauthorized { image, .. }
            | F::RegistryTls { image }
            | F::ImagePullFailed { image }
            | F::InvalidImageName { image }
            | F::RegistryUnreachable { image }
            | F::ImageCommandUnknown { image, .. } => image.clone(),
            F::PvcMissing { claim } => claim.clone(),
            F::PvcUnbound { claims, .. } => claims.clone(),
            F::ConfigmapMissing { name } | F::SecretMissing { name } => name.clone(),
            F::ConfigmapKeyMissing { name, key } | F::SecretKeyMissing { name, key } => {
                format!("{name}/{key}")
            }
            F::ServiceAccountMissing { namespace, name } => format!("{namespace}/{name}"),
            // One finding per program missing from one image, however many steps run it.
            F::CommandNotFound {
                command,
                image,
                template,
                ..
            } => format!(
                "{} {template} {command}",
                image.as_deref().unwrap_or_default()
            ),
            F::OomKilled { container, .. }
            | F::NonZeroExit { container, .. }
            | F::ExecutorFailed { container, .. } => container.clone(),
            F::Forbidden {
                user,
                verb,
                qualified,
                ..
            } => format!("{user} {verb} {qualified}"),
            F::QuotaExceeded { quota } => quota.clone(),
            F::NodeNotReady { node } => node.clone().unwrap_or_default(),
            F::VolumeAttachFailed { volume, .. } => volume.clone(),
            F::DeadlineExceeded { .. }
            | F::InvalidSpec { .. }
            | F::StepError { .. }
            | F::WorkflowTooLarge { .. }
            | F::ControllerNotActing { .. }
            | F::UnschedulableResources { .. }
            | F::PodNotCreated { .. }
            | F::PodErrorWorkflowSilent { .. }
            | F::PodSandboxFailed { .. }
            | F::Evicted { .. }
            | F::Unschedulable { .. }
            | F::StuckPending { .. } => String::new(),
        }
    }

    /// The finding's one-sentence summary and its fix.
    pub fn words(&self, at: &Place<'_>) -> (String, String) {
        use Fact as F;
        let ns = at.namespace;
        match self {
            F::ImageNotFound { image } => (
                format!("image {image} is not in registry {}.", registry_of(image)),
                "push it with `cargo xtask up` (builds and pushes every image of containers/), or correct the image name or tag in the workflow; a waiting step pulls again by itself.".to_string(),
            ),
            F::RegistryUnauthorized {
                image,
                pull_secrets,
            } => {
                let reg = registry_of(image);
                let create = format!(
                    "`kubectl -n {ns} create secret docker-registry regcred --docker-server={reg} --docker-username=USER --docker-password=TOKEN`"
                );
                let name_too = "a private registry answers the same way for a repository that does not exist, so check the name too.";
                match pull_secrets.as_deref() {
                    Some([]) => (
                        format!(
                            "the pod pulled {image} with no credentials (no imagePullSecrets) and registry {reg} refused it."
                        ),
                        format!(
                            "give the workflow's service account a pull secret for {reg}: {create}, then list it under imagePullSecrets of the service account (ask the cluster admins if you may not) or of the workflow; {name_too}"
                        ),
                    ),
                    Some(secrets) => {
                        let secrets = secrets.join(", ");
                        (
                            format!(
                                "registry {reg} refused the credentials of pull secret {secrets} for {image}."
                            ),
                            format!(
                                "check that secret {secrets} holds a valid user and password (or robot token) for {reg}, and that this account may pull {image}; {name_too}"
                            ),
                        )
                    }
                    None => (
                        format!("registry {reg} refused the node's credentials for {image}."),
                        format!(
                            "give the pods pull credentials for {reg}: {create} and list it under imagePullSecrets in the workflow (or on its service account); {name_too}"
                        ),
                    ),
                }
            }
            F::RegistryTls { image } => {
                let reg = registry_of(image);
                (
                    format!(
                        "the nodes do not trust registry {reg}'s certificate, or it speaks plain HTTP, so {image} cannot be pulled."
                    ),
                    format!(
                        "ask the cluster admins to make the nodes' container runtime trust {reg} (its CA under /etc/containerd/certs.d/{reg}/), or use a registry the nodes already trust."
                    ),
                )
            }
            F::ImagePullFailed { image } => {
                let describe = match at.pod {
                    Some(_) => at.describe_pod(),
                    None => format!("`kubectl -n {ns} get events`"),
                };
                (
                    format!("pulling image {image} fails."),
                    format!(
                        "read the evidence and {describe}; check the image name and that it was pushed (`cargo xtask images`)."
                    ),
                )
            }
            F::InvalidImageName { image } => (
                format!("the image reference {image} is not valid."),
                "correct the image in the workflow (lower case, registry/project/name:tag) and check it with `cargo xtask lint`.".to_string(),
            ),
            F::PvcMissing { claim } => (
                format!("PersistentVolumeClaim {claim} does not exist in namespace {ns}."),
                format!(
                    "create it with `cargo xtask doctor --fix` (applies the workspace's PVC manifest), or point k8s_volume_claim_name / KUBEVOLUMECLAIMNAME at an existing claim (`kubectl -n {ns} get pvc`, `cargo xtask config`)."
                ),
            ),
            F::PvcUnbound { claims, first } => (
                format!("PersistentVolumeClaim {claims} is not bound to a volume."),
                format!(
                    "`kubectl -n {ns} describe pvc {first}` tells why: it needs a matching PersistentVolume or a StorageClass that provisions one, which usually takes the cluster admins."
                ),
            ),
            F::ConfigmapMissing { name } => (
                format!("ConfigMap {name} does not exist in namespace {ns}."),
                format!(
                    "create it: `cargo xtask doctor --fix` applies the workspace's ConfigMap manifest; or point k8s_configmap_name / KUBECONFIGMAP at an existing one (`kubectl -n {ns} get configmaps`, `cargo xtask config`)."
                ),
            ),
            F::ConfigmapKeyMissing { name, key } => (
                format!("ConfigMap {name} has no key {key}."),
                format!(
                    "add the key (`kubectl -n {ns} edit configmap {name}`, or `cargo xtask doctor --fix` if the workspace's manifest has it), or stop referring to it in the workflow."
                ),
            ),
            F::SecretMissing { name } => (
                format!("Secret {name} does not exist in namespace {ns}."),
                format!(
                    "create it (`kubectl -n {ns} create secret generic {name} --from-literal=KEY=VALUE`) or correct its name in the workflow."
                ),
            ),
            F::SecretKeyMissing { name, key } => (
                format!("Secret {name} has no key {key}."),
                format!(
                    "add the key to Secret {name} in namespace {ns}, or stop referring to it in the workflow."
                ),
            ),
            F::ServiceAccountMissing { namespace, name } => (
                format!("service account {name} does not exist in namespace {namespace}."),
                format!(
                    "use an existing one (argo_service_account in hera.config or ARGO_SERVICE_ACCOUNT, see `cargo xtask config`; `kubectl -n {namespace} get serviceaccounts`), or create it with the executor's rights (ask the cluster admins)."
                ),
            ),
            F::OomKilled {
                container,
                limit,
                template,
            } => {
                let summary = match limit {
                    Some(l) => format!(
                        "container \"{container}\" was killed for going over its memory limit ({l})."
                    ),
                    None => format!(
                        "container \"{container}\" was OOM-killed; it has no memory limit, so its node ran out of memory."
                    ),
                };
                let above = limit
                    .as_ref()
                    .map(|l| format!(" above {l}"))
                    .unwrap_or_default();
                (
                    summary,
                    format!(
                        "raise resources.limits.memory (and requests.memory){above} in template {template}, or make the program use less memory; then resubmit."
                    ),
                )
            }
            F::NonZeroExit {
                container,
                code,
                logs_shown,
            } => {
                let signal = match code {
                    137 => " (killed by SIGKILL)",
                    143 => " (stopped by SIGTERM)",
                    _ => "",
                };
                let logs = if *logs_shown {
                    "the log lines above".to_string()
                } else {
                    format!("`kubectl -n {ns} logs {} -c {container}`", at.pod())
                };
                (
                    format!("container \"{container}\" exited with code {code}{signal}."),
                    format!(
                        "read {logs}; fix the program or its inputs (parameters, files on the volume), then resubmit."
                    ),
                )
            }
            F::CommandNotFound {
                container,
                command,
                image,
                template,
            } => {
                let (summary, check) = match image {
                    Some(image) => (
                        format!(
                            "container \"{container}\" runs `{command}`, which image {image} does not have (not in its PATH, or not executable)."
                        ),
                        format!(
                            "; `docker run --rm --entrypoint sh {image} -c 'command -v {command}'` checks it"
                        ),
                    ),
                    None => (
                        format!(
                            "container \"{container}\" runs `{command}`, which its image does not have (not in its PATH, or not executable)."
                        ),
                        String::new(),
                    ),
                };
                (
                    summary,
                    format!(
                        "correct `command:` in template {template} (a typo, or a path the image does not have), or install the program in the image under containers/ and push it with `cargo xtask up`{check}; then resubmit."
                    ),
                )
            }
            F::DeadlineExceeded { template } => (
                "the step ran longer than its activeDeadlineSeconds.".to_string(),
                format!(
                    "raise activeDeadlineSeconds of template {template} (or of the workflow), or make the step faster."
                ),
            ),
            F::InvalidSpec { unresolved } => (
                match unresolved {
                    Some(v) => {
                        format!("the controller rejected the workflow: {v} cannot be resolved.")
                    }
                    None => "the controller rejected the workflow's spec or one of its parameters."
                        .to_string(),
                },
                "fix the workflow file or the -p KEY=VALUE parameters (a parameter without a value, a misspelt {{variable}}, a wrong template name), check with `cargo xtask lint`, then resubmit.".to_string(),
            ),
            F::ImageCommandUnknown { step, image } => (
                format!(
                    "step {step} has no `command:` and the controller could not read the entrypoint of image {image} from its registry."
                ),
                format!(
                    "add `command: [...]` (and `args`) to the template's container for {image}: Argo then needs nothing from the registry; or ask the admins to give the controller access to that registry."
                ),
            ),
            F::WorkflowTooLarge {
                workflow,
                nodes,
                size,
                max,
            } => {
                let sizes = match (size, max) {
                    (Some(size), Some(max)) => {
                        format!(" ({size} bytes compressed, over the limit of {max})")
                    }
                    _ => String::new(),
                };
                (
                    format!(
                        "the status of workflow {workflow} ({nodes} steps) outgrew the controller's size limit{sizes}, and Argo ended the workflow."
                    ),
                    "split the sweep into several workflows (for example one per vintage or borough, each with fewer items), then run them; the cluster admins can instead raise the controller's MAX_WORKFLOW_SIZE or give Argo a database to offload large statuses to.".to_string(),
                )
            }
            F::StepError { workflow, phase } => (
                format!(
                    "workflow {workflow} ended {phase} for a reason the controller states below."
                ),
                "read the controller's message above; `kubectl -n NS get wf NAME -o yaml` shows every node's message. If it is unclear, `cargo xtask diagnose NAME --save DIR` and send DIR to the toolkit's maintainers.".to_string(),
            ),
            F::ControllerNotActing {
                workflow,
                age,
                instance_id,
            } => {
                let mut fix = format!(
                    "check that the Argo workflow controller runs and watches namespace {ns} (`kubectl -n {ns} get pods -l app=workflow-controller`, or ask the cluster admins): a controller started with --namespaced only sees its own namespace, and one with an instanceID only takes workflows labelled {LABEL_INSTANCE_ID}=<its id>."
                );
                if let Some(id) = instance_id {
                    fix.push_str(&format!(
                        " This workflow asks for instance id \"{id}\": it must be the controller's."
                    ));
                }
                (
                    format!("no workflow controller has acted on workflow {workflow} in {age}."),
                    fix,
                )
            }
            F::Forbidden {
                user,
                service_account,
                verb,
                resource,
                qualified,
                namespace,
            } => {
                let task_results = resource == "workflowtaskresults";
                let (who, fix) = match service_account {
                    Some((sa_ns, sa)) => {
                        let (role, verbs) = if task_results {
                            // The executor creates then patches its task result.
                            ("argo-executor".to_string(), "create,patch".to_string())
                        } else {
                            (
                                format!("{verb}-{}", resource.replace('/', "-")),
                                verb.clone(),
                            )
                        };
                        (
                            format!("service account {sa_ns}:{sa}"),
                            format!(
                                "grant it: `kubectl -n {namespace} create role {role} --verb={verbs} --resource={qualified}` then `kubectl -n {namespace} create rolebinding {role} --role={role} --serviceaccount={sa_ns}:{sa}` (needs admin rights on the namespace: otherwise ask the cluster admins), or run the workflow with a service account that has them (argo_service_account / ARGO_SERVICE_ACCOUNT, see `cargo xtask config`)."
                            ),
                        )
                    }
                    None => (
                        format!("user {user}"),
                        format!(
                            "ask the cluster admins to let {user} {verb} {qualified} in namespace {namespace}."
                        ),
                    ),
                };
                let why = if task_results {
                    " (Argo's executor needs it to report each step's result)"
                } else {
                    ""
                };
                (
                    format!("{who} may not {verb} {qualified} in namespace {namespace}{why}."),
                    fix,
                )
            }
            F::QuotaExceeded { quota } => (
                format!(
                    "ResourceQuota {quota} of namespace {ns} is used up: the step waits for room."
                ),
                format!(
                    "wait for other pods to finish, lower the step's resources.requests/limits, or ask the cluster admins for a larger quota (`kubectl -n {ns} describe resourcequota {quota}`)."
                ),
            ),
            F::UnschedulableResources {
                wanted,
                asked,
                never,
                template,
            } => {
                let mut summary = format!("the pod waits for a node with enough free {wanted}");
                if !asked.is_empty() {
                    summary.push_str(&format!(" ({})", asked.join("; ")));
                }
                if never.is_empty() {
                    summary.push('.');
                    (
                        summary,
                        format!(
                            "wait: it starts when other pods free {wanted}; or lower resources.requests in template {template} and resubmit ({} shows the scheduler's view).",
                            at.describe_pod()
                        ),
                    )
                } else {
                    summary.push_str(&format!(
                        "; no node can ever fit it: the largest allocatable is {}.",
                        never.join(", ")
                    ));
                    (
                        summary,
                        format!(
                            "lower resources.requests in template {template} to fit a node, then resubmit; ask the cluster admins if you need bigger nodes."
                        ),
                    )
                }
            }
            F::PodNotCreated { step } => (
                format!("the controller has not created the pod of step {step}."),
                format!(
                    "check the controller's health and rights in namespace {ns} (its logs, or ask the cluster admins); `kubectl -n {ns} get events` may show a refused pod creation."
                ),
            ),
            F::PodErrorWorkflowSilent {
                pod,
                ago,
                recorded,
                wait_running,
                workflow,
            } => {
                let when = ago
                    .as_ref()
                    .map(|a| format!(" {a} ago"))
                    .unwrap_or_default();
                if *wait_running {
                    (
                        format!(
                            "the program of pod {pod} failed{when}, but Argo's wait container still runs, so {recorded}: the step will not end by itself."
                        ),
                        format!(
                            "Argo's executor lost the program's exit; a memory limit that killed the executor together with the program does this (argo-workflows#8680). Stop the workflow (`cargo xtask stop {workflow}`), give the step more memory when it was OOMKilled, and run it again; `kubectl -n {ns} logs {pod} -c wait` shows what the wait container waits for."
                        ),
                    )
                } else {
                    (
                        format!("pod {pod} failed{when} but {recorded}."),
                        format!(
                            "the workflow controller is not processing pod updates in namespace {ns}: check that it runs and may watch pods there (its logs, or ask the cluster admins); the pod's own failure is in the other findings and in `kubectl -n {ns} logs {pod} -c main`."
                        ),
                    )
                }
            }
            F::ExecutorFailed { container, code } => (
                format!("Argo's {container} container failed with exit code {code}."),
                format!(
                    "read `kubectl -n {ns} logs {} -c {container}`; the executor image must match the controller's version and the service account needs the executor's rights: ask the cluster admins if unsure.",
                    at.pod()
                ),
            ),
            F::PodSandboxFailed { node, plugin } => {
                let plugin = plugin
                    .as_ref()
                    .map(|c| format!(": its network plugin {c} fails"))
                    .unwrap_or_default();
                (
                    format!("node {node} cannot create the pod's sandbox{plugin}."),
                    format!(
                        "a node or network problem, not the workflow's: send the evidence to the cluster admins (node {node}, {})."
                        ,
                        at.describe_pod()
                    ),
                )
            }
            F::NodeNotReady { node: None } => (
                "every node that could run the pod is NotReady or unreachable.".to_string(),
                "a cluster problem: send the evidence to the cluster admins.".to_string(),
            ),
            F::NodeNotReady { node: Some(node) } => (
                format!("node {node}, where the pod runs, is NotReady, unreachable or gone."),
                format!(
                    "a cluster problem: tell the cluster admins (node {node}; `kubectl describe node {node}` if you may). The step is retried elsewhere only if it has a retryStrategy."
                ),
            ),
            F::VolumeAttachFailed {
                volume,
                node,
                multi_attach: true,
                ..
            } => (
                format!(
                    "volume {volume} is attached to another node (ReadWriteOnce) and cannot be attached to {node}."
                ),
                "the claim is ReadWriteOnce and a pod on another node uses it: run those steps one after the other, or use a ReadWriteMany claim (ask the cluster admins for a suitable StorageClass).".to_string(),
            ),
            F::VolumeAttachFailed {
                volume,
                node,
                multi_attach: false,
                ..
            } => (
                format!("volume {volume} cannot be attached or mounted on node {node}."),
                format!(
                    "a storage problem on the cluster side: send the evidence to the cluster admins ({}).",
                    at.describe_pod()
                ),
            ),
            F::RegistryUnreachable { image } => (
                format!(
                    "the node cannot reach registry {} to pull {image}.",
                    registry_of(image)
                ),
                "check the registry host in the image name; if it is right, the nodes cannot reach it (DNS, proxy, firewall): send the evidence to the cluster admins.".to_string(),
            ),
            F::Evicted {
                node,
                pressure,
                template,
            } => (
                format!("the kubelet evicted the pod from node {node}{pressure}."),
                format!(
                    "set resources.requests in template {template} close to what the program really uses (pods above their requests go first), then resubmit; if it repeats, tell the cluster admins."
                ),
            ),
            F::Unschedulable { clauses } => (
                format!("no node accepts the pod: {clauses}."),
                format!(
                    "the workflow's nodeSelector, affinity or tolerations may exclude every node, or the nodes are cordoned: {}; ask the cluster admins which nodes you may use.",
                    at.describe_pod()
                ),
            ),
            F::StuckPending { status, age } => (
                format!("the pod has been {status} for {age}."),
                format!(
                    "{} shows what it waits for; if nothing there explains it, ask the cluster admins.",
                    at.describe_pod()
                ),
            ),
        }
    }
}

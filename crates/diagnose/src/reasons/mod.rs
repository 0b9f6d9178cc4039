//! The reason table: every cause a diagnosis can name, one row each, and (in
//! [`wording`]) what a finding of that reason says. Rules only detect facts; the words
//! a user reads are all here, so they stay consistent and are reviewed in one place.

pub(crate) mod wording;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::finding::Level;

macro_rules! reasons {
    ($($variant:ident = $name:literal => $level:ident, stalls: $stalls:literal, shared: $shared:literal, $doc:literal;)*) => {
        /// Why a workflow failed or is stuck. The kebab-case names are stable: scripts
        /// match on them (`--output json`) and fixtures list them in `expected.json`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Reason {
            $(
                #[doc = $doc]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];

            /// The stable kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)*
                }
            }

            /// The level a reason belongs to; fixed per reason so that filters stay simple.
            pub fn level(self) -> Level {
                match self {
                    $(Reason::$variant => Level::$level,)*
                }
            }

            /// Whether the step waits on this cause without end: its pod never starts
            /// (or its node never answers) until someone acts, so Argo does not end the
            /// workflow by itself. A failed program, by contrast, ends its step and the
            /// workflow goes on to its own end. A pod failure the workflow has not
            /// recorded yet is not a stall: a busy controller records it late (seen on
            /// a loaded machine), and a stopped one is its own finding.
            pub fn stalls(self) -> bool {
                match self {
                    $(Reason::$variant => $stalls,)*
                }
            }

            /// Whether the cause is shared by every step it hits (an image, a ConfigMap,
            /// a service account's rights): such findings merge into one, naming the
            /// other steps, instead of one per pod.
            pub fn shared_cause(self) -> bool {
                match self {
                    $(Reason::$variant => $shared,)*
                }
            }

            /// Parses a kebab-case name.
            pub fn from_name(name: &str) -> Option<Reason> {
                match name {
                    $($name => Some(Reason::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

// One row per reason: variant = stable name => level, whether it stalls the workflow,
// whether one cause hits many steps, and the one-line meaning (the enum's doc).
reasons! {
    ImageNotFound = "image-not-found" => User, stalls: true, shared: true,
        "The image or its tag is not in the registry.";
    RegistryUnauthorized = "registry-unauthorized" => User, stalls: true, shared: true,
        "The registry refused the node's pull credentials.";
    RegistryTls = "registry-tls" => User, stalls: true, shared: true,
        "The node does not trust the registry's certificate, or the registry speaks plain HTTP.";
    ImagePullFailed = "image-pull-failed" => User, stalls: true, shared: true,
        "Pulling the image failed for another reason.";
    InvalidImageName = "invalid-image-name" => User, stalls: true, shared: true,
        "The image reference does not parse.";
    PvcMissing = "pvc-missing" => User, stalls: true, shared: true,
        "A PersistentVolumeClaim the pod mounts does not exist.";
    PvcUnbound = "pvc-unbound" => User, stalls: true, shared: true,
        "A PersistentVolumeClaim the pod mounts is not bound to a volume.";
    ConfigmapMissing = "configmap-missing" => User, stalls: true, shared: true,
        "A ConfigMap the pod uses does not exist.";
    ConfigmapKeyMissing = "configmap-key-missing" => User, stalls: true, shared: true,
        "A ConfigMap the pod uses lacks a key.";
    SecretMissing = "secret-missing" => User, stalls: true, shared: true,
        "A Secret the pod uses does not exist.";
    SecretKeyMissing = "secret-key-missing" => User, stalls: true, shared: true,
        "A Secret the pod uses lacks a key.";
    ServiceAccountMissing = "service-account-missing" => User, stalls: true, shared: true,
        "The workflow's service account does not exist.";
    OomKilled = "oom-killed" => User, stalls: false, shared: false,
        "A container was killed for going over its memory limit.";
    NonZeroExit = "non-zero-exit" => User, stalls: false, shared: false,
        "The program exited with a non-zero code.";
    CommandNotFound = "command-not-found" => User, stalls: false, shared: true,
        "The step's command is not in its image: Argo's executor found no such program.";
    DeadlineExceeded = "deadline-exceeded" => User, stalls: false, shared: false,
        "A step ran longer than its activeDeadlineSeconds.";
    InvalidSpec = "invalid-spec" => User, stalls: false, shared: true,
        "The controller rejected the workflow: validation, unresolved variable, bad parameter.";
    ImageCommandUnknown = "image-command-unknown" => User, stalls: false, shared: false,
        "A container has no command and Argo cannot read the image's entrypoint from its registry.";
    WorkflowTooLarge = "workflow-too-large" => User, stalls: false, shared: true,
        "The workflow's status outgrew the controller's size limit (too many steps in one workflow) and Argo ended it.";
    StepError = "step-error" => User, stalls: false, shared: false,
        "A step ended in Error for a reason no other rule recognises; the controller's message says it.";
    ControllerNotActing = "controller-not-acting" => ArgoServer, stalls: true, shared: true,
        "No workflow controller has picked the workflow up.";
    Forbidden = "forbidden" => ArgoServer, stalls: true, shared: true,
        "A service account lacks an RBAC right.";
    QuotaExceeded = "quota-exceeded" => ArgoServer, stalls: true, shared: true,
        "The namespace's ResourceQuota refuses the pod.";
    UnschedulableResources = "unschedulable-resources" => ArgoServer, stalls: true, shared: false,
        "The pod waits for a node with enough free CPU, memory or devices.";
    PodNotCreated = "pod-not-created" => ArgoServer, stalls: true, shared: false,
        "The controller has not created the step's pod.";
    PodErrorWorkflowSilent = "pod-error-workflow-silent" => ArgoServer, stalls: false, shared: false,
        "A pod failed but the workflow has not recorded it.";
    ExecutorFailed = "executor-failed" => ArgoServer, stalls: false, shared: false,
        "Argo's own init or wait container failed.";
    PodSandboxFailed = "pod-sandbox-failed" => Kubernetes, stalls: true, shared: false,
        "The node could not create the pod sandbox (often the CNI network plugin).";
    NodeNotReady = "node-not-ready" => Kubernetes, stalls: true, shared: true,
        "The pod's node is NotReady, unreachable or gone.";
    VolumeAttachFailed = "volume-attach-failed" => Kubernetes, stalls: true, shared: false,
        "A volume could not be attached or mounted on the node.";
    RegistryUnreachable = "registry-unreachable" => Kubernetes, stalls: true, shared: true,
        "The node cannot reach the registry (DNS, connection, timeout).";
    Evicted = "evicted" => Kubernetes, stalls: false, shared: false,
        "The kubelet evicted the pod (node under memory or disk pressure).";
    Unschedulable = "unschedulable" => Kubernetes, stalls: true, shared: false,
        "The scheduler finds no node for the pod, for a reason other than free resources.";
    StuckPending = "stuck-pending" => Kubernetes, stalls: true, shared: false,
        "The pod stays Pending beyond the grace period without a known cause.";
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

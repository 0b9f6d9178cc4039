//! `Workflow`, `WorkflowTemplate` and their status: a hand-written subset of Argo's
//! `argoproj.io/v1alpha1` types.
//!
//! No maintained crate models Argo's resources, so this module declares only the fields the
//! toolkit reads or rewrites. Every struct keeps whatever else the file says in `extra`, so a
//! workflow loaded and written back loses nothing. String fields that Argo marks `omitempty`
//! are plain `String`s skipped when empty: an empty string and an absent field mean the same
//! thing to Argo, so the round trip stays faithful.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

#[cfg(doc)]
use crate::labels::ANNOTATION_NODE_ID;

/// Fields this subset does not model, kept verbatim.
pub type Extra = BTreeMap<String, Value>;

/// `spec` of an Argo `Workflow` (also the spec of a `WorkflowTemplate`).
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Workflow",
    plural = "workflows",
    namespaced,
    schema = "disabled",
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        serde = "::serde",
        serde_json = "::serde_json"
    ),
    status = "WorkflowStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub entrypoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<Template>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// PersistentVolumeClaim manifests Argo creates per run; kept as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_exit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_template_ref: Option<WorkflowTemplateRef>,
    /// `Stop` or `Terminate` once someone asked the controller to end the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Workflow {
    /// The phase the controller wrote in the status; `None` before it wrote one.
    pub fn phase(&self) -> Option<&Phase> {
        self.status.as_ref()?.phase.as_ref()
    }
}

/// `spec` of a `WorkflowTemplate`: Argo embeds a whole workflow spec.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "WorkflowTemplate",
    plural = "workflowtemplates",
    namespaced,
    schema = "disabled",
    crates(
        kube_core = "::kube_core",
        k8s_openapi = "::k8s_openapi",
        serde = "::serde",
        serde_json = "::serde_json"
    ),
    derive = "PartialEq"
)]
pub struct WorkflowTemplateSpec {
    #[serde(flatten)]
    pub spec: WorkflowSpec,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowTemplateRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_scope: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Arguments {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A parameter of `arguments`, `inputs` or `outputs`.
///
/// Argo accepts numbers and booleans where it means strings (its `AnyString`) and writes them
/// back as strings; `value: 2012` therefore reads as `"2012"`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "any_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    #[serde(
        default,
        deserialize_with = "any_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<Value>,
    #[serde(
        rename = "enum",
        default,
        deserialize_with = "any_string_vec_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub enum_values: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "any_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Parameter {
    /// The value Argo would use when nobody passes one: `value`, else `default`.
    pub fn effective_value(&self) -> Option<&str> {
        self.value.as_deref().or(self.default.as_deref())
    }

    /// True when the parameter gets a value without help: a value, a default or `valueFrom`.
    pub fn is_satisfied(&self) -> bool {
        self.value.is_some() || self.default.is_some() || self.value_from.is_some()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Value>,
    /// Standard output of a script or container step, as the controller recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(
        default,
        deserialize_with = "any_string_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub exit_code: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One template of `spec.templates`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Vec<WorkflowStep>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag: Option<DagTemplate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_strategy: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sidecars: Option<Vec<Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Template kinds Argo knows; a template must be exactly one of them.
pub const TEMPLATE_TYPES: &[&str] = &[
    "container",
    "script",
    "steps",
    "dag",
    "resource",
    "suspend",
    "containerSet",
    "data",
    "http",
    "plugin",
];

impl Template {
    /// The kinds this template declares (`container`, `steps`, ...), in `TEMPLATE_TYPES` order.
    pub fn types(&self) -> Vec<&'static str> {
        TEMPLATE_TYPES
            .iter()
            .copied()
            .filter(|t| match *t {
                "container" => self.container.is_some(),
                "script" => self.script.is_some(),
                "steps" => self.steps.is_some(),
                "dag" => self.dag.is_some(),
                other => self.extra.get(other).is_some_and(|v| !v.is_null()),
            })
            .collect()
    }

    /// Input parameters (empty when the template declares none).
    pub fn input_parameters(&self) -> &[Parameter] {
        self.inputs.as_ref().map_or(&[], |i| &i.parameters)
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A Kubernetes container as Argo embeds it (`container`, `initContainers`, `sidecars`).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_from: Option<Vec<EnvFromSource>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    /// Requests and limits, kept as written (`cpu: 1` and `cpu: "1"` both stay valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `script` template: a container plus the source Argo writes into it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ScriptTemplate {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(flatten)]
    pub container: Container,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<NameRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<NameRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Any reference by `name` (ConfigMap references, ConfigMap volumes); the rest is kept.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct NameRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mount_path: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PvcSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<NameRef>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PvcSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claim_name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One step of a `steps` template (an element of a parallel group).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStep {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_items: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_exit: String,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DagTemplate {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<DagTask>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DagTask {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Arguments>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_items: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_param: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_exit: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `.status` as the controller writes it. A workflow past about 1 MB (a sweep of a
/// thousand pods or more) has its nodes gzipped and base64-encoded in
/// `status.compressedNodes` instead of `status.nodes`; they are expanded into `nodes`
/// when read, so every reader sees one shape.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase", try_from = "StatusAsWritten")]
pub struct WorkflowStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Node id → node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, NodeStatus>,
    /// `PodRunning`, `Completed`, `SpecWarning`, `SpecError`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `.status` as it arrives, before compressed nodes are expanded.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusAsWritten {
    #[serde(default)]
    phase: Option<Phase>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    started_at: Option<Time>,
    #[serde(default)]
    finished_at: Option<Time>,
    #[serde(default)]
    nodes: BTreeMap<String, NodeStatus>,
    #[serde(default)]
    compressed_nodes: Option<String>,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(flatten)]
    extra: Extra,
}

impl TryFrom<StatusAsWritten> for WorkflowStatus {
    type Error = String;

    fn try_from(s: StatusAsWritten) -> Result<Self, String> {
        let mut nodes = s.nodes;
        if let Some(packed) = s.compressed_nodes.filter(|p| !p.is_empty()) {
            nodes.extend(expand_nodes(&packed)?);
        }
        Ok(WorkflowStatus {
            phase: s.phase,
            message: s.message,
            started_at: s.started_at,
            finished_at: s.finished_at,
            nodes,
            conditions: s.conditions,
            extra: s.extra,
        })
    }
}

/// The nodes of `status.compressedNodes`: base64 (standard alphabet) of a gzip stream of
/// the JSON map node id → node, as Argo's controller packs them.
pub fn expand_nodes(packed: &str) -> Result<BTreeMap<String, NodeStatus>, String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let gzipped = base64::engine::general_purpose::STANDARD
        .decode(packed.trim())
        .map_err(|e| format!("status.compressedNodes is not base64: {e}"))?;
    let mut json = Vec::new();
    flate2::read::MultiGzDecoder::new(gzipped.as_slice())
        .read_to_end(&mut json)
        .map_err(|e| format!("status.compressedNodes is not a gzip stream: {e}"))?;
    serde_json::from_slice(&json)
        .map_err(|e| format!("status.compressedNodes does not hold Argo's nodes: {e}"))
}

/// One entry of `.status.conditions`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub condition_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A reference to a template of a `WorkflowTemplate` (`templateRef`), as a node records it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One node of `.status.nodes`.
///
/// Argo does not store a pod name: the pod of a `Pod` node carries the annotation
/// [`ANNOTATION_NODE_ID`] with this node's `id`, which is how to match them.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<NodeType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<TemplateRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    #[serde(
        rename = "boundaryID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub boundary_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_node_name: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Declares a string enum that keeps values it does not know (`Other`), so newer controllers'
/// values survive a round trip.
macro_rules! open_string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $(stringify!($variant) => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

open_string_enum!(
    /// Phase of a workflow or of a node.
    Phase {
        Pending,
        Running,
        Succeeded,
        Skipped,
        Failed,
        Error,
        Omitted,
    }
);

impl Phase {
    /// Nothing more will happen to the workflow or node. The one definition of finished:
    /// a workflow only ends Succeeded, Failed or Error; a node may also end Skipped (its
    /// `when` was false) or Omitted (a DAG task its dependencies ruled out).
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Skipped | Self::Failed | Self::Error | Self::Omitted
        )
    }

    /// Ended badly: Failed (the program) or Error (Argo or Kubernetes).
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed | Self::Error)
    }

    /// Pending or Running.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }
}

open_string_enum!(
    /// `type` of a status node.
    NodeType {
        Pod,
        Container,
        Steps,
        StepGroup,
        DAG,
        TaskGroup,
        Retry,
        Skipped,
        Suspend,
        HTTP,
        Plugin,
    }
);

/// Reads a scalar Argo treats as a string (`AnyString`): strings, numbers and booleans.
fn any_string_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => scalar_to_string(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn any_string_vec_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<Vec<Value>>::deserialize(d)?;
    v.map(|items| {
        items
            .into_iter()
            .map(scalar_to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

fn scalar_to_string(v: Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(format!(
            "expected a string, a number or a boolean, found {}",
            json_kind(&other)
        )),
    }
}

/// How a JSON value's kind reads in an error message: "a list", "a mapping", ...
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use std::io::Write as _;

    /// What the controller writes for a workflow past its size limit.
    fn packed(nodes: &serde_json::Value) -> String {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(nodes.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    fn sweep(pods: usize) -> serde_json::Value {
        let mut nodes = serde_json::Map::new();
        for i in 0..pods {
            let id = format!("sweep-{i}");
            nodes.insert(
                id.clone(),
                serde_json::json!({"id": id, "name": format!("sweep[0].run({i})"),
                    "type": "Pod", "phase": if i == 7 { "Failed" } else { "Succeeded" },
                    "templateName": "run"}),
            );
        }
        serde_json::Value::Object(nodes)
    }

    #[test]
    fn compressed_nodes_are_expanded_when_read() {
        let status = serde_json::json!({
            "phase": "Running",
            "compressedNodes": packed(&sweep(5000)),
            "progress": "4999/5000",
        });
        let read: WorkflowStatus = serde_json::from_value(status).unwrap();
        assert_eq!(read.nodes.len(), 5000);
        assert_eq!(read.nodes["sweep-7"].phase, Some(Phase::Failed));
        assert_eq!(read.nodes["sweep-12"].template_name.as_deref(), Some("run"));
        // other fields kept; written back with plain nodes only
        assert_eq!(read.extra["progress"], "4999/5000");
        let written = serde_json::to_value(&read).unwrap();
        assert!(written.get("compressedNodes").is_none());
        assert_eq!(written["nodes"].as_object().unwrap().len(), 5000);
        // a whole Workflow too (the watch's objects)
        let wf: Workflow = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "sweep"}, "spec": {},
            "status": {"compressedNodes": packed(&sweep(3))},
        }))
        .unwrap();
        assert_eq!(wf.status.unwrap().nodes.len(), 3);
    }

    #[test]
    fn plain_and_empty_compressed_nodes_read_as_before() {
        let read: WorkflowStatus = serde_json::from_value(serde_json::json!({
            "nodes": sweep(2), "compressedNodes": ""
        }))
        .unwrap();
        assert_eq!(read.nodes.len(), 2);
        let read: WorkflowStatus = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(read.nodes.is_empty());
    }

    #[test]
    fn damaged_compressed_nodes_are_a_clear_error() {
        for (packed, said) in [
            ("not base64 !".to_string(), "is not base64"),
            (
                base64::engine::general_purpose::STANDARD.encode(b"plain text"),
                "is not a gzip stream",
            ),
            (
                packed(&serde_json::json!(["a list"])),
                "does not hold Argo's nodes",
            ),
        ] {
            let err = serde_json::from_value::<WorkflowStatus>(
                serde_json::json!({"compressedNodes": packed}),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(said), "{err}");
        }
    }
}

//! The labels and annotations Argo puts on workflows and pods, declared once.

/// Label on every pod of a workflow: its value is the workflow's name.
pub const LABEL_WORKFLOW: &str = "workflows.argoproj.io/workflow";
/// Label the controller keeps on a workflow: its phase (`Succeeded`, ...), so workflows can
/// be listed by phase without reading their status.
pub const LABEL_PHASE: &str = "workflows.argoproj.io/phase";
/// Label that routes a workflow to the controller with the same instance id.
pub const LABEL_INSTANCE_ID: &str = "workflows.argoproj.io/controller-instanceid";
/// Pod annotation holding the id of its node in `.status.nodes`.
pub const ANNOTATION_NODE_ID: &str = "workflows.argoproj.io/node-id";
/// Pod annotation holding the full name of its node (`wf[0].step`).
pub const ANNOTATION_NODE_NAME: &str = "workflows.argoproj.io/node-name";
/// Workflow annotation saying how pods are named ([`crate::PodNameFormat`]).
pub const ANNOTATION_POD_NAME_FORMAT: &str = "workflows.argoproj.io/pod-name-format";

//! The one model of Argo's resources that every other crate reads and writes with, as
//! kube-core is to kube-client: the `Workflow` and `WorkflowTemplate` serde types (loading,
//! submitting, following), [`Phase`] with its one definition of finished, node types, the
//! labels and annotations Argo sets, and the pod names it computes. No I/O, no client.

pub mod labels;
mod pod_name;
mod workflow;

pub use labels::*;
pub use pod_name::{PodNameFormat, pod_name};
pub use workflow::*;

//! Pure diagnosis of Argo workflows: a [`Snapshot`] of a workflow, its pods, events,
//! nodes and log tails becomes [`Finding`]s at user, Argo server or Kubernetes level.
//!
//! No I/O happens here. The live follower feeds snapshots as it watches,
//! `cargo xtask diagnose NAME` feeds one snapshot read once, and the tests feed fixture
//! files (see `tests/fixtures/README.md`).
//!
//! ```
//! use kit_diagnose::{diagnose, DiagnoseConfig, Snapshot, WorkflowView};
//! let workflow = WorkflowView::from_json(&serde_json::json!({
//!     "metadata": {"name": "collect-x7k2p", "namespace": "argo",
//!                  "creationTimestamp": "2026-11-30T10:00:00Z"},
//!     "status": {"phase": "Succeeded"}
//! }))
//! .unwrap();
//! let snapshot = Snapshot {
//!     now: "2026-11-30T10:05:00Z".parse().unwrap(),
//!     workflow,
//!     pods: vec![],
//!     events: vec![],
//!     nodes: None,
//!     logs: Default::default(),
//!     config: DiagnoseConfig::default(),
//! };
//! assert!(diagnose(&snapshot).is_empty());
//! ```

mod collect;
mod finding;
mod node_pods;
pub mod parse;
mod reasons;
mod rules;
mod snapshot;
mod suppress;

pub use finding::{Finding, Level, Reason, exit_worthy, stalled, summary_level};
// The Argo model the views are made of, so users of a snapshot need no second import.
pub use kit_argo_types::{
    ANNOTATION_NODE_ID, ANNOTATION_NODE_NAME, LABEL_WORKFLOW, NodeType, Phase,
};
pub use node_pods::{ANNOTATION_FROM_NODE, pods_from_nodes};
pub use snapshot::{
    Change, DiagnoseConfig, NodeView, Snapshot, SnapshotError, SnapshotJson, WorkflowView,
};

/// Every problem the snapshot shows, merged (one finding per cause and pod, or per
/// cause for causes shared by many steps) and sorted: terminal first, then by the time
/// the first sign was seen.
pub fn diagnose(s: &Snapshot) -> Vec<Finding> {
    let ctx = rules::Ctx::new(s);
    let detections = suppress::explained_away(rules::run(&ctx));
    collect::finalize(s.now, ctx.namespace(), detections)
}

//! Seeing a run. The same reading of a workflow's `status.nodes` feeds two views:
//!
//! - [`tree`]: the live tree on a terminal while a run is followed;
//! - [`report`]: [`RunData`], everything one run page shows (a timeline of every pod,
//!   the findings anchored on their step, the inputs that reproduce the run, where the
//!   time went, the fetched results), and its self-contained HTML page.
//!
//! No I/O happens here: the command line gathers snapshots and record files.

pub mod html;
pub mod report;
pub mod structure;
pub mod tree;

pub use report::{Inputs, ResultsSummary, RunData};
pub use tree::{Mark, TreeLine, tree_lines};

#[cfg(test)]
pub(crate) mod testing {
    use kit_diagnose::{DiagnoseConfig, Snapshot, SnapshotJson};

    /// A snapshot of one workflow document and nothing else, seen at `now`.
    pub fn snapshot_of(workflow: serde_json::Value, now: &str) -> Snapshot {
        Snapshot::from_json(
            now.parse().expect("now"),
            SnapshotJson {
                workflow: &workflow,
                pods: None,
                events: None,
                nodes: None,
                logs: None,
            },
            DiagnoseConfig::default(),
        )
        .expect("snapshot")
    }
}

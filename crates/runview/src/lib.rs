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
pub mod text;
pub mod tree;

pub use report::{Inputs, ResultsSummary, RunData};
pub use tree::{Mark, TreeLine, tree_lines};

#[cfg(test)]
pub(crate) mod testing {
    use kit_diagnose::{DiagnoseConfig, Finding, Snapshot, SnapshotJson};

    /// A terminal `non-zero-exit` finding about the snapshot's failed pod.
    pub fn exit_finding(s: &Snapshot, step: &str, summary: &str, evidence: &[&str]) -> Finding {
        let pod = s
            .workflow
            .nodes
            .iter()
            .find(|n| n.failed())
            .and_then(|n| n.pod_name.clone());
        serde_json::from_value(serde_json::json!({
            "level": "user", "reason": "non-zero-exit", "step": step, "pod": pod,
            "summary": summary, "evidence": evidence, "fix": "read the log",
            "terminal": true, "watching": false, "since": null}))
        .expect("a finding")
    }

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

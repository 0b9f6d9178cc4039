//! Everything that can go wrong fetching results, each error naming the pod, the path
//! or the right involved, and what to do.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use kit_diagnose::Finding;

use super::extract::Mismatch;
use super::listing::{ListingError, PathError};
use super::plan::Conflict;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "no PersistentVolumeClaim is configured: set KUBEVOLUMECLAIMNAME, or k8s_volume_claim_name in hera.config"
    )]
    NoClaim,
    #[error(
        "PersistentVolumeClaim {claim} does not exist in {namespace}; `cargo xtask doctor --fix` creates it from workflows/resources/pvc.yaml, or set KUBEVOLUMECLAIMNAME to an existing claim"
    )]
    PvcMissing { claim: String, namespace: String },
    #[error(
        "PVC {claim} is {phase}, not Bound: a pod that mounts it will wait forever. A Pending claim has no volume: check its storageClassName and size, or ask the admins for a volume/provisioner{}",
        evidence(events)
    )]
    PvcUnbound {
        claim: String,
        namespace: String,
        phase: String,
        events: Vec<String>,
    },
    #[error(
        "you have no right to {right} in namespace {namespace} (needed to {needed}); ask the cluster admins to grant it (a Role and RoleBinding for your user). API server: {message}"
    )]
    NoRight {
        right: String,
        namespace: String,
        needed: &'static str,
        message: String,
    },
    #[error(
        "helper pod {pod} did not start within {}s ({status}){}; it has been deleted",
        waited.as_secs(),
        diagnosis(findings, events)
    )]
    HelperNotStarted {
        pod: String,
        waited: Duration,
        /// The pod's phase and waiting reasons.
        status: String,
        findings: Vec<Finding>,
        /// The pod's events, verbatim.
        events: Vec<String>,
    },
    #[error(
        "pod {pod} does not exist in namespace {namespace}; check the name (`kubectl get pods`) or omit --pod to use a helper pod"
    )]
    PodNotFound { pod: String, namespace: String },
    #[error(
        "pod {pod} is {phase}, not Running: commands cannot run in it; omit --pod to use a helper pod"
    )]
    PodNotRunning { pod: String, phase: String },
    #[error(
        "pod {pod} does not mount PersistentVolumeClaim {claim} (its claims: {mounted}); pick a pod that does, or omit --pod"
    )]
    PodLacksClaim {
        pod: String,
        claim: String,
        mounted: String,
    },
    #[error(
        "pod {pod} mounts only the sub-folder {sub_path:?} of {claim}; pick a pod that mounts the whole claim, or omit --pod"
    )]
    PodMountsSubPath {
        pod: String,
        claim: String,
        sub_path: String,
    },
    #[error("cannot {action}: {message}")]
    Kube {
        action: String,
        message: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("watching {what} failed: {message}")]
    Watch { what: String, message: String },
    #[error("invalid PVC path: {0}")]
    Path(#[from] PathError),
    #[error("listing {path} in pod {pod}: {source}")]
    Listing {
        pod: String,
        path: String,
        #[source]
        source: ListingError,
    },
    #[error("{what} in pod {pod} failed: {detail}")]
    Exec {
        pod: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "the tar stream from pod {pod} holds a refused entry {entry:?} ({reason}); nothing was written outside {}. Something on the PVC or in the pod's image is hostile or broken: look at it before fetching again",
        target.display()
    )]
    UnsafeEntry {
        pod: String,
        entry: String,
        reason: String,
        target: PathBuf,
    },
    #[error(
        "the transfer from pod {pod} broke off ({detail}); {received} file(s) were verified and kept, {missing} are missing, and no partial file was left under a final name. Run the same command again: it fetches only what is missing"
    )]
    Interrupted {
        pod: String,
        detail: String,
        received: usize,
        missing: usize,
    },
    #[error(
        "{} file(s) changed on the PVC while they were fetched and were not kept: {}. Run again once the workflow writing them is done",
        mismatches.len(),
        list(mismatches.iter().map(|m| m.path.as_str()))
    )]
    Changed { mismatches: Vec<Mismatch> },
    #[error("cannot write {}: {source}{}", path.display(), write_hint(source, path))]
    LocalWrite {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    LocalRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} file(s) on the PVC cannot be written into {}: {}. Move the local entries away or fetch into another folder",
        conflicts.len(),
        target.display(),
        list(conflicts.iter().map(|c| format!("{} ({})", c.path, c.reason)))
    )]
    Conflicts {
        target: PathBuf,
        conflicts: Vec<Conflict>,
    },
    #[error("refusing to delete {path} on the PVC: {reason}")]
    NotVerified { path: String, reason: String },
}

/// At most this many names in one message.
const LISTED: usize = 5;

fn list<I, S>(items: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let all: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    let mut text = all
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if all.len() > LISTED {
        text.push_str(&format!(" and {} more", all.len() - LISTED));
    }
    text
}

fn evidence(events: &[String]) -> String {
    if events.is_empty() {
        String::new()
    } else {
        format!(". Events: {}", list(events))
    }
}

fn diagnosis(findings: &[Finding], events: &[String]) -> String {
    if findings.is_empty() {
        evidence(events)
    } else {
        let lines: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
        format!(": {}", lines.join(" | "))
    }
}

fn write_hint(err: &io::Error, path: &std::path::Path) -> String {
    let folder = path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => format!(
            " (the disk holding {folder} is full: free space there or fetch into another folder with --to; files already verified are kept and a re-run fetches only the rest)"
        ),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            format!(" (no permission to write in {folder}: choose another --to)")
        }
        _ => String::new(),
    }
}

impl FetchError {
    /// A kube error while doing `action`, with the API server's own message.
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        FetchError::Kube {
            action: action.into(),
            message: kit_cluster::errors::describe(&source),
            source: Box::new(source),
        }
    }

    /// The pod's diagnosis when it did not start, for the CLI to render.
    pub fn findings(&self) -> &[Finding] {
        match self {
            FetchError::HelperNotStarted { findings, .. } => findings,
            _ => &[],
        }
    }
}

/// 403 from the API server.
pub(crate) fn is_forbidden(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 403)
}

pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// A 403 that is a missing RBAC right (not e.g. an exceeded ResourceQuota, also a 403).
pub(crate) fn missing_right(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(s) => s.code == 403 && !s.message.contains("exceeded quota"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_names_the_folder_and_what_to_do() {
        let err = FetchError::LocalWrite {
            path: PathBuf::from("/results/run/.xtask-00.part"),
            source: io::Error::from(io::ErrorKind::StorageFull),
        };
        let text = err.to_string();
        assert!(text.contains("/results/run/.xtask-00.part"), "{text}");
        assert!(text.contains("disk holding /results/run is full"), "{text}");
    }

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(list(["a", "b"]), "a, b");
        let many: Vec<String> = (0..8).map(|i| i.to_string()).collect();
        assert_eq!(list(&many), "0, 1, 2, 3, 4 and 3 more");
    }

    #[test]
    fn rights_are_named() {
        let err = FetchError::NoRight {
            right: "create pods/exec".into(),
            namespace: "argo".into(),
            needed: "run tar in the helper pod",
            message: "forbidden".into(),
        };
        assert!(
            err.to_string()
                .starts_with("you have no right to create pods/exec in namespace argo")
        );
    }
}

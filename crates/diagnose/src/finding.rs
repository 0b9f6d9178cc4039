//! What a diagnosis produces: findings, their level and their stable reason names.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::reasons::Reason;

/// Who has to act: the three failure levels of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Between the user and a Kubernetes resource: the user can fix it.
    User,
    /// The Argo controller cannot act (not running, no rights, waiting for resources).
    ArgoServer,
    /// Nodes, networking, storage: the cluster admins have to act.
    Kubernetes,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::User => "user",
            Level::ArgoServer => "argo-server",
            Level::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One explained problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub level: Level,
    pub reason: Reason,
    /// The workflow step's display name, e.g. `collect(0)`.
    pub step: Option<String>,
    pub pod: Option<String>,
    /// One sentence saying what is wrong, with the names involved.
    pub summary: String,
    /// Verbatim event messages, status messages and log tail lines.
    pub evidence: Vec<String>,
    /// A concrete instruction.
    pub fix: String,
    /// Nothing will recover without action.
    pub terminal: bool,
    /// First sign seen, still inside the grace period.
    pub watching: bool,
    /// When the first sign was seen, when known.
    pub since: Option<DateTime<Utc>>,
}

/// At most this many evidence lines in the one-paragraph rendering; JSON keeps them all.
const DISPLAY_EVIDENCE: usize = 8;

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.terminal {
            '✗'
        } else if self.watching {
            '⧗'
        } else {
            '!'
        };
        write!(f, "{mark} [{}] {}", self.level, self.reason)?;
        match (&self.step, &self.pod) {
            (Some(step), Some(pod)) => write!(f, " in step \"{step}\" (pod {pod})")?,
            (Some(step), None) => write!(f, " in step \"{step}\"")?,
            (None, Some(pod)) => write!(f, " in pod {pod}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.summary)?;
        if !self.evidence.is_empty() {
            f.write_str(" Evidence: ")?;
            let n = self.evidence.len();
            // Keep the head (status messages) and the tail (last log lines).
            let shown: Vec<String> = if n <= DISPLAY_EVIDENCE {
                self.evidence.iter().map(|e| quote(e)).collect()
            } else {
                let tail = DISPLAY_EVIDENCE - 3;
                let mut v: Vec<String> = self.evidence[..2].iter().map(|e| quote(e)).collect();
                v.push(format!("… {} more …", n - 2 - tail));
                v.extend(self.evidence[n - tail..].iter().map(|e| quote(e)));
                v
            };
            f.write_str(&shown.join("; "))?;
        }
        if self.watching {
            f.write_str(" (watching: still inside the grace period)")?;
        }
        write!(f, " → fix: {}", self.fix)
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.trim_end())
}

/// The level of the most pressing finding: the earliest terminal one, else the earliest
/// not merely watched, else the earliest watched sign. `None` when there is no finding.
/// Expects the order [`crate::diagnose`] returns.
pub fn summary_level(findings: &[Finding]) -> Option<Level> {
    let pick = |pred: &dyn Fn(&Finding) -> bool| {
        findings.iter().filter(|f| pred(f)).map(|f| f.level).next()
    };
    pick(&|f| f.terminal)
        .or_else(|| pick(&|f| !f.watching))
        .or_else(|| pick(&|_| true))
}

/// Whether any finding is terminal: a follower can stop and report.
pub fn exit_worthy(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.terminal)
}

/// The first confirmed finding that holds the workflow still until someone acts (see
/// [`Reason::stalls`]): following further would only wait.
pub fn stalled(findings: &[Finding]) -> Option<&Finding> {
    findings.iter().find(|f| f.terminal && f.reason.stalls())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(reason: Reason, terminal: bool, watching: bool) -> Finding {
        Finding {
            level: reason.level(),
            reason,
            step: Some("collect(0)".into()),
            pod: Some("wf-collect-1".into()),
            summary: "something.".into(),
            evidence: vec!["line".into()],
            fix: "do it".into(),
            terminal,
            watching,
            since: None,
        }
    }

    #[test]
    fn only_confirmed_causes_that_hold_the_workflow_still_stop_a_follower() {
        let pvc = finding(Reason::PvcMissing, true, false);
        let exit = finding(Reason::NonZeroExit, true, false);
        let watching = finding(Reason::PodSandboxFailed, false, true);
        assert_eq!(stalled(&[exit.clone(), pvc.clone()]), Some(&pvc));
        assert_eq!(stalled(&[exit, watching]), None);
        // A failed program ends its step: the workflow ends by itself.
        for r in [
            Reason::NonZeroExit,
            Reason::OomKilled,
            Reason::InvalidSpec,
            Reason::Evicted,
            Reason::PodErrorWorkflowSilent,
        ] {
            assert!(!r.stalls(), "{r}");
        }
    }

    #[test]
    fn reason_names_are_unique_kebab_and_match_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            let name = r.as_str();
            assert!(seen.insert(name), "duplicate {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}"
            );
            assert_eq!(serde_json::to_value(r).unwrap(), name);
            assert_eq!(Reason::from_name(name), Some(*r));
        }
        assert_eq!(Reason::from_name("nope"), None);
    }

    #[test]
    fn display_is_one_paragraph() {
        let f = finding(Reason::ImageNotFound, true, false);
        let s = f.to_string();
        assert!(
            s.starts_with("✗ [user] image-not-found in step \"collect(0)\""),
            "{s}"
        );
        assert!(s.contains("→ fix: do it"));
        assert!(!s.contains('\n'));
    }

    #[test]
    fn display_elides_long_evidence_keeping_the_tail() {
        let mut f = finding(Reason::NonZeroExit, true, false);
        f.evidence = (0..20).map(|i| format!("l{i}")).collect();
        let s = f.to_string();
        assert!(s.contains("\"l0\"; \"l1\"; … 13 more …; \"l15\""), "{s}");
        assert!(s.contains("\"l19\""));
        assert!(!s.contains("\"l5\""));
    }

    #[test]
    fn summary_and_exit() {
        assert_eq!(summary_level(&[]), None);
        assert!(!exit_worthy(&[]));
        let w = finding(Reason::ImageNotFound, false, true);
        let t = finding(Reason::NodeNotReady, true, false);
        assert_eq!(summary_level(std::slice::from_ref(&w)), Some(Level::User));
        assert!(!exit_worthy(std::slice::from_ref(&w)));
        let both = [w, t];
        assert_eq!(summary_level(&both), Some(Level::Kubernetes));
        assert!(exit_worthy(&both));
    }

    #[test]
    fn serializes_kebab_levels() {
        let f = finding(Reason::Forbidden, true, false);
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["level"], "argo-server");
        assert_eq!(v["reason"], "forbidden");
    }
}

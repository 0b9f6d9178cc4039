//! From raw rule output to findings: grace periods, merging, order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::finding::{Finding, Reason};
use crate::reasons::wording::Place;
use crate::rules::Detection;

/// At most this many other steps are named in a merged finding's summary.
const NAMED_OTHERS: usize = 3;

struct Merged {
    raw: Detection,
    /// Worded from the first detection, the one whose step the finding names.
    summary: String,
    fix: String,
    others: Vec<String>,
}

/// Words, merges and orders the detections of a workflow in `namespace`.
pub(crate) fn finalize(
    now: DateTime<Utc>,
    namespace: &str,
    detections: Vec<Detection>,
) -> Vec<Finding> {
    let mut merged: BTreeMap<(Reason, Option<String>, String), Merged> = BTreeMap::new();
    let mut order = Vec::new();
    for raw in detections {
        let reason = raw.reason();
        let pod_key = if reason.shared_cause() {
            None
        } else {
            raw.pod.clone()
        };
        let key = (reason, pod_key, raw.fact.key());
        match merged.get_mut(&key) {
            None => {
                order.push(key.clone());
                let (summary, fix) = raw.fact.words(&Place {
                    namespace,
                    pod: raw.pod.as_deref(),
                });
                merged.insert(
                    key,
                    Merged {
                        raw,
                        summary,
                        fix,
                        others: Vec::new(),
                    },
                );
            }
            Some(m) => {
                for e in raw.evidence {
                    if !m.raw.evidence.contains(&e) {
                        m.raw.evidence.push(e);
                    }
                }
                m.raw.since = match (m.raw.since, raw.since) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                m.raw.definitive |= raw.definitive;
                if m.raw.step.is_none() && m.raw.pod.is_none() {
                    m.raw.step = raw.step;
                    m.raw.pod = raw.pod;
                } else if raw.pod != m.raw.pod
                    && let Some(s) = raw.step.or(raw.pod)
                    && Some(&s) != m.raw.step.as_ref()
                    && !m.others.contains(&s)
                {
                    m.others.push(s);
                }
            }
        }
    }

    let mut findings: Vec<Finding> = order
        .into_iter()
        .filter_map(|k| merged.remove(&k))
        .map(|m| to_finding(now, m))
        .collect();
    findings.sort_by(|a, b| {
        b.terminal
            .cmp(&a.terminal)
            .then_with(|| match (a.since, b.since) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.level.cmp(&b.level))
            .then_with(|| a.reason.cmp(&b.reason))
            .then_with(|| a.step.cmp(&b.step))
            .then_with(|| a.pod.cmp(&b.pod))
    });
    findings
}

/// Reasons whose evidence ends with log lines, which must stay verbatim and complete.
fn has_logs(r: Reason) -> bool {
    matches!(
        r,
        Reason::NonZeroExit | Reason::OomKilled | Reason::PodErrorWorkflowSilent
    )
}

/// Drops lines another line already contains: the kubelet's `configmap "x" not found`
/// next to its event `Error: configmap "x" not found`, Argo's node message quoting the
/// container's.
fn prune_contained(evidence: Vec<String>) -> Vec<String> {
    let keep: Vec<bool> = evidence
        .iter()
        .enumerate()
        .map(|(i, e)| {
            !evidence
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.len() > e.len() && other.contains(e.as_str()))
        })
        .collect();
    evidence
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

fn to_finding(now: DateTime<Utc>, m: Merged) -> Finding {
    let Merged {
        mut raw,
        mut summary,
        fix,
        others,
    } = m;
    let reason = raw.reason();
    if !has_logs(reason) {
        raw.evidence = prune_contained(raw.evidence);
    }
    // Without a time we cannot tell how long it lasted: treat it as past the grace.
    let watching =
        raw.grace > chrono::TimeDelta::zero() && raw.since.is_some_and(|t| now - t < raw.grace);
    if !others.is_empty() {
        let named: Vec<&str> = others
            .iter()
            .take(NAMED_OTHERS)
            .map(String::as_str)
            .collect();
        summary.push_str(&format!(" Also in {}", named.join(", ")));
        if others.len() > NAMED_OTHERS {
            summary.push_str(&format!(" and {} more", others.len() - NAMED_OTHERS));
        }
        summary.push('.');
    }
    Finding {
        level: reason.level(),
        reason,
        step: raw.step,
        pod: raw.pod,
        summary,
        evidence: raw.evidence,
        fix,
        terminal: !watching && raw.definitive,
        watching,
        since: raw.since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_longest_wording() {
        let v = vec![
            "configmap \"x\" not found".to_string(),
            "Error: configmap \"x\" not found".to_string(),
            "other".to_string(),
        ];
        assert_eq!(
            prune_contained(v),
            vec![
                "Error: configmap \"x\" not found".to_string(),
                "other".to_string()
            ]
        );
    }
}

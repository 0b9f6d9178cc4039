//! The live tree shown while a run is followed on a terminal: the workflow's structure
//! indented, loops as one line with counts by phase, running steps with their elapsed
//! time, failed steps and their findings spelled out, cut to the terminal's height.
//!
//! Pure: the caller draws the lines (colours, spinner) and decides when.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kit_diagnose::{Finding, Phase, Snapshot};

use crate::structure::Structure;
use crate::text::{duration_text, seconds_between};

/// How a line is marked; the caller turns it into a glyph and a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Running,
    Pending,
    Succeeded,
    Failed,
    Skipped,
    /// A finding under its step.
    Finding,
    /// "… N more" when the tree is cut to fit.
    More,
}

impl Mark {
    fn of_phase(phase: &Phase) -> Mark {
        match phase {
            Phase::Succeeded => Mark::Succeeded,
            Phase::Failed | Phase::Error => Mark::Failed,
            Phase::Running => Mark::Running,
            Phase::Skipped | Phase::Omitted => Mark::Skipped,
            _ => Mark::Pending,
        }
    }

    /// What is kept first when the tree does not fit: findings and failures, then what
    /// runs, then the rest.
    fn keep_rank(self) -> u8 {
        match self {
            Mark::Finding | Mark::Failed | Mark::More => 0,
            Mark::Running => 1,
            Mark::Pending => 2,
            Mark::Succeeded | Mark::Skipped => 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLine {
    pub depth: usize,
    pub mark: Mark,
    pub text: String,
}

/// Lines for the tree of `snapshot`, at most `max_lines` (at least 2).
pub fn tree_lines(snapshot: &Snapshot, findings: &[Finding], max_lines: usize) -> Vec<TreeLine> {
    let structure = Structure::of(&snapshot.workflow);
    let mut placed: BTreeMap<usize, Vec<&Finding>> = BTreeMap::new();
    let mut unplaced: Vec<&Finding> = Vec::new();
    for f in findings {
        match structure.place(f) {
            Some(i) => placed.entry(i).or_default().push(f),
            None => unplaced.push(f),
        }
    }
    let mut writer = Writer {
        s: &structure,
        now: snapshot.now,
        placed,
        lines: Vec::new(),
    };
    writer.header(snapshot);
    for f in unplaced {
        writer.finding(f, 1);
    }
    let top = structure.top();
    writer.children(&top, 1);
    fit(writer.lines, max_lines.max(2))
}

struct Writer<'s, 'a> {
    s: &'s Structure<'a>,
    now: DateTime<Utc>,
    /// Findings by the entry they are about, shown under it.
    placed: BTreeMap<usize, Vec<&'a Finding>>,
    lines: Vec<TreeLine>,
}

impl<'a> Writer<'_, 'a> {
    fn push(&mut self, depth: usize, mark: Mark, text: String) {
        self.lines.push(TreeLine { depth, mark, text });
    }

    fn header(&mut self, snapshot: &Snapshot) {
        let wf = &snapshot.workflow;
        let leaves = self.s.leaves();
        let done = leaves
            .iter()
            .filter(|&&i| self.s.entries[i].node.finished_at.is_some())
            .count();
        let phase = wf.phase_or_pending();
        let elapsed = self
            .s
            .root
            .and_then(|r| self.s.entries[r].node.started_at)
            .map(|start| duration_text(seconds_between(start, self.now)))
            .unwrap_or_else(|| "-".into());
        let text = format!(
            "{} {phase} · {done}/{} steps done · {elapsed}",
            wf.name,
            leaves.len()
        );
        self.push(0, Mark::of_phase(phase), text);
    }

    fn finding(&mut self, f: &Finding, depth: usize) {
        let text = format!("[{}] {}: {}", f.level, f.reason, f.summary);
        self.push(depth, Mark::Finding, text);
    }

    fn elapsed(&self, i: usize) -> String {
        let n = self.s.entries[i].node;
        match n.started_at {
            Some(start) => duration_text(seconds_between(start, n.finished_at.unwrap_or(self.now))),
            None => "-".into(),
        }
    }

    /// Children of one container, loops folded.
    fn children(&mut self, children: &[usize], depth: usize) {
        // The runs of one repeated step form a group, in the order of the first start.
        let entries = &self.s.entries;
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for &c in children {
            let e = &entries[c];
            let group = groups.iter_mut().find(|g| {
                let first = &entries[g[0]];
                e.is_repeated() && first.is_repeated() && first.base == e.base
            });
            match group {
                Some(members) => members.push(c),
                None => groups.push(vec![c]),
            }
        }
        for members in groups {
            let first = &self.s.entries[members[0]];
            if first.is_repeated() {
                self.loop_group(&members, depth);
            } else {
                self.entry(members[0], depth, first.base.clone());
            }
        }
    }

    fn loop_group(&mut self, members: &[usize], depth: usize) {
        let base = self.s.entries[members[0]].base.clone();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for &m in members {
            *counts
                .entry(self.s.entries[m].phase().as_str())
                .or_default() += 1;
        }
        let all_done_well = members.iter().all(|&m| {
            matches!(
                self.s.entries[m].phase(),
                Phase::Succeeded | Phase::Skipped | Phase::Omitted
            )
        });
        let any_running = members
            .iter()
            .any(|&m| *self.s.entries[m].phase() == Phase::Running);
        let any_failed = members.iter().any(|&m| self.s.entries[m].node.failed());
        let mark = if any_failed {
            Mark::Failed
        } else if all_done_well {
            Mark::Succeeded
        } else if any_running {
            Mark::Running
        } else {
            Mark::Pending
        };
        let span = span_text(self.s, members, self.now);
        let counts_text: Vec<String> = counts.iter().map(|(p, n)| format!("{n} {p}")).collect();
        let what = if self.s.entries[members[0]].attempt.is_some() {
            "attempts"
        } else {
            "items"
        };
        self.push(
            depth,
            mark,
            format!(
                "{base} ×{} {what} · {} · {span}",
                members.len(),
                counts_text.join(", ")
            ),
        );
        if all_done_well {
            return;
        }
        // Steps that went well are in the counts; the others are shown one by one.
        for &m in members {
            if *self.s.entries[m].phase() == Phase::Succeeded {
                continue;
            }
            let e = &self.s.entries[m];
            let label = match (&e.item, e.attempt) {
                (Some(item), _) => item.clone(),
                (None, Some(a)) => format!("attempt {a}"),
                _ => e.base.clone(),
            };
            self.entry(m, depth + 1, label);
        }
    }

    fn entry(&mut self, i: usize, depth: usize, label: String) {
        let e = &self.s.entries[i];
        let phase = e.phase();
        let mark = Mark::of_phase(phase);
        let done_well = *phase == Phase::Succeeded;
        let mut text = format!("{label} · {phase} · {}", self.elapsed(i));
        let leaf = e.is_leaf();
        if !leaf {
            let under = self.s.leaves_under(i);
            let done = under
                .iter()
                .filter(|&&l| self.s.entries[l].node.finished_at.is_some())
                .count();
            text.push_str(&format!(" · {done}/{} steps", under.len()));
        }
        if e.node.failed()
            && let Some(message) = e.node.message.as_deref().filter(|m| !m.is_empty())
        {
            text.push_str(&format!(" · {message}"));
        }
        self.push(depth, mark, text);
        for f in self.placed.remove(&i).unwrap_or_default() {
            self.finding(f, depth + 1);
        }
        if !leaf && !done_well {
            let children = self.s.entries[i].children.clone();
            self.children(&children, depth + 1);
        }
    }
}

/// From the first start to the last end (or now) of a group.
fn span_text(s: &Structure<'_>, members: &[usize], now: DateTime<Utc>) -> String {
    let start = members
        .iter()
        .filter_map(|&m| s.entries[m].node.started_at)
        .min();
    let running = members
        .iter()
        .any(|&m| s.entries[m].node.finished_at.is_none());
    let end = if running {
        Some(now)
    } else {
        members
            .iter()
            .filter_map(|&m| s.entries[m].node.finished_at)
            .max()
    };
    match (start, end) {
        (Some(a), Some(b)) => duration_text(seconds_between(a, b)),
        _ => "-".into(),
    }
}

/// Cuts the lines to `max`: drops the least telling ones (finished steps first, from the
/// bottom) and says how many were left out and what they were.
fn fit(lines: Vec<TreeLine>, max: usize) -> Vec<TreeLine> {
    if lines.len() <= max {
        return lines;
    }
    // The header (first line) always stays; one line is kept for the "more" note.
    let room = max - 2;
    let mut order: Vec<usize> = (1..lines.len()).collect();
    order.sort_by_key(|&i| (lines[i].mark.keep_rank(), i));
    let mut keep = vec![false; lines.len()];
    keep[0] = true;
    for &i in order.iter().take(room) {
        keep[i] = true;
    }
    let mut hidden: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        if !keep[i] {
            let what = match line.mark {
                Mark::Running => "running",
                Mark::Pending => "pending",
                Mark::Succeeded => "succeeded",
                Mark::Skipped => "skipped",
                Mark::Failed => "failed",
                Mark::Finding => "findings",
                Mark::More => "more",
            };
            *hidden.entry(what).or_default() += 1;
        }
    }
    let total: usize = hidden.values().sum();
    let detail: Vec<String> = hidden.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let mut out: Vec<TreeLine> = lines
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep[*i])
        .map(|(_, l)| l)
        .collect();
    out.push(TreeLine {
        depth: 1,
        mark: Mark::More,
        text: format!("… {total} more lines not shown ({})", detail.join(", ")),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{exit_finding, snapshot_of};
    use serde_json::json;

    /// The demo's shape: vintages × boroughs, each running split then collect.
    fn demo(collect_phase: &str) -> Snapshot {
        let mut nodes = serde_json::Map::new();
        let wf = "demo-x1";
        let mut add = |id: &str, v: serde_json::Value| {
            nodes.insert(id.to_string(), v);
        };
        add(
            wf,
            json!({"id": wf, "name": wf, "displayName": wf, "type": "Steps", "phase": "Running",
                   "startedAt": "2026-12-01T10:00:00Z", "templateName": "main"}),
        );
        add(
            "g0",
            json!({"id": "g0", "name": format!("{wf}[0]"), "displayName": "[0]", "type": "StepGroup",
                   "boundaryID": wf, "phase": "Running", "startedAt": "2026-12-01T10:00:00Z"}),
        );
        let mut t = 1;
        for (vi, vintage) in ["2009", "2012"].iter().enumerate() {
            let vid = format!("v{vi}");
            add(
                &vid,
                json!({"id": vid, "name": format!("{wf}[0].vintage({vi}:{vintage})"),
                       "displayName": format!("vintage({vi}:{vintage})"), "type": "Steps",
                       "boundaryID": wf, "phase": "Running", "startedAt": "2026-12-01T10:00:01Z"}),
            );
            for (bi, borough) in ["LYON_1ER", "LYON_2EME"].iter().enumerate() {
                let bid = format!("b{vi}{bi}");
                add(
                    &bid,
                    json!({"id": bid, "name": format!("{wf}[0].vintage({vi}:{vintage}).borough({bi}:{borough})"),
                           "displayName": format!("borough({bi}:{borough})"), "type": "Steps",
                           "boundaryID": vid, "phase": "Running", "startedAt": "2026-12-01T10:00:02Z"}),
                );
                for step in ["split", "collect"] {
                    t += 1;
                    let id = format!("{bid}{step}");
                    let phase = if step == "split" {
                        "Succeeded"
                    } else {
                        collect_phase
                    };
                    let failed_one = phase == "Failed" && vi == 1 && bi == 1;
                    let phase = if phase == "Failed" && !failed_one {
                        "Succeeded"
                    } else {
                        phase
                    };
                    let mut node = json!({"id": id,
                        "name": format!("{wf}[0].vintage({vi}:{vintage}).borough({bi}:{borough})[0].{step}"),
                        "displayName": step, "type": "Pod", "boundaryID": bid, "phase": phase,
                        "templateName": step,
                        "startedAt": format!("2026-12-01T10:00:{:02}Z", t)});
                    if phase != "Running" {
                        node["finishedAt"] = json!(format!("2026-12-01T10:00:{:02}Z", t + 3));
                    }
                    if failed_one {
                        node["message"] = json!("Error (exit code 3)");
                    }
                    add(&id, node);
                }
            }
        }
        snapshot_of(
            json!({"metadata": {"name": wf, "namespace": "argo",
            "creationTimestamp": "2026-12-01T10:00:00Z"},
            "status": {"phase": "Running", "nodes": nodes}}),
            "2026-12-01T10:01:00Z",
        )
    }

    fn texts(lines: &[TreeLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| format!("{}{}", "  ".repeat(l.depth), l.text))
            .collect()
    }

    #[test]
    fn a_finished_loop_is_one_line_and_a_running_one_shows_its_items() {
        let s = demo("Succeeded");
        let lines = tree_lines(&s, &[], 40);
        let t = texts(&lines);
        assert!(
            t[0].starts_with("demo-x1 Running · 8/8 steps done"),
            "{t:#?}"
        );
        assert!(t[1].starts_with("  vintage ×2 items · 2 Running"), "{t:#?}");
        // Each vintage shown by its value, boroughs folded once they succeeded... here
        // they are still Running (their Steps nodes), so each borough is listed with its
        // finished pods.
        assert!(
            t.iter()
                .any(|l| l.trim_start().starts_with("2009 · Running")),
            "{t:#?}"
        );
        assert!(
            t.iter()
                .any(|l| l.trim_start().starts_with("LYON_1ER · Running")),
            "{t:#?}"
        );
        assert!(
            !t.iter().any(|l| l.contains("[0]")),
            "no Argo internal names: {t:#?}"
        );
    }

    #[test]
    fn a_failed_item_is_expanded_with_its_message_and_finding() {
        let s = demo("Failed");
        let finding = exit_finding(&s, "collect", "collect exited with 3", &[]);
        let lines = tree_lines(&s, &[finding], 40);
        let t = texts(&lines);
        let failed = t
            .iter()
            .position(|l| l.contains("collect · Failed") && l.contains("exit code 3"))
            .unwrap_or_else(|| panic!("{t:#?}"));
        assert!(
            t[failed + 1].contains("[user] non-zero-exit: collect exited with 3"),
            "{t:#?}"
        );
        assert_eq!(lines[failed + 1].mark, Mark::Finding);
        assert!(lines[failed + 1].depth > lines[failed].depth);
    }

    #[test]
    fn a_tall_tree_is_cut_to_the_height_keeping_failures_and_saying_what_is_hidden() {
        let s = demo("Failed");
        let all = tree_lines(&s, &[], 1000);
        assert!(all.len() > 6);
        let cut = tree_lines(&s, &[], 6);
        assert_eq!(cut.len(), 6);
        assert_eq!(cut[0], all[0]);
        assert!(cut.iter().any(|l| l.mark == Mark::Failed), "{cut:#?}");
        let more = cut.last().unwrap();
        assert_eq!(more.mark, Mark::More);
        assert!(
            more.text.contains(&format!("{} more lines", all.len() - 5)),
            "{}",
            more.text
        );
    }
}

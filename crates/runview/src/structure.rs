//! The shape of a workflow as its author wrote it, rebuilt from Argo's flat `status.nodes`:
//! which step contains which, loop items by their values, retry attempts by number.
//!
//! Argo's `children` lists are not containment: in a DAG a task's children are the tasks
//! that depend on it. Containment is `boundaryID` (the Steps or DAG node a node runs
//! inside), except for retry attempts, which are the children of their Retry node.
//! Step groups (`[0]`) and task groups only hold a place in Argo's bookkeeping and are
//! left out.

use std::collections::HashMap;

use kit_diagnose::{NodeType, NodeView, Phase, WorkflowView};

/// One step of the tree: a pod, a suspend, or a Steps/DAG/Retry node holding others.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub node: &'a NodeView,
    /// The step's name without its loop item or attempt: `collect`.
    pub base: String,
    /// The loop item's value for `collect(0:LYON_1ER)`.
    pub item: Option<String>,
    /// The attempt number (from 1) of a retried step.
    pub attempt: Option<u32>,
    /// Indexes into [`Structure::entries`], in order of start.
    pub children: Vec<usize>,
    pub parent: Option<usize>,
}

impl Entry<'_> {
    /// Runs something itself (a pod, a suspend): a bar in the timeline, a leaf in the tree.
    pub fn is_leaf(&self) -> bool {
        matches!(
            self.node.node_type,
            NodeType::Pod
                | NodeType::Suspend
                | NodeType::Container
                | NodeType::Skipped
                | NodeType::HTTP
                | NodeType::Plugin
        )
    }

    /// The node's phase; Pending until the controller writes one.
    pub fn phase(&self) -> &Phase {
        self.node.phase_or_pending()
    }

    /// One of several runs of a step: a loop item or a retry attempt.
    pub fn is_repeated(&self) -> bool {
        self.item.is_some() || self.attempt.is_some()
    }
}

/// The workflow as a tree of [`Entry`].
#[derive(Debug, Clone)]
pub struct Structure<'a> {
    pub entries: Vec<Entry<'a>>,
    /// The workflow's own node, when the controller has made it.
    pub root: Option<usize>,
    /// Entries whose container could not be found (a node list cut short): shown at the top.
    pub orphans: Vec<usize>,
}

/// Node types that only group others in Argo's bookkeeping.
fn is_placeholder(node: &NodeView) -> bool {
    matches!(node.node_type, NodeType::StepGroup | NodeType::TaskGroup)
}

impl<'a> Structure<'a> {
    pub fn of(workflow: &'a WorkflowView) -> Self {
        let kept: Vec<&NodeView> = workflow
            .nodes
            .iter()
            .filter(|n| !is_placeholder(n))
            .collect();
        let index: HashMap<&str, usize> = kept
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        // Attempts belong to their Retry node, whatever their boundary says.
        let mut retry_parent: HashMap<&str, usize> = HashMap::new();
        for (i, n) in kept.iter().enumerate() {
            if n.node_type == NodeType::Retry {
                for child in &n.children {
                    retry_parent.insert(child.as_str(), i);
                }
            }
        }
        let root = kept
            .iter()
            .position(|n| n.id == workflow.name || n.name == workflow.name);
        let mut entries: Vec<Entry<'a>> = kept
            .iter()
            .map(|n| {
                let (base, item, attempt) = split_display_name(&n.display_name);
                Entry {
                    node: n,
                    base,
                    item,
                    attempt,
                    children: Vec::new(),
                    parent: None,
                }
            })
            .collect();
        for (i, entry) in entries.iter_mut().enumerate() {
            if Some(i) == root {
                continue;
            }
            let n = entry.node;
            let parent = retry_parent
                .get(n.id.as_str())
                .copied()
                .or_else(|| n.boundary_id.as_deref().and_then(|b| index.get(b).copied()))
                .filter(|&p| p != i)
                .or(root);
            entry.parent = parent;
            let under_retry = parent.is_some_and(|p| kept[p].node_type == NodeType::Retry);
            if under_retry {
                // The Retry node holds the loop item; an only attempt is no news.
                entry.item = None;
                if parent.is_some_and(|p| kept[p].children.len() < 2) {
                    entry.attempt = None;
                }
            } else {
                entry.attempt = None;
            }
        }
        let mut orphans = Vec::new();
        for i in 0..entries.len() {
            match entries[i].parent {
                Some(p) => entries[p].children.push(i),
                None if Some(i) != root => orphans.push(i),
                None => {}
            }
        }
        for i in 0..entries.len() {
            let mut children = std::mem::take(&mut entries[i].children);
            start_order(&entries, &mut children);
            entries[i].children = children;
        }
        start_order(&entries, &mut orphans);
        // Cycles in a corrupt status would loop the walkers: cut every entry that is its
        // own ancestor loose.
        let mut structure = Structure {
            entries,
            root,
            orphans,
        };
        structure.cut_cycles();
        structure
    }

    fn cut_cycles(&mut self) {
        let n = self.entries.len();
        for i in 0..n {
            let mut seen = 0;
            let mut at = self.entries[i].parent;
            while let Some(p) = at {
                seen += 1;
                if p == i || seen > n {
                    if let Some(old) = self.entries[i].parent.take() {
                        self.entries[old].children.retain(|&c| c != i);
                    }
                    self.orphans.push(i);
                    break;
                }
                at = self.entries[p].parent;
            }
        }
    }

    /// Entries from the outermost to `i`, the workflow's own node left out.
    pub fn ancestry(&self, i: usize) -> Vec<usize> {
        let mut chain = vec![i];
        let mut at = self.entries[i].parent;
        while let Some(p) = at {
            if Some(p) == self.root || chain.len() > self.entries.len() {
                break;
            }
            chain.push(p);
            at = self.entries[p].parent;
        }
        chain.reverse();
        chain
    }

    /// What a person calls the step: its name, then the loop values of the steps it runs
    /// in, outermost first (`collect · 2009 · LYON_1ER`), then its attempt.
    pub fn label(&self, i: usize) -> String {
        let chain = self.ancestry(i);
        let e = &self.entries[i];
        let mut label = e.base.clone();
        for &a in &chain {
            if let Some(item) = &self.entries[a].item {
                label.push_str(" · ");
                label.push_str(item);
            }
        }
        if let Some(attempt) = e.attempt {
            label.push_str(&format!(" (attempt {attempt})"));
        }
        label
    }

    /// The templates' path that groups steps of one loop together, items left out:
    /// `vintage › borough › collect`.
    pub fn group(&self, i: usize) -> String {
        let chain = self.ancestry(i);
        let mut parts: Vec<&str> = Vec::new();
        for &a in &chain {
            let base = self.entries[a].base.as_str();
            // A Retry node and its attempt share one name.
            if parts.last() != Some(&base) {
                parts.push(base);
            }
        }
        parts.join(" › ")
    }

    /// The leaves (pods, suspends) in order of start.
    pub fn leaves(&self) -> Vec<usize> {
        let mut leaves: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                self.entries[i].is_leaf() && self.entries[i].node.node_type != NodeType::Skipped
            })
            .collect();
        start_order(&self.entries, &mut leaves);
        leaves
    }

    /// The entry a finding is about: the one running its pod, else a step of its name
    /// (one that runs something first).
    pub fn place(&self, f: &kit_diagnose::Finding) -> Option<usize> {
        let by_pod = f.pod.as_deref().and_then(|pod| {
            self.entries
                .iter()
                .position(|e| e.node.pod_name.as_deref() == Some(pod))
        });
        by_pod.or_else(|| {
            let step = f.step.as_deref()?;
            let named = |e: &Entry<'_>| e.node.display_name == step;
            self.entries
                .iter()
                .position(|e| named(e) && e.is_leaf())
                .or_else(|| self.entries.iter().position(named))
        })
    }

    /// The top-level entries: the root's children, or the orphans when there is no root.
    pub fn top(&self) -> Vec<usize> {
        let mut top = match self.root {
            Some(r) if self.entries[r].is_leaf() => vec![r],
            Some(r) => self.entries[r].children.clone(),
            None => Vec::new(),
        };
        top.extend(self.orphans.iter().copied());
        top
    }

    /// Leaves under `i` (itself when it is one).
    pub fn leaves_under(&self, i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![i];
        let mut visited = 0;
        while let Some(at) = stack.pop() {
            visited += 1;
            if visited > self.entries.len() {
                break;
            }
            let e = &self.entries[at];
            if e.is_leaf() {
                out.push(at);
            } else {
                stack.extend(e.children.iter().copied());
            }
        }
        out
    }
}

/// Sorts entry indexes in order of start, unstarted last. Entries are made in the order
/// of [`WorkflowView::nodes`] (start time, then name), so among started ones the index
/// is that order.
fn start_order(entries: &[Entry<'_>], ids: &mut [usize]) {
    ids.sort_by_key(|&i| (entries[i].node.started_at.is_none(), i));
}

/// Node id → [`Structure::label`], for every node.
pub fn labels(workflow: &WorkflowView) -> HashMap<String, String> {
    let s = Structure::of(workflow);
    (0..s.entries.len())
        .map(|i| (s.entries[i].node.id.clone(), s.label(i)))
        .collect()
}

/// `collect(0:LYON_1ER)` → (`collect`, item `LYON_1ER`); `collect(2)` → attempt 3;
/// `fit(1:3)(0)` (an attempt of a loop item) → (`fit`, item `3`, attempt 1); anything
/// else is a plain name.
pub fn split_display_name(display: &str) -> (String, Option<String>, Option<u32>) {
    let (rest, attempt) = match trailing_attempt(display) {
        Some((rest, n)) => (rest, Some(n.saturating_add(1))),
        None => (display, None),
    };
    if let Some(open) = rest.find('(')
        && let Some(inner) = rest[open + 1..].strip_suffix(')')
        && let Some((index, value)) = inner.split_once(':')
        && !index.is_empty()
        && index.bytes().all(|b| b.is_ascii_digit())
    {
        return (rest[..open].to_string(), Some(item_text(value)), attempt);
    }
    (rest.to_string(), None, attempt)
}

/// `name(N)` → (`name`, N), for a name left before it.
fn trailing_attempt(display: &str) -> Option<(&str, u32)> {
    let body = display.strip_suffix(')')?;
    let open = body.rfind('(')?;
    let digits = &body[open + 1..];
    if open == 0 || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&display[..open], digits.parse().ok()?))
}

/// A loop item as a person reads it: map items (`{"year":"2009"}`) as their values.
fn item_text(value: &str) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(value) {
        let parts: Vec<String> = map
            .values()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        return parts.join(",");
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_split_into_base_item_and_attempt() {
        assert_eq!(
            split_display_name("borough(0:LYON_1ER)"),
            ("borough".into(), Some("LYON_1ER".into()), None)
        );
        assert_eq!(
            split_display_name("collect(1)"),
            ("collect".into(), None, Some(2))
        );
        assert_eq!(
            split_display_name("fit(1:3)(0)"),
            ("fit".into(), Some("3".into()), Some(1))
        );
        assert_eq!(
            split_display_name("fit(1:a(b))"),
            ("fit".into(), Some("a(b)".into()), None)
        );
        assert_eq!(
            split_display_name("collect"),
            ("collect".into(), None, None)
        );
        assert_eq!(
            split_display_name("v(3:1.5)"),
            ("v".into(), Some("1.5".into()), None)
        );
        assert_eq!(
            split_display_name(r#"p(0:{"year":"2009","city":"lyon"})"#),
            ("p".into(), Some("lyon,2009".into()), None)
        );
        // Unbalanced or odd names stay whole, never panic.
        for odd in [
            "(",
            ")",
            "a(",
            "a()",
            "a(:x)",
            "a(x:y)",
            "é(0:ü)",
            "a(99999999999)",
        ] {
            let (base, _, _) = split_display_name(odd);
            assert!(!base.is_empty() || odd.starts_with('('), "{odd}");
        }
    }

    #[test]
    fn retried_loop_items_are_labelled_by_item_and_attempt() {
        let node =
            |id: &str, name: &str, display: &str, kind: &str, boundary: &str, children: &[&str]| {
                serde_json::json!({"id": id, "name": name, "displayName": display, "type": kind,
                "boundaryID": boundary, "children": children, "phase": "Succeeded",
                "startedAt": "2026-12-01T10:00:00Z"})
            };
        let wf = serde_json::json!({"metadata": {"name": "w"}, "status": {"nodes": {
            "w": node("w", "w", "w", "Steps", "", &["g"]),
            "g": node("g", "w[0]", "[0]", "StepGroup", "w", &["r0", "r1"]),
            "r0": node("r0", "w[0].prepare", "prepare", "Retry", "w", &["a0"]),
            "a0": node("a0", "w[0].prepare(0)", "prepare(0)", "Pod", "w", &[]),
            "r1": node("r1", "w[0].fit(1:3)", "fit(1:3)", "Retry", "w", &["b0", "b1"]),
            "b0": node("b0", "w[0].fit(1:3)(0)", "fit(1:3)(0)", "Pod", "w", &[]),
            "b1": node("b1", "w[0].fit(1:3)(1)", "fit(1:3)(1)", "Pod", "w", &[]),
        }}});
        let view = WorkflowView::from_json(&wf).unwrap();
        let labels = labels(&view);
        assert_eq!(labels["a0"], "prepare");
        assert_eq!(labels["b0"], "fit · 3 (attempt 1)");
        assert_eq!(labels["b1"], "fit · 3 (attempt 2)");
        let s = Structure::of(&view);
        let b1 = s.entries.iter().position(|e| e.node.id == "b1").unwrap();
        assert_eq!(s.group(b1), "fit");
        assert_eq!(s.leaves().len(), 3);
    }
}

//! Where each value of a YAML file sits, so messages can say `file:line`.
//!
//! The map is built from the YAML parser's own events (the parser serde-saphyr uses), not from
//! a scan of the text: flow collections, multi-line scalars, comments and anchors then cannot
//! shift the numbers.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// Path (`spec.templates[2].container.image`) → 1-based line.
///
/// A mapping entry is located at its key; a list item at its first character.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineMap {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A complex key (a mapping or list used as a key): nothing inside is addressable.
    Ignored,
}

impl LineMap {
    /// Builds the map from YAML text. A syntax error stops the walk: what was seen so far is
    /// kept, and the loader reports the error itself.
    pub fn from_yaml(text: &str) -> Self {
        Self::documents(text)
            .into_iter()
            .next()
            .map(|(_, map)| map)
            .unwrap_or_default()
    }

    /// One map per document of a multi-document file (`---`), with the line each
    /// document's content starts at. Documents without content are left out, as the
    /// loader leaves them out, so the two lists line up.
    pub fn documents(text: &str) -> Vec<(usize, LineMap)> {
        let mut done: Vec<(usize, LineMap)> = Vec::new();
        let mut lines = HashMap::new();
        let mut first_line: Option<usize> = None;
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let line = span.start.line();
            if matches!(event, Event::DocumentStart(..)) {
                if let Some(start) = first_line.take() {
                    done.push((
                        start,
                        LineMap {
                            lines: std::mem::take(&mut lines),
                        },
                    ));
                }
                lines.clear();
                stack.clear();
                continue;
            }
            let is_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
                    | Event::Alias(..)
            );
            // An empty document reads as one empty scalar: it has no content.
            let empty_root = stack.is_empty()
                && matches!(&event, Event::Scalar(value, ..) if value.is_empty() || value == "~");
            if is_node && !empty_root {
                first_line.get_or_insert(line);
            }
            if is_node {
                // Where does this node go, and is it a key?
                let mut node_path: Option<String> = None;
                let mut inside_ignored = false;
                match stack.last_mut() {
                    None => node_path = Some(String::new()),
                    Some(Frame::Ignored) => inside_ignored = true,
                    Some(Frame::Seq { path, next }) => {
                        let p = format!("{path}[{next}]");
                        *next += 1;
                        lines.entry(p.clone()).or_insert(line);
                        node_path = Some(p);
                    }
                    Some(Frame::Map { path, key }) => match key.take() {
                        Some(k) => node_path = Some(join_key(path, &k)),
                        None => {
                            if let Event::Scalar(ref value, ..) = event {
                                let p = join_key(path, value);
                                lines.entry(p).or_insert(line);
                                *key = Some(value.to_string());
                            } else {
                                // A complex key: its value gets an unaddressable placeholder.
                                *key = Some("?".to_string());
                                inside_ignored = true;
                            }
                        }
                    },
                }
                match event {
                    Event::MappingStart(..) => stack.push(match node_path {
                        Some(path) if !inside_ignored => Frame::Map { path, key: None },
                        _ => Frame::Ignored,
                    }),
                    Event::SequenceStart(..) => stack.push(match node_path {
                        Some(path) if !inside_ignored => Frame::Seq { path, next: 0 },
                        _ => Frame::Ignored,
                    }),
                    _ => {}
                }
                continue;
            }
            if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
            }
        }
        if let Some(start) = first_line {
            done.push((start, LineMap { lines }));
        }
        done
    }

    /// The same map with `from` (and what is under it) renamed `to`: a CronWorkflow's
    /// `spec.workflowSpec` read as a workflow's `spec`.
    pub fn rebased(&self, from: &str, to: &str) -> LineMap {
        let lines = self
            .lines
            .iter()
            .filter_map(|(path, &line)| {
                let rest = path.strip_prefix(from)?;
                (rest.is_empty() || rest.starts_with(['.', '[']))
                    .then(|| (format!("{to}{rest}"), line))
            })
            .chain(
                // Everything outside `from` (metadata, kind) keeps its place.
                self.lines
                    .iter()
                    .filter(|(path, _)| !path.starts_with(to))
                    .map(|(p, &l)| (p.clone(), l)),
            )
            .collect();
        LineMap { lines }
    }

    /// The line of `path`, else of its closest enclosing value that has one.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            p = parent(p)?;
        }
    }

    /// The line of exactly `path`, without falling back to a parent.
    pub fn exact(&self, path: &str) -> Option<usize> {
        self.lines.get(path).copied()
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `a.b[2]` → `a.b`; `a.b` → `a`; `a` → ``; `` → none.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']')
        && let Some(i) = path.rfind('[')
    {
        return Some(&path[..i]);
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_flow_positions() {
        let text = "\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
spec:
  templates:
  - name: a   # comment
    container:
      image: x
      args: [\"1\", \"2\"]
  - name: b
    script:
      source: |
        echo hi
        echo there
      image: y
";
        let m = LineMap::from_yaml(text);
        assert_eq!(m.exact("kind"), Some(2));
        assert_eq!(m.exact("spec.templates"), Some(4));
        assert_eq!(m.exact("spec.templates[0]"), Some(5));
        assert_eq!(m.exact("spec.templates[0].name"), Some(5));
        assert_eq!(m.exact("spec.templates[0].container.image"), Some(7));
        assert_eq!(m.exact("spec.templates[0].container.args[1]"), Some(8));
        assert_eq!(m.exact("spec.templates[1].script.image"), Some(14));
        assert_eq!(m.line("spec.templates[1].script.nothing[3]"), Some(10));
        assert_eq!(m.line("nowhere"), None);
    }

    #[test]
    fn complex_keys_and_aliases_do_not_derail() {
        let text = "\
base: &b
  image: x
? [a, b]
: value
other: *b
last: 1
";
        let m = LineMap::from_yaml(text);
        assert_eq!(m.exact("base.image"), Some(2));
        assert_eq!(m.exact("other"), Some(5));
        assert_eq!(m.exact("last"), Some(6));
    }

    #[test]
    fn documents_have_their_own_maps_and_empty_ones_are_left_out() {
        let text = "a: 1\n---\n# nothing\n---\nb:\n  c: 2\n";
        let docs = LineMap::documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 1);
        assert_eq!(docs[0].1.exact("a"), Some(1));
        assert_eq!(docs[1].0, 5);
        assert_eq!(docs[1].1.exact("b.c"), Some(6));
        assert_eq!(docs[1].1.exact("a"), None);
    }

    #[test]
    fn rebased_reads_a_nested_spec_as_the_spec() {
        let text = "kind: CronWorkflow\nspec:\n  schedule: x\n  workflowSpec:\n    entrypoint: m\n";
        let m = LineMap::from_yaml(text).rebased("spec.workflowSpec", "spec");
        assert_eq!(m.exact("spec.entrypoint"), Some(5));
        assert_eq!(m.exact("spec"), Some(4));
        assert_eq!(m.exact("kind"), Some(1));
    }

    #[test]
    fn broken_yaml_keeps_what_was_seen() {
        let m = LineMap::from_yaml("a: 1\nb: [\n");
        assert_eq!(m.exact("a"), Some(1));
    }
}

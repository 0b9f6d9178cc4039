//! Just enough Dockerfile reading to know which images a build starts from (FROM and
//! `COPY --from=`), with `ARG` substitution, so the cache key can include their IDs.
//! Syntax checking is left to the engine, which reports errors with the line.

use std::collections::{BTreeMap, HashSet};

/// An image the Dockerfile uses that is not one of its own stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// The reference after ARG substitution, as written (`python:3.11`).
    pub reference: String,
    /// 1-based line of the instruction.
    pub line: usize,
}

/// External images used by a Dockerfile, in order of first use, without duplicates.
/// `args` are the build arguments (they override `ARG` defaults before the first FROM).
pub fn base_images(text: &str, args: &BTreeMap<String, String>) -> Vec<BaseImage> {
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: HashSet<String> = HashSet::new();
    let mut stage_count = 0usize;
    let mut seen_from = false;
    let mut out: Vec<BaseImage> = Vec::new();
    let push = |reference: String, line: usize, out: &mut Vec<BaseImage>| {
        if !reference.is_empty()
            && reference != "scratch"
            && !out.iter().any(|b| b.reference == reference)
        {
            out.push(BaseImage { reference, line });
        }
    };

    for (line, instruction) in instructions(text) {
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                for decl in &rest {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n, unquote(d)),
                        None => (*decl, String::new()),
                    };
                    let value = args.get(name).cloned().unwrap_or(default);
                    global_args.insert(name.to_string(), value);
                }
            }
            "FROM" => {
                seen_from = true;
                let mut parts = rest.iter().filter(|w| !w.starts_with("--"));
                let Some(image) = parts.next() else { continue };
                let image = substitute(image, &global_args);
                let alias = match (parts.next(), parts.next()) {
                    (Some(kw), Some(name)) if kw.eq_ignore_ascii_case("as") => {
                        Some(name.to_ascii_lowercase())
                    }
                    _ => None,
                };
                if !stages.contains(&image.to_ascii_lowercase()) {
                    push(image, line, &mut out);
                }
                if let Some(a) = alias {
                    stages.insert(a);
                }
                stages.insert(stage_count.to_string());
                stage_count += 1;
            }
            "COPY" | "ADD" => {
                for flag in rest.iter().take_while(|w| w.starts_with("--")) {
                    if let Some(from) = flag.strip_prefix("--from=") {
                        let from = substitute(from, &global_args);
                        if !stages.contains(&from.to_ascii_lowercase()) {
                            push(from, line, &mut out);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Logical instructions with their first line number: comments dropped, continuation
/// lines joined, honouring the `# escape=` parser directive.
fn instructions(text: &str) -> Vec<(usize, String)> {
    let mut escape = '\\';
    let mut in_directives = true;
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if in_directives {
            if let Some(d) = line.strip_prefix('#') {
                if let Some((k, v)) = d.split_once('=')
                    && k.trim().eq_ignore_ascii_case("escape")
                {
                    escape = v.trim().chars().next().unwrap_or('\\');
                }
                continue;
            }
            in_directives = false;
        }
        if line.starts_with('#') || (line.is_empty() && current.is_none()) {
            continue;
        }
        let (body, continues) = match line.strip_suffix(escape) {
            Some(b) => (b, true),
            None => (line, false),
        };
        let entry = current.get_or_insert_with(|| (i + 1, String::new()));
        if !entry.1.is_empty() {
            entry.1.push(' ');
        }
        entry.1.push_str(body.trim());
        if !continues && let Some(done) = current.take() {
            out.push(done);
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    s.to_string()
}

/// `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`; unknown variables are empty, as in
/// Docker.
pub(crate) fn substitute(s: &str, vars: &BTreeMap<String, String>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' || i + 1 == chars.len() {
            out.push(c);
            i += 1;
            continue;
        }
        if chars[i + 1] == '{' {
            let Some(close) = chars[i + 2..].iter().position(|&c| c == '}') else {
                out.extend(&chars[i..]);
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let value = |name: &str| vars.get(name).cloned().unwrap_or_default();
            let replaced = if let Some((name, word)) = inner.split_once(":-") {
                let v = value(name);
                if v.is_empty() { word.to_string() } else { v }
            } else if let Some((name, word)) = inner.split_once(":+") {
                if value(name).is_empty() {
                    String::new()
                } else {
                    word.to_string()
                }
            } else {
                value(&inner)
            };
            out.push_str(&replaced);
            i += close + 3;
        } else {
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            if name.is_empty() {
                out.push('$');
                i += 1;
            } else {
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                i += 1 + name.len();
            }
        }
    }
    out
}

/// Parses the classic builder's "Step 3/7 : RUN make" line.
pub fn parse_step(line: &str) -> Option<(u32, u32, String)> {
    let rest = line.trim_start().strip_prefix("Step ")?;
    let (counts, text) = rest.split_once(" : ")?;
    let (n, total) = counts.split_once('/')?;
    Some((
        n.trim().parse().ok()?,
        total.trim().parse().ok()?,
        text.trim().to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str, args: &[(&str, &str)]) -> Vec<String> {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        base_images(text, &args)
            .into_iter()
            .map(|b| b.reference)
            .collect()
    }

    #[test]
    fn from_with_stages_platform_and_scratch() {
        let df = "FROM --platform=linux/amd64 python:3.11 AS build\nRUN x\nfrom build\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=alpine:3 /c /c\n";
        assert_eq!(refs(df, &[]), vec!["python:3.11", "alpine:3"]);
    }

    #[test]
    fn args_before_from_are_substituted_and_overridden() {
        let df = "ARG PY=3.10\nARG REG\nFROM ${REG:-docker.io}/python:${PY}-slim\nARG PY=ignored\nFROM $REG/x\n";
        assert_eq!(
            refs(df, &[]),
            vec!["docker.io/python:3.10-slim".to_string(), "/x".to_string()]
        );
        assert_eq!(
            refs(df, &[("PY", "3.12"), ("REG", "r.io")]),
            vec!["r.io/python:3.12-slim", "r.io/x"]
        );
        assert_eq!(refs("ARG V=\"1\"\nFROM a:$V\n", &[]), vec!["a:1"]);
    }

    #[test]
    fn continuation_comments_and_escape_directive() {
        let df = "# syntax=docker/dockerfile:1\n# escape=`\nFROM `\n  base:1\n# comment\nRUN a `\n# inner comment\n  b\n";
        let found = base_images(df, &BTreeMap::new());
        assert_eq!(found[0].reference, "base:1");
        assert_eq!(found[0].line, 3);
        let df = "FROM a \\\n AS b\nFROM b\n";
        assert_eq!(refs(df, &[]), vec!["a"]);
    }

    #[test]
    fn duplicates_once() {
        assert_eq!(refs("FROM a\nFROM a\nFROM b\n", &[]), vec!["a", "b"]);
    }

    #[test]
    fn step_lines() {
        assert_eq!(
            parse_step("Step 3/7 : RUN make all"),
            Some((3, 7, "RUN make all".to_string()))
        );
        assert_eq!(parse_step(" ---> Running in abc"), None);
        assert_eq!(parse_step("Step x/7 : RUN"), None);
    }

    #[test]
    fn substitution_forms() {
        let vars: BTreeMap<String, String> =
            [("A".to_string(), "1".to_string())].into_iter().collect();
        assert_eq!(
            substitute("$A-${A}-${B:-d}-${A:+y}-${B:+n}-$", &vars),
            "1-1-d-y--$"
        );
        assert_eq!(substitute("${unclosed", &vars), "${unclosed");
    }
}

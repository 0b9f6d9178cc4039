//! The hera.config file of the team's existing tools.
//!
//! Accepted, one setting per line:
//!
//! ```text
//! # comment            ; comment too
//! [any section]        (ignored)
//! argo_namespace='vcity'
//! argo_namespace="vcity"
//! argo_namespace=vcity
//! argo_namespace: vcity
//! argo_namespace vcity
//! argo_token=          (empty: unset)
//! ```
//!
//! Spaces around the separator and at the end of the line (also after a closing quote)
//! are ignored; one pair of surrounding quotes is removed; text after a closing quote
//! may only be a `#` or `;` comment. An unquoted value is taken whole (a `#` in it is
//! part of the value, since tokens may contain one), as Python's ConfigParser does;
//! a ` # ` or ` ; ` in it is almost always a comment by mistake, so it warns. Keys are lowercase as in the old
//! tools; unknown keys produce a warning with the closest known key. When a key repeats,
//! the last line wins (with a warning).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{ConfigError, Warning, closest, looks_secret, shown_name, shown_value};
use crate::keys::{by_hera_key, hera_keys};
use crate::text::{FileEntry, ParsedFile, decode, syntax};

const HINT: &str = "write one setting per line as key='value' (also key=value, key: value or key value); comments start with # or ;";

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Parses hera.config content. `path` is used in messages only.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ParsedFile, ConfigError> {
    let text = decode(path, bytes)?;
    let mut out = ParsedFile::default();
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();

    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.starts_with('[') {
            if t.ends_with(']') {
                continue;
            }
            return Err(syntax(
                path,
                line,
                "a section header must end with `]`",
                "write [section] on its own line (sections are ignored)",
            ));
        }

        let key_len = t.find(|c: char| !is_key_char(c)).unwrap_or(t.len());
        if key_len == 0 {
            return Err(syntax(
                path,
                line,
                "expected a key name at the start of the line",
                HINT,
            ));
        }
        let key = &t[..key_len];
        let rest = &t[key_len..];
        let after_blank = rest.trim_start();
        let value_part = if let Some(v) = after_blank
            .strip_prefix('=')
            .or_else(|| after_blank.strip_prefix(':'))
        {
            v
        } else if after_blank.is_empty() {
            return Err(syntax(
                path,
                line,
                "a key without a value or separator",
                "write key='value', or key= to leave it unset",
            ));
        } else if after_blank.len() < rest.len() {
            after_blank
        } else {
            return Err(syntax(
                path,
                line,
                "unexpected character after the key name",
                HINT,
            ));
        };

        let value = unquote(value_part.trim()).map_err(|msg| {
            syntax(
                path,
                line,
                msg,
                "quote the whole value with one pair of quotes: key='value'",
            )
        })?;

        if let Some(warning) = inline_comment(path, line, key, value_part.trim(), value) {
            out.warnings.push(warning);
        }

        if by_hera_key(key).is_none() {
            let message = match closest(key, hera_keys(), 0.6) {
                Some(k) => format!("unknown key {}; did you mean `{k}`?", shown_name(key)),
                None => format!(
                    "unknown key {}; known keys: {}",
                    shown_name(key),
                    hera_keys().collect::<Vec<_>>().join(", ")
                ),
            };
            out.warnings.push(Warning::at(path, line, message));
        } else if let Some(first) = first_seen.get(key) {
            out.warnings.push(Warning::at(
                path,
                line,
                format!("`{key}` is set again (first at line {first}); the last one wins"),
            ));
        } else {
            first_seen.insert(key.to_owned(), line);
        }

        out.entries.push(FileEntry {
            key: key.to_owned(),
            value: value.to_owned(),
            line,
        });
    }
    Ok(out)
}

/// A warning for an unquoted value holding ` #` or ` ;`: kept whole (the team's
/// Python tools do the same), but likely a comment written on the value's line.
fn inline_comment(path: &Path, line: usize, key: &str, raw: &str, value: &str) -> Option<Warning> {
    if raw.starts_with(['\'', '"']) {
        return None;
    }
    let at = raw
        .as_bytes()
        .windows(2)
        .position(|w| matches!(w[0], b' ' | b'\t') && matches!(w[1], b'#' | b';'))?;
    let marker = char::from(raw.as_bytes()[at + 1]);
    let secret = by_hera_key(key).is_some_and(|k| k.info().secret) || looks_secret(key);
    // A secret's value is never echoed, not even the part after the marker.
    let kept = if secret {
        format!(
            "the whole text after the separator ({} bytes, not shown)",
            value.len()
        )
    } else {
        format!("the whole text {}", shown_value(value))
    };
    Some(Warning::at(
        path,
        line,
        format!(
            "the value of {} holds ` {marker}`, but hera.config has no comments after a value (Python's ConfigParser keeps them too): {kept} is kept as the value; put the comment on a line of its own",
            shown_name(key)
        ),
    ))
}

/// Removes one pair of surrounding quotes; `v` is already trimmed.
fn unquote(v: &str) -> Result<&str, &'static str> {
    let Some(q) = v.chars().next().filter(|c| matches!(c, '\'' | '"')) else {
        return Ok(v);
    };
    let body = &v[1..];
    let Some(end) = body.find(q) else {
        return Err("the quote that opens the value is never closed");
    };
    let after = body[end + 1..].trim();
    if after.is_empty() || after.starts_with('#') || after.starts_with(';') {
        Ok(&body[..end])
    } else if v.len() >= 2 && v.ends_with(q) {
        // The same quote inside the value, e.g. 'it's': keep the inner one.
        Ok(&v[1..v.len() - 1])
    } else {
        Err("unexpected text after the closing quote")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(src: &str) -> Vec<(String, String, usize)> {
        parse(Path::new("hera.config"), src.as_bytes())
            .unwrap()
            .entries
            .into_iter()
            .map(|e| (e.key, e.value, e.line))
            .collect()
    }

    #[test]
    fn unquote_forms() {
        assert_eq!(unquote("'a b'"), Ok("a b"));
        assert_eq!(unquote("\"a b\""), Ok("a b"));
        assert_eq!(unquote("'a' # c"), Ok("a"));
        assert_eq!(unquote("'it's'"), Ok("it's"));
        assert_eq!(unquote("''"), Ok(""));
        assert!(unquote("'abc").is_err());
        assert!(unquote("'a' b").is_err());
        assert_eq!(unquote("a#b"), Ok("a#b"));
    }

    #[test]
    fn separators() {
        let v = values("argo_server=a\nargo_namespace: b\nargo_token c d\n");
        assert_eq!(v[0], ("argo_server".into(), "a".into(), 1));
        assert_eq!(v[1], ("argo_namespace".into(), "b".into(), 2));
        assert_eq!(v[2], ("argo_token".into(), "c d".into(), 3));
    }

    #[test]
    fn url_value_with_colon_keeps_its_colons() {
        let v = values("argo_server: https://h:2746\n");
        assert_eq!(v[0].1, "https://h:2746");
    }
}

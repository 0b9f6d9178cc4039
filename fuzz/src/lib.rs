//! Checks shared by the fuzz targets.

use std::collections::HashSet;
use std::sync::OnceLock;

use kit_config::{ConfigError, ParsedFile};

/// Number of lines a configuration parser may name in `text`: they count `\r\n`, a
/// lone `\r` and `\n` each as a line end, as YAML does (a last line without one counts).
pub fn line_count(text: &[u8]) -> usize {
    yaml_line_count(text)
}

/// Number of lines a YAML parser may name: `\r\n`, a lone `\r` and `\n` each end one
/// (editors count a lone `\r` as a line end too).
pub fn yaml_line_count(text: &[u8]) -> usize {
    let mut lines = 1;
    let mut bytes = text.iter().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b'\n' => lines += 1,
            b'\r' => {
                bytes.next_if_eq(&&b'\n');
                lines += 1;
            }
            _ => {}
        }
    }
    lines
}

/// The lines of `text` as the parsers number them: `\r\n`, a lone `\r` and `\n` each
/// end one (see [`yaml_line_count`]).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\r', '\n']) {
            Some(at) => {
                let after = if t[at..].starts_with("\r\n") { at + 2 } else { at + 1 };
                rest = Some(&t[after..]);
                Some(&t[..at])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// Runs of ASCII letters and digits (`_` splits), as message words are compared.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Words of the parsers' own sources: the message templates are made of these, so a
/// message word found here cannot be a leak.
const SOURCES: &[&str] = &[
    include_str!("../../crates/config/src/env_file.rs"),
    include_str!("../../crates/config/src/hera_config.rs"),
    include_str!("../../crates/config/src/text.rs"),
    include_str!("../../crates/config/src/error.rs"),
    include_str!("../../crates/config/src/keys.rs"),
    include_str!("../../crates/config/src/workspace.rs"),
    include_str!("../../crates/config/src/resolve.rs"),
];

/// The words of [`SOURCES`], split once per run.
fn vocabulary() -> &'static HashSet<&'static str> {
    static WORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| SOURCES.iter().flat_map(|s| words(s)).collect())
}

/// Words of secret values, by the line (1-based, numbered as [`lines`] does) that
/// assigns them.
pub type SecretWords = Vec<(usize, HashSet<String>)>;

/// The words of the secret values of `text` that appear nowhere else: in no other line,
/// no key, no message template. `secret_value` returns the raw value text of a line
/// that assigns a secret (everything after the separator), `None` for other lines.
/// A message about that line containing one of these words leaked (part of) a secret.
pub fn secret_words(text: &str, secret_value: impl Fn(&str) -> Option<&str>) -> SecretWords {
    let mut secret: Vec<(usize, Vec<&str>)> = Vec::new();
    let mut elsewhere: HashSet<&str> = HashSet::new();
    for (index, line) in lines(text).enumerate() {
        match secret_value(line) {
            Some(value) => {
                secret.push((index + 1, words(value).collect()));
                elsewhere.extend(words(&line[..line.len() - value.len()]));
            }
            None => elsewhere.extend(words(line)),
        }
    }
    let known = vocabulary();
    secret
        .into_iter()
        .map(|(line, ws)| {
            let ws = ws
                .into_iter()
                // Short words (`v2`, `abc`) are too common to tell a leak from a coincidence.
                .filter(|w| w.len() >= 4 && !elsewhere.contains(w) && !known.contains(w))
                .map(str::to_string)
                .collect();
            (line, ws)
        })
        .collect()
}

/// Fails when `message`, about `line` (or the whole file), holds a word of a secret
/// assigned on that line. A line that only looks like an assignment (inside another
/// value's quotes) gets no message of its own, so it cannot cause a false alarm.
pub fn assert_no_leak(message: &str, line: Option<usize>, secret: &SecretWords) {
    for (secret_line, ws) in secret {
        if line.is_some_and(|l| l != *secret_line) {
            continue;
        }
        for word in words(message) {
            assert!(
                !ws.contains(word),
                "a message shows `{word}`, part of the secret value on line {secret_line}: {message:?}"
            );
        }
    }
}

/// The value text of `line` when it assigns one of `keys` (optionally after `export`),
/// with any of `separators` between key and value (blanks around them allowed).
pub fn assigned_value<'a>(line: &'a str, keys: &[&str], separators: &[char]) -> Option<&'a str> {
    let t = line.trim_start();
    let t = t
        .strip_prefix("export")
        .filter(|r| r.starts_with([' ', '\t']))
        .map_or(t, str::trim_start);
    let key = keys.iter().find(|k| t.starts_with(**k))?;
    let rest = &t[key.len()..];
    let after = rest.trim_start();
    match after.chars().next() {
        Some(c) if separators.contains(&c) => Some(&after[c.len_utf8()..]),
        // `key value`: a blank is the separator.
        Some(_) if separators.contains(&' ') && after.len() < rest.len() => Some(after),
        _ => None,
    }
}

/// What every configuration parser promises about `data` (named `file`), whatever it
/// holds: entries and warnings on lines that exist, an error that names the file and
/// an existing line, and no message that shows a word of a secret value.
pub fn check_config_outcome(
    file: &str,
    data: &[u8],
    outcome: &Result<ParsedFile, ConfigError>,
    secret: &SecretWords,
) {
    let lines = line_count(data);
    match outcome {
        Ok(parsed) => {
            for e in &parsed.entries {
                assert!(!e.key.is_empty(), "an entry without a key");
                assert!(
                    (1..=lines).contains(&e.line),
                    "entry on line {} of {lines}",
                    e.line
                );
            }
            for w in &parsed.warnings {
                let m = w.to_string();
                assert!(!w.message.is_empty(), "an empty warning");
                assert!(w.line.is_none_or(|l| (1..=lines).contains(&l)), "{m}");
                assert_no_leak(&m, w.line, secret);
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains(file), "the error does not name the file: {m}");
            let line = match e {
                ConfigError::Syntax { line, message, .. } => {
                    assert!(
                        (1..=lines).contains(line),
                        "error on line {line} of {lines}: {m}"
                    );
                    assert!(!message.is_empty());
                    Some(*line)
                }
                _ => None,
            };
            assert_no_leak(&m, line, secret);
        }
    }
}

//! Errors and warnings.

use std::fmt;
use std::path::PathBuf;

use crate::origin::Origin;

/// Why the configuration could not be resolved. Messages name the file and line (or
/// the variable or flag) and never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", shown_path(path))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "ARGOCONFIG is set to {} ({origin}), but that file does not exist; fix the path or unset ARGOCONFIG to use ./hera.config or ~/hera.config",
        shown_path(path)
    )]
    ArgoconfigMissing { path: PathBuf, origin: Origin },

    #[error("--env-file {}: the file does not exist", shown_path(path))]
    EnvFileMissing { path: PathBuf },

    /// A line of hera.config or hera.bash that cannot be read.
    #[error("{}:{line}: {message}\n  hint: {hint}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
        hint: String,
    },

    /// The workspace TOML is not valid TOML.
    #[error("{}:{line}: {}", path.display(), cut(message))]
    TomlSyntax {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A key of the workspace TOML holds the wrong type.
    #[error("{}:{line}: `{}` must be {expected}, not {found}", path.display(), cut(key))]
    TomlType {
        path: PathBuf,
        line: usize,
        key: String,
        expected: &'static str,
        found: &'static str,
    },

    /// A secret written into the workspace TOML, which is meant to be committed.
    #[error(
        "{}:{line}: `{}` is not allowed in the workspace TOML (it is committed with the code); {hint}",
        path.display(), cut(key)
    )]
    SecretInToml {
        path: PathBuf,
        line: usize,
        key: String,
        hint: &'static str,
    },

    /// A value that has the right shape for its source but is not valid for the
    /// setting (a bad boolean, an invalid name, …).
    #[error("{origin}: invalid {setting}: {message}")]
    InvalidValue {
        setting: &'static str,
        origin: Origin,
        message: String,
    },

    /// The profile asked for is not a `[profiles.NAME]` table of the workspace TOML.
    /// `detail` says where it was looked for and which profiles exist.
    #[error("profile {} ({origin}) {detail}", shown_value(name))]
    UnknownProfile {
        name: String,
        origin: Origin,
        detail: String,
    },
}

pub(crate) fn unknown_profile_detail(
    toml: Option<&std::path::Path>,
    available: &[String],
    suggestion: Option<&str>,
) -> String {
    let Some(path) = toml else {
        return "was asked for, but no xtask.toml was found".into();
    };
    let mut out = format!("is not defined in {}", path.display());
    if let Some(s) = suggestion {
        out.push_str(&format!("; did you mean `{}`?", cut(s)));
    }
    if available.is_empty() {
        out.push_str("; the file defines no [profiles.NAME] table");
    } else {
        let names: Vec<String> = available.iter().map(|n| cut(n)).collect();
        out.push_str(&format!("; defined profiles: {}", names.join(", ")));
    }
    out
}

/// Something suspicious that did not stop resolution (an unknown key, a duplicate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: Option<PathBuf>,
    pub line: Option<usize>,
    pub message: String,
}

impl Warning {
    pub(crate) fn at(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            path: Some(path.to_path_buf()),
            line: Some(line),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, self.line) {
            (Some(p), Some(l)) => write!(f, "{}:{l}: {}", p.display(), self.message),
            (Some(p), None) => write!(f, "{}: {}", p.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// The known name closest to `unknown`, compared without case, if it is close enough.
pub(crate) fn closest<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
    threshold: f64,
) -> Option<&'a str> {
    let lower = unknown.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for candidate in known {
        let score = strsim::normalized_damerau_levenshtein(&lower, &candidate.to_ascii_lowercase());
        if score >= threshold && best.is_none_or(|(_, b)| score > b) {
            best = Some((candidate, score));
        }
    }
    best.map(|(name, _)| name)
}

/// How many characters of a value a message shows before cutting it.
const SHOWN_CHARS: usize = 80;

/// Words that mark text as holding (or naming) a secret: `argo_token`, `ARGO_TOKEN`,
/// `XTASK_REGISTRY_PASSWORD`, `Bearer …`.
const SECRET_WORDS: [&str; 5] = ["token", "password", "passwd", "secret", "bearer"];

/// True when `text` mentions a secret key or a bearer token. A value that does is never
/// echoed: it may be a line glued to the next one (a file saved with other line
/// endings) or a token pasted into the wrong setting.
pub(crate) fn looks_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// The first [`SHOWN_CHARS`] characters of `text` with control characters escaped,
/// and whether anything was cut.
fn head(text: &str) -> (String, bool) {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == SHOWN_CHARS {
            return (out, true);
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    (out, false)
}

/// `text` as one short line: control characters escaped, cut after `SHOWN_CHARS` (80)
/// characters and then followed by its size, so a huge value is not echoed whole.
/// Shared by every crate that quotes input back in a message.
pub fn cut(text: &str) -> String {
    match head(text) {
        (shown, true) => format!("{shown}… ({} bytes)", text.len()),
        (shown, false) => shown,
    }
}

/// A value read from a file, a flag or the environment, for a message: in backquotes
/// and [`cut`], or only its size when it [`looks_secret`].
pub(crate) fn shown_value(value: &str) -> String {
    if looks_secret(value) {
        return format!(
            "<a {}-byte value, not shown: it mentions a token or password>",
            value.len()
        );
    }
    match head(value) {
        (shown, true) => format!("`{shown}…` ({} bytes)", value.len()),
        (shown, false) => format!("`{shown}`"),
    }
}

/// A path for a message: [`cut`], since it may come from a huge environment value.
pub(crate) fn shown_path(path: &std::path::Path) -> String {
    cut(&path.display().to_string())
}

/// A name read from a file, for a message. A very long "key" is more likely a pasted
/// token than a typo, so it is not echoed.
pub(crate) fn shown_name(name: &str) -> String {
    if name.chars().count() > 40 {
        format!("<a {}-character name, not shown>", name.chars().count())
    } else {
        format!("`{name}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_case() {
        let known = ["argo_namespace", "argo_server", "argo_token"];
        assert_eq!(closest("argo_namspace", known, 0.6), Some("argo_namespace"));
        assert_eq!(closest("ARGO_TOKEN", known, 0.6), Some("argo_token"));
        assert_eq!(closest("zzz", known, 0.6), None);
    }

    #[test]
    fn values_are_cut_escaped_and_never_shown_when_secret() {
        assert_eq!(shown_value("vcity"), "`vcity`");
        assert_eq!(shown_value("a\rb"), "`a\\rb`");
        let long = "x".repeat(10_000_000);
        let shown = shown_value(&long);
        assert_eq!(shown, format!("`{}…` (10000000 bytes)", "x".repeat(80)));
        assert_eq!(
            cut(&"é".repeat(81)),
            format!("{}… (162 bytes)", "é".repeat(80))
        );
        for secret in [
            "vcity\nargo_token=abc",
            "Bearer v2:abc",
            "XTASK_REGISTRY_PASSWORD=x",
        ] {
            let shown = shown_value(secret);
            assert_eq!(
                shown,
                format!(
                    "<a {}-byte value, not shown: it mentions a token or password>",
                    secret.len()
                )
            );
        }
    }

    #[test]
    fn long_names_are_not_echoed() {
        assert_eq!(shown_name("abc"), "`abc`");
        assert!(!shown_name(&"x".repeat(60)).contains("xxx"));
    }
}

/// An error and all its causes on one line, "a: b: c", a cause left out when the text so
/// far already says it (many errors repeat their source in their own message). The one
/// copy for every crate: the registry, Docker and Kubernetes errors all read this way.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod error_chain_tests {
    use super::error_chain;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn causes_are_joined_and_repeats_left_out() {
        let err = Layer(
            "push failed: connection refused",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        assert_eq!(
            error_chain(&err),
            "push failed: connection refused: os error 111"
        );
        assert_eq!(error_chain(&Layer("alone", None)), "alone");
    }
}

//! The env file (hera.bash): the subset of bash assignments the team's files use.
//!
//! ```text
//! # comment
//! export ARGO_NAMESPACE=vcity
//! ARGO_SERVER=argo.example.org:443   # inline comment after an unquoted value
//! ARGO_TOKEN='Bearer v2:abc def'     # single quotes: taken literally
//! KUBECONFIG="$HOME/.kube/pagoda"    # double quotes: \" \\ \$ \` escapes, $VAR
//! KUBECONFIGMAP=                     # empty: unset
//! export KUBECONFIG                  # no value: ignored
//! ```
//!
//! dotenvy was the planned reader, but it is not used: its iterator yields no line
//! numbers (every origin and error here needs `file:line`), and it expands `$VAR` from
//! the real process environment, which this crate must not read (values come from
//! [`crate::Inputs::env`]) and which would silently change a password containing `$`.
//! So lines are parsed here, following bash: `$NAME` and `${NAME}` expand (unquoted or
//! in double quotes) from earlier lines, then from the given environment; an unset
//! name expands to nothing, with a warning, except in a secret (`ARGO_TOKEN`,
//! `XTASK_REGISTRY_PASSWORD`), where it is an error. Command substitution and `${NAME:-…}` forms
//! cannot be evaluated without a shell: for a setting this crate reads that is an
//! error, for any other variable the line is skipped with a warning. A quoted value
//! may span lines. Spaces around `=` and unquoted spaces in a value are errors, since
//! bash would run part of the line as a command.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{ConfigError, Warning, closest, looks_secret, shown_name};
use crate::keys::{env_vars, is_known_env, is_secret_env};
use crate::text::{FileEntry, ParsedFile, decode, syntax};

const HINT: &str = "each line must be NAME=value or export NAME=value; quote values with spaces (NAME='a b'); comments start with #";

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.bump();
        }
    }

    fn skip_to_eol(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        let rest = &self.s[start..];
        let len = match rest.chars().next() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len()),
            _ => 0,
        };
        self.pos += len;
        &self.s[start..start + len]
    }
}

/// Parses env-file content. `path` is used in messages only; `env` resolves `$VAR`
/// references not defined earlier in the file.
pub fn parse(
    path: &Path,
    bytes: &[u8],
    env: &BTreeMap<String, String>,
) -> Result<ParsedFile, ConfigError> {
    let text = decode(path, bytes)?;
    let mut lx = Lexer {
        s: &text,
        pos: 0,
        line: 1,
    };
    let mut out = ParsedFile::default();
    let mut defined: BTreeMap<String, String> = BTreeMap::new();
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();

    loop {
        lx.skip_blanks();
        match lx.peek() {
            None => break,
            Some('\n') => {
                lx.bump();
                continue;
            }
            Some('#') => {
                lx.skip_to_eol();
                continue;
            }
            Some(_) => {}
        }
        let line = lx.line;
        let mut name = lx.ident();
        let mut exported = false;
        if name == "export" && matches!(lx.peek(), Some(' ' | '\t')) {
            lx.skip_blanks();
            exported = true;
            name = lx.ident();
        }
        if name.is_empty() {
            return Err(syntax(path, line, "this line is not an assignment", HINT));
        }
        match lx.peek() {
            Some('=') => {
                lx.bump();
            }
            Some(' ' | '\t' | '\r' | '\n' | '#') | None => {
                lx.skip_blanks();
                match lx.peek() {
                    Some('=') => {
                        return Err(syntax(
                            path,
                            line,
                            "space before `=`",
                            "write NAME=value without spaces around `=` (bash would run NAME as a command)",
                        ));
                    }
                    None | Some('\n' | '#') if exported => {
                        // `export NAME` only marks an existing variable.
                        lx.skip_to_eol();
                        continue;
                    }
                    _ => {
                        return Err(syntax(path, line, "this line is not an assignment", HINT));
                    }
                }
            }
            Some(_) => {
                return Err(syntax(
                    path,
                    line,
                    "unexpected character in the variable name",
                    "names are letters, digits and `_`; write NAME=value",
                ));
            }
        }

        let blank_after_equal = matches!(lx.peek(), Some(' ' | '\t' | '\r'));
        if blank_after_equal {
            lx.skip_blanks();
            if !matches!(lx.peek(), None | Some('\n' | '#')) {
                return Err(syntax(
                    path,
                    line,
                    "space after `=`",
                    "bash would run the rest of the line as a command; write NAME=value, or NAME='value' if it has spaces",
                ));
            }
        }

        let mut value = Value {
            text: String::new(),
            unsupported: None,
            unset: Vec::new(),
        };
        // `NAME= # comment` is empty; `NAME=#x` is `#x`, as in bash.
        if !blank_after_equal {
            read_value(&mut lx, path, line, &defined, env, &mut value)?;
        }

        lx.skip_blanks();
        match lx.peek() {
            None | Some('\n') => {}
            Some('#') => lx.skip_to_eol(),
            Some(_) => {
                return Err(syntax(
                    path,
                    line,
                    "unquoted space in the value",
                    "quote values that contain spaces (NAME='a b'); write one assignment per line",
                ));
            }
        }

        let known = is_known_env(name);
        if let Some(what) = value.unsupported {
            let message =
                format!("{what} cannot be evaluated: hera.bash is read, not run by a shell");
            if known {
                return Err(syntax(
                    path,
                    line,
                    message,
                    format!("write the value of {name} itself, e.g. {name}='...'"),
                ));
            }
            out.warnings.push(Warning::at(
                path,
                line,
                format!("{} skipped: {message}", shown_name(name)),
            ));
            defined.remove(name);
            continue;
        }

        if !value.unset.is_empty() {
            // `PASS="abc$S3CR3T"`: bash (which also sources this file for the team's
            // other tools) would turn the secret into `abc`, while the `$` was most
            // likely meant literally. Neither guess is safe for a credential, so a
            // secret we read is an error, and a value that may be a secret warns
            // without naming the variables (their names are part of the value).
            if is_secret_env(name) {
                return Err(syntax(
                    path,
                    line,
                    format!(
                        "the value of {name} expands a variable that is not set here (a `$` followed by a name); bash would drop that part of the secret, so it is not used"
                    ),
                    format!(
                        "if the `$` is part of the secret, write the value in single quotes ({name}='...') or escape it as \\$; if it names a variable, set that variable on an earlier line or in the environment"
                    ),
                ));
            }
            // A Harbor robot is named `robot$PROJECT+NAME`: unquoted, bash reads
            // `$PROJECT` as a variable and the name silently becomes another one.
            if name == REGISTRY_USER_ENV {
                let vars: Vec<String> = value.unset.iter().map(|v| format!("`${v}`")).collect();
                return Err(syntax(
                    path,
                    line,
                    format!(
                        "the value of {name} expands {}, which is not set here; a registry robot account's name holds a `$` (robot$PROJECT+NAME), and bash would drop that part of it",
                        vars.join(", ")
                    ),
                    format!(
                        "write the name in single quotes ({name}='robot$PROJECT+NAME') or escape the `$` as \\$"
                    ),
                ));
            }
            if looks_secret(name) {
                out.warnings.push(Warning::at(
                    path,
                    line,
                    format!(
                        "the value of {} expands {} variable(s) that are not set here (names not shown: the value may be a secret); they expand to nothing, as in bash; use single quotes if the `$` is meant literally",
                        shown_name(name),
                        value.unset.len()
                    ),
                ));
            } else {
                for var in &value.unset {
                    out.warnings.push(Warning::at(
                        path,
                        line,
                        format!(
                            "{} is not set here; it expands to nothing",
                            shown_name(&format!("${var}"))
                        ),
                    ));
                }
            }
        }

        if known {
            if let Some(first) = first_seen.get(name) {
                out.warnings.push(Warning::at(
                    path,
                    line,
                    format!("`{name}` is set again (first at line {first}); the last one wins"),
                ));
            } else {
                first_seen.insert(name.to_owned(), line);
            }
        } else if let Some(k) = closest(name, env_vars(), 0.8) {
            out.warnings.push(Warning::at(
                path,
                line,
                format!(
                    "{} is not a variable this tool reads; did you mean `{k}`?",
                    shown_name(name)
                ),
            ));
        }
        defined.insert(name.to_owned(), value.text.clone());
        out.entries.push(FileEntry {
            key: name.to_owned(),
            value: value.text,
            line,
        });
    }
    Ok(out)
}

struct Value {
    text: String,
    unsupported: Option<&'static str>,
    /// Variables referenced but not set, which expanded to nothing.
    unset: Vec<String>,
}

/// Reads one shell word: unquoted, '…' and "…" parts glued together.
/// The registry user's key: robot account names hold a `$`.
const REGISTRY_USER_ENV: &str = "XTASK_REGISTRY_USER";

fn read_value(
    lx: &mut Lexer<'_>,
    path: &Path,
    line: usize,
    defined: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
    value: &mut Value,
) -> Result<(), ConfigError> {
    loop {
        match lx.peek() {
            None | Some('\n' | ' ' | '\t' | '\r') => return Ok(()),
            Some('\'') => {
                lx.bump();
                loop {
                    match lx.bump() {
                        None => return Err(unterminated(path, line, '\'')),
                        Some('\'') => break,
                        Some(c) => value.text.push(c),
                    }
                }
            }
            Some('"') => {
                lx.bump();
                loop {
                    match lx.bump() {
                        None => return Err(unterminated(path, line, '"')),
                        Some('"') => break,
                        Some('\\') => match lx.peek() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => {
                                lx.bump();
                                value.text.push(c);
                            }
                            Some('\n') => {
                                lx.bump();
                            }
                            _ => value.text.push('\\'),
                        },
                        Some('$') => expand(lx, path, line, defined, env, value)?,
                        Some('`') => skip_backquotes(lx, path, line, value)?,
                        Some(c) => value.text.push(c),
                    }
                }
            }
            Some('\\') => {
                lx.bump();
                match lx.bump() {
                    // A backslash before the line end joins the next line.
                    None | Some('\n') => {}
                    Some(c) => value.text.push(c),
                }
            }
            Some('$') => {
                lx.bump();
                expand(lx, path, line, defined, env, value)?;
            }
            Some('`') => {
                lx.bump();
                skip_backquotes(lx, path, line, value)?;
            }
            Some(c @ (';' | '&' | '|' | '<' | '>' | '(' | ')')) => {
                return Err(syntax(
                    path,
                    line,
                    format!("`{c}` outside quotes is shell syntax, not part of a value"),
                    "quote the value (NAME='value'); write one assignment per line",
                ));
            }
            Some(c) => {
                lx.bump();
                value.text.push(c);
            }
        }
    }
}

fn unterminated(path: &Path, line: usize, quote: char) -> ConfigError {
    syntax(
        path,
        line,
        format!("the {quote} quote opened on this line is never closed"),
        format!("close the quote: NAME={quote}value{quote}"),
    )
}

/// After a `$`: expands a variable, or marks the value as needing a shell.
fn expand(
    lx: &mut Lexer<'_>,
    path: &Path,
    line: usize,
    defined: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
    value: &mut Value,
) -> Result<(), ConfigError> {
    let name = match lx.peek() {
        Some('{') => {
            lx.bump();
            let start = lx.pos;
            loop {
                match lx.peek() {
                    None | Some('\n') => {
                        return Err(syntax(
                            path,
                            line,
                            "`${` is never closed by `}`",
                            "write ${NAME}",
                        ));
                    }
                    Some('}') => break,
                    Some(_) => {
                        lx.bump();
                    }
                }
            }
            let inner = &lx.s[start..lx.pos];
            lx.bump();
            let is_name = inner
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !is_name {
                value.unsupported = Some("a `${...}` expression");
                return Ok(());
            }
            inner
        }
        Some('(') => {
            let mut depth = 0usize;
            loop {
                match lx.bump() {
                    None => {
                        return Err(syntax(
                            path,
                            line,
                            "`$(` is never closed by `)`",
                            "write the value itself, e.g. NAME='...'",
                        ));
                    }
                    Some('(') => depth += 1,
                    Some(')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Some(_) => {}
                }
            }
            value.unsupported = Some("command substitution `$(...)`");
            return Ok(());
        }
        Some(c) if c.is_ascii_alphabetic() || c == '_' => lx.ident(),
        Some(c) if c.is_ascii_digit() || "?!#$*@-".contains(c) => {
            lx.bump();
            value.unsupported = Some("a special shell parameter (`$1`, `$?`, …)");
            return Ok(());
        }
        // A lone `$` is literal in bash.
        _ => {
            value.text.push('$');
            return Ok(());
        }
    };
    match defined.get(name).or_else(|| env.get(name)) {
        Some(v) => value.text.push_str(v),
        None => value.unset.push(name.to_owned()),
    }
    Ok(())
}

fn skip_backquotes(
    lx: &mut Lexer<'_>,
    path: &Path,
    line: usize,
    value: &mut Value,
) -> Result<(), ConfigError> {
    loop {
        match lx.bump() {
            None => {
                return Err(syntax(
                    path,
                    line,
                    "a backquote is never closed",
                    "write the value itself, e.g. NAME='...'",
                ));
            }
            Some('`') => break,
            Some(_) => {}
        }
    }
    value.unsupported = Some("command substitution with backquotes");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> String {
        let parsed = parse(Path::new("hera.bash"), src.as_bytes(), &BTreeMap::new()).unwrap();
        parsed.entries[0].value.clone()
    }

    #[test]
    fn words() {
        assert_eq!(one("A=abc"), "abc");
        assert_eq!(one("A=a#b"), "a#b");
        assert_eq!(one("A=#b"), "#b");
        assert_eq!(one("A=abc # c"), "abc");
        assert_eq!(one("A='a b'"), "a b");
        assert_eq!(one("A=\"a \\\"b\\\" \\$x\""), "a \"b\" $x");
        assert_eq!(one("A=x'y z'\"w\""), "xy zw");
        assert_eq!(one("A=a\\ b"), "a b");
        assert_eq!(one("A='$B'"), "$B");
        assert_eq!(one("A=cost$"), "cost$");
        assert_eq!(one("A='multi\nline'"), "multi\nline");
    }

    #[test]
    fn expansion_uses_earlier_lines_then_env() {
        let env = BTreeMap::from([("HOME".to_string(), "/h".to_string())]);
        let p = parse(Path::new("hera.bash"), b"B=x\nA=$B/${HOME}/y\n", &env).unwrap();
        assert_eq!(p.entries[1].value, "x//h/y");
    }
}

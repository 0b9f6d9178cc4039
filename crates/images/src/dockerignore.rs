//! Docker's `.dockerignore` rules (moby's patternmatcher), rebuilt on globset.
//!
//! gitignore-style crates get these wrong (`*.log` there matches at any depth; in Docker
//! only at the root). What Docker does, and this module too:
//! - lines starting with `#` are comments; blank lines are skipped; spaces trimmed;
//! - `!` re-includes; the pattern is cleaned like Go's `filepath.Clean` and a leading `/`
//!   is dropped;
//! - patterns are tried in order and the last one that matches wins;
//! - a pattern matching a folder matches everything inside it;
//! - `*` and `?` stay within one path component, `**` spans any number of them;
//! - an excluded folder is only entered again if a `!` pattern starts with its path.
//!
//! Docker compiles patterns to regexes in three modes (exact, prefix for `literal**`,
//! suffix for `**literal`, and regex otherwise). Each mode is translated to one or more
//! globset globs with the same meaning; `**` glued to other characters becomes
//! alternatives, since Docker reads it as "nothing, or anything ending with `/`".

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

use crate::error::{Error, Result};

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern text, without `!`.
    cleaned: String,
    exclusion: bool,
    globs: Vec<GlobMatcher>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// A character written with a backslash: literal, but switches Docker to regex mode.
    Escaped(char),
    Star,
    Question,
    /// `**`; `ate_slash` when Docker swallowed the `/` right after it.
    DoubleStar {
        ate_slash: bool,
    },
    /// A bracket expression, brackets excluded, as written.
    Class(String),
}

impl DockerIgnore {
    /// Parses the content of a `.dockerignore`; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Self> {
        let mut patterns = Vec::new();
        for (index, raw_line) in text.split('\n').enumerate() {
            let mut line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            if index == 0 {
                line = line.strip_prefix('\u{feff}').unwrap_or(line);
            }
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let pattern = Pattern::new(line).map_err(|why| {
                Error::file(file, format!("line {}: pattern {line:?}: {why}", index + 1))
            })?;
            patterns.push(pattern);
        }
        Ok(DockerIgnore { patterns })
    }

    /// Builds from pattern lines (as they would appear in the file).
    pub fn from_lines<S: AsRef<str>>(lines: &[S]) -> Result<Self> {
        let text = lines
            .iter()
            .map(|l| l.as_ref())
            .collect::<Vec<_>>()
            .join("\n");
        Self::parse(&text, Path::new(".dockerignore"))
    }

    /// True when the patterns exclude `rel` (a `/`-separated path relative to the context).
    pub fn is_excluded(&self, rel: &str) -> bool {
        let path = clean(rel);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = parent_prefixes(&path);
        let mut matched = false;
        for p in &self.patterns {
            // An include can only change an unmatched path, a re-include a matched one.
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.matches(&path);
            if !hit {
                hit = parents.iter().any(|parent| p.matches(parent));
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// For an excluded folder: whether Docker still walks into it, which it does only when
    /// a `!` pattern starts with the folder's path (so `!dir/keep.txt` works, and
    /// `!**/keep.txt` does not reach into excluded folders).
    pub fn walks_into_excluded_dir(&self, rel_dir: &str) -> bool {
        let dir = format!("{}/", clean(rel_dir));
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.cleaned).starts_with(&dir))
    }

    /// Makes sure `rel` is sent (Docker always sends the Dockerfile and `.dockerignore`).
    /// Returns true when the patterns had excluded it.
    ///
    /// A path the patterns keep can still be out of reach: a `!` pattern with a wildcard
    /// (`!*Doc/README.md`) keeps `xDoc/README.md`, but the walk enters the excluded
    /// folder `xDoc` only for a `!` pattern that starts with its name (found by
    /// fuzzing). Then the exact path is re-included as well.
    pub fn force_include(&mut self, rel: &str) -> bool {
        let excluded = self.is_excluded(rel);
        let unreached = parent_prefixes(rel)
            .iter()
            .any(|dir| self.is_excluded(dir) && !self.walks_into_excluded_dir(dir));
        if (excluded || unreached)
            && let Ok(p) = Pattern::reinclude(rel)
        {
            self.patterns.push(p);
        }
        excluded
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// "a/b/c" -> ["a", "a/b"]
fn parent_prefixes(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).collect()
}

fn escape_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Pattern {
    /// A `!` pattern for exactly `path`, built without going through pattern text: a
    /// pattern line is trimmed, so `! Dockerfile` would name `Dockerfile` (found by
    /// fuzzing).
    fn reinclude(path: &str) -> std::result::Result<Pattern, String> {
        let mut cleaned = clean(path);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        let glob = GlobBuilder::new(&escape_literal(&cleaned))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("{e}"))?;
        Ok(Pattern {
            cleaned,
            exclusion: true,
            globs: vec![glob.compile_matcher()],
        })
    }

    fn new(line: &str) -> std::result::Result<Pattern, String> {
        let (exclusion, body) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        if body.is_empty() {
            return Err("a lone `!` excludes nothing; remove it or add a path".into());
        }
        let mut cleaned = clean(body);
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        let toks = tokenize(&cleaned)?;
        let globs = to_globs(&toks)?
            .into_iter()
            .map(|g| {
                GlobBuilder::new(&g)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|e| format!("{e}"))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Pattern {
            cleaned,
            exclusion,
            globs,
        })
    }

    fn matches(&self, path: &str) -> bool {
        self.globs.iter().any(|g| g.is_match(path))
    }
}

fn tokenize(p: &str) -> std::result::Result<Vec<Tok>, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                let ate_slash = chars.get(i) == Some(&'/');
                if ate_slash {
                    i += 1;
                }
                toks.push(Tok::DoubleStar { ate_slash });
                continue;
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::Question),
            '\\' => match chars.get(i + 1) {
                Some(&next) => {
                    toks.push(Tok::Escaped(next));
                    i += 1;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => {
                let start = i + 1;
                let mut j = start;
                // A ']' right after '[' (or '[^') is part of the set, as in Go's regexp.
                if chars.get(j) == Some(&'^') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("unclosed `[` (write `\\[` for a literal bracket)".into());
                }
                toks.push(Tok::Class(chars[start..j].iter().collect()));
                i = j;
            }
            other => toks.push(Tok::Lit(other)),
        }
        i += 1;
    }
    Ok(toks)
}

fn lit_text(toks: &[Tok]) -> Option<String> {
    toks.iter()
        .map(|t| match t {
            Tok::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Globs one pattern may expand to. Each `**` glued to other characters doubles them,
/// so a short line could otherwise ask for millions (found by fuzzing: 22 of them took
/// over 2 GB); 256 is eight glued `**`, more than any real pattern has.
const MAX_GLOBS: usize = 256;

/// Docker's three literal modes first, then the general (regex) mode.
fn to_globs(toks: &[Tok]) -> std::result::Result<Vec<String>, String> {
    // exact: nothing special at all
    if let Some(lit) = lit_text(toks) {
        return Ok(vec![escape_literal(&lit)]);
    }
    // prefix: literal followed by a final `**`: "path starts with the literal"
    if let Some((Tok::DoubleStar { .. }, head)) = toks.split_last()
        && let Some(lit) = lit_text(head)
        && !lit.is_empty()
    {
        return Ok(vec![if lit.ends_with('/') {
            format!("{}**", escape_literal(&lit))
        } else {
            // HasPrefix("foo") = first differing component starts with "foo"; with the
            // parent-folder rule `foo*` is the same set.
            format!("{}*", escape_literal(&lit))
        }]);
    }
    // suffix: a first `**` followed by a literal: "path ends with the rest"
    if let Some((Tok::DoubleStar { ate_slash }, tail)) = toks.split_first()
        && let Some(lit) = lit_text(tail)
    {
        return Ok(vec![if lit.is_empty() {
            "**".to_string()
        } else if *ate_slash {
            format!("**/{}", escape_literal(&lit))
        } else {
            format!("**/*{}", escape_literal(&lit))
        }]);
    }
    // regex mode: expand each `**` glued to a non-separator into its two readings
    let mut variants = vec![String::new()];
    let last = toks.len().saturating_sub(1);
    for (i, t) in toks.iter().enumerate() {
        let piece: Vec<String> = match t {
            Tok::Lit(c) | Tok::Escaped(c) => vec![escape_literal(&c.to_string())],
            Tok::Star => vec!["*".into()],
            Tok::Question => vec!["?".into()],
            Tok::Class(body) => vec![class_glob(body)],
            Tok::DoubleStar { .. } if i == 0 => {
                vec![if toks.len() == 1 {
                    "**".into()
                } else {
                    "**/".into()
                }]
            }
            Tok::DoubleStar { ate_slash } => {
                let after_slash = matches!(toks[i - 1], Tok::Lit('/'));
                if i == last && !*ate_slash {
                    vec![if after_slash { "**".into() } else { "*".into() }]
                } else if after_slash {
                    vec!["**/".into()]
                } else {
                    vec![String::new(), "*/**/".into()]
                }
            }
        };
        if variants.len() * piece.len() > MAX_GLOBS {
            return Err(format!(
                "too many `**` joined to other characters (at most {}); separate them with `/`",
                MAX_GLOBS.ilog2()
            ));
        }
        variants = variants
            .iter()
            .flat_map(|v| piece.iter().map(move |p| format!("{v}{p}")))
            .collect();
    }
    Ok(variants)
}

/// Go regexp reads `[!a]` as '!' or 'a'; globset would negate, so move the '!' last.
fn class_glob(body: &str) -> String {
    match body.strip_prefix('!') {
        Some("") => "\\!".to_string(),
        Some(rest) => format!("[{rest}!]"),
        None => format!("[{body}]"),
    }
}

/// Go's `filepath.Clean` on `/`-separated paths.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ign(lines: &[&str]) -> DockerIgnore {
        DockerIgnore::from_lines(lines).unwrap()
    }

    fn check(lines: &[&str], excluded: &[&str], kept: &[&str]) {
        let d = ign(lines);
        for p in excluded {
            assert!(d.is_excluded(p), "{lines:?} should exclude {p}");
        }
        for p in kept {
            assert!(!d.is_excluded(p), "{lines:?} should keep {p}");
        }
    }

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("./a"), "a");
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("a/.."), ".");
    }

    #[test]
    fn star_only_at_its_level() {
        check(
            &["*.log"],
            &["a.log"],
            &["logs/a.log", "a/b/c.log", "a.logx"],
        );
        check(&["*/*.log"], &["a/b.log"], &["b.log", "a/b/c.log"]);
    }

    #[test]
    fn double_star_any_depth() {
        check(
            &["**/*.log"],
            &["a.log", "x/a.log", "x/y/z.log"],
            &["x/a.logs"],
        );
        check(
            &["a/**/b"],
            &["a/b", "a/x/b", "a/x/y/b", "a/b/c"],
            &["ab", "x/a/b"],
        );
        check(&["dir/**"], &["dir/x", "dir/x/y"], &["dir", "dirx/y"]);
        check(&["**"], &["x", "x/y"], &[]);
    }

    #[test]
    fn docker_prefix_and_suffix_modes() {
        // "foo**" is "starts with foo" in Docker
        check(
            &["foo**"],
            &["foo", "foobar", "foo/x", "foobar/x/y"],
            &["xfoo"],
        );
        // "**foo" with a literal rest is "ends with foo"
        check(
            &["**foo"],
            &["foo", "barfoo", "a/xfoo", "a/b/foo"],
            &["foox"],
        );
        // "**/foo" matches foo at the root too
        check(
            &["**/foo"],
            &["foo", "a/foo", "a/b/foo", "foo/x"],
            &["xfoo"],
        );
    }

    #[test]
    fn glued_double_star_has_both_readings() {
        // Docker: a(.*/)?b
        check(
            &["a**b"],
            &["ab", "ax/b", "ax/y/b", "a/b"],
            &["axb", "a/xb"],
        );
        check(&["x/**y"], &["x/y", "x/a/y"], &["x/ay"]);
    }

    #[test]
    fn folder_match_excludes_content() {
        check(
            &["build"],
            &["build", "build/a", "build/a/b.o"],
            &["builder", "src/build"],
        );
        check(&["build/"], &["build/a"], &["src/build/a"]);
        check(&["*/cache"], &["x/cache/f"], &["cache/f", "x/y/cache/f"]);
    }

    #[test]
    fn last_match_wins_and_reinclude() {
        check(&["*.md", "!README.md"], &["a.md"], &["README.md"]);
        check(&["!README.md", "*.md"], &["a.md", "README.md"], &[]);
        check(
            &["docs", "!docs/keep.txt"],
            &["docs/a", "docs"],
            &["docs/keep.txt"],
        );
        check(
            &["*", "!src", "src/*.tmp"],
            &["x", "src/a.tmp"],
            &["src", "src/main.py", "src/sub/a.tmp"],
        );
    }

    #[test]
    fn leading_slash_and_dots_cleaned() {
        check(&["/secret"], &["secret", "secret/x"], &["a/secret"]);
        check(&["./a/../b//c/"], &["b/c", "b/c/d"], &["a/b/c"]);
        check(&["/*.txt"], &["a.txt"], &["d/a.txt"]);
    }

    #[test]
    fn comments_blank_lines_spaces_bom_crlf() {
        let d = DockerIgnore::parse(
            "\u{feff}# comment\r\n\r\n  *.tmp  \r\n # not a comment\r\n",
            Path::new(".dockerignore"),
        )
        .unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.is_excluded("a.tmp"));
        assert!(d.is_excluded("# not a comment"));
        let d = ign(&["#*.tmp"]);
        assert!(d.is_empty());
    }

    #[test]
    fn question_mark_and_classes() {
        check(&["file?.txt"], &["file1.txt"], &["file12.txt", "file/.txt"]);
        check(&["[ab].txt"], &["a.txt", "b.txt"], &["c.txt"]);
        check(&["[^ab].txt"], &["c.txt"], &["a.txt"]);
        check(&["[a-c]?"], &["a1", "c2"], &["d1"]);
        // Go regexp: '!' inside a class is literal
        check(&["[!a].txt"], &["!.txt", "a.txt"], &["b.txt"]);
    }

    #[test]
    fn escapes_and_braces_are_literal() {
        check(&["\\*.txt"], &["*.txt"], &["a.txt"]);
        check(&["{a,b}"], &["{a,b}"], &["a", "b"]);
        check(&["a\\?"], &["a?"], &["ab"]);
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = DockerIgnore::parse("ok\n[abc\n", Path::new("ctx/.dockerignore"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ctx/.dockerignore") && err.contains("line 2"),
            "{err}"
        );
        let err = DockerIgnore::parse("a\n!\n", Path::new(".dockerignore"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn excluded_folders_are_entered_only_for_prefix_exclusions() {
        let d = ign(&["docs", "!docs/keep.txt"]);
        assert!(d.walks_into_excluded_dir("docs"));
        let d = ign(&["docs", "!**/keep.txt"]);
        assert!(!d.walks_into_excluded_dir("docs"));
        let d = ign(&["a", "!a/b/c"]);
        assert!(d.walks_into_excluded_dir("a"));
        assert!(d.walks_into_excluded_dir("a/b"));
        assert!(!d.walks_into_excluded_dir("a/x"));
        let d = ign(&["a"]);
        assert!(!d.walks_into_excluded_dir("a"));
    }

    #[test]
    fn force_include_dockerfile() {
        let mut d = ign(&["*", "!app"]);
        assert!(d.force_include("Dockerfile"));
        assert!(!d.is_excluded("Dockerfile"));
        assert!(d.is_excluded("other"));
        assert!(!d.force_include("app/x"));
        let mut d = ign(&["docker"]);
        assert!(d.force_include("docker/Dockerfile"));
        assert!(d.walks_into_excluded_dir("docker"));
        assert!(!d.is_excluded("docker/Dockerfile"));
        assert!(d.is_excluded("docker/other"));
        let mut d = ign(&["we[ird]"]);
        assert!(!d.force_include("we[ird]"));
        // A folder whose name holds glob characters is still walked into.
        let mut d = ign(&["a\\[1\\]"]);
        assert!(d.force_include("a[1]/Dockerfile"));
        assert!(d.walks_into_excluded_dir("a[1]"));
        assert!(!d.is_excluded("a[1]/Dockerfile"));
        assert!(d.is_excluded("a[1]/other"));
        // Kept by a wildcard `!` pattern, yet its folder would not be walked into.
        let mut d = ign(&["*", "!*Doc/Dockerfile"]);
        assert!(!d.is_excluded("xDoc/Dockerfile"));
        assert!(!d.walks_into_excluded_dir("xDoc"));
        assert!(!d.force_include("xDoc/Dockerfile"));
        assert!(d.walks_into_excluded_dir("xDoc"));
        assert!(!d.is_excluded("xDoc/Dockerfile"));
    }

    #[test]
    fn force_include_keeps_names_with_surrounding_blanks() {
        for name in [" Dockerfile", "Dockerfile ", "dir/ a\t", "\u{a0}x\u{2003}"] {
            let mut d = ign(&["*"]);
            assert!(d.force_include(name), "{name:?}");
            assert!(!d.is_excluded(name), "{name:?} is still excluded");
            assert!(
                d.is_excluded(name.trim()),
                "{name:?} included {:?} too",
                name.trim()
            );
        }
    }

    #[test]
    fn many_glued_double_stars_are_refused_not_expanded() {
        let eight = format!("a{}z", "x**".repeat(8));
        assert!(ign(&[eight.as_str()]).is_excluded("axxxxxxxxz"));
        let line = format!("a{}z", "x**".repeat(22));
        let err = DockerIgnore::from_lines(&["ok", line.as_str()]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("too many `**`"), "{message}");
    }

    #[test]
    fn empty_ignore_keeps_everything() {
        let d = ign(&[]);
        assert!(!d.is_excluded("x"));
        assert!(!d.is_excluded("."));
        let d = ign(&["*"]);
        assert!(
            !d.is_excluded("."),
            "the context root itself is never excluded"
        );
    }
}

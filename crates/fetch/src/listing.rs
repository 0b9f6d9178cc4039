//! What is on the PVC: the path a user asks for, the shell script that lists it inside
//! the pod, and the parser of that script's output. Pure, except for the script text.
//!
//! The script only uses what busybox and GNU coreutils share (`find -exec {} +`,
//! `stat -c`, `sha256sum`), so it runs in a busybox helper, in the user's own image
//! (`--pod`), and on the host under kwok's ClusterExec (the local stack).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use super::tar_safety::{self, Unsafe};

/// A path on the PVC, relative to the claim's root, without `.`, `..` or empty parts.
/// The empty path is the claim's root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RemotePath(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "{path:?} is absolute but not under the PVC's mount path {mount}: give a path relative to the PVC (e.g. runs/exp-1) or one starting with {mount}/"
    )]
    OutsideMount { path: String, mount: String },
    #[error("{path:?} goes up with `..`: give a path inside the PVC")]
    ParentDir { path: String },
    #[error("{path:?} contains a NUL byte")]
    Nul { path: String },
}

impl RemotePath {
    /// Reads a user's path: relative to the PVC (`runs/exp-1`), or absolute under the
    /// pod's mount path (`/data/runs/exp-1` with `mount_path` `/data`).
    pub fn parse(input: &str, mount_path: &str) -> Result<Self, PathError> {
        let trimmed = input.trim();
        if trimmed.contains('\0') {
            return Err(PathError::Nul { path: input.into() });
        }
        let relative = if trimmed.starts_with('/') {
            let mount = mount_path.trim_end_matches('/');
            let rest = if mount.is_empty() {
                Some(trimmed)
            } else {
                trimmed
                    .strip_prefix(mount)
                    .filter(|r| r.is_empty() || r.starts_with('/'))
            };
            rest.ok_or_else(|| PathError::OutsideMount {
                path: input.into(),
                mount: mount_path.into(),
            })?
        } else {
            trimmed
        };
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(PathError::ParentDir { path: input.into() });
                }
                p => parts.push(p),
            }
        }
        Ok(RemotePath(parts.join("/")))
    }

    /// The claim's root.
    pub fn root() -> Self {
        RemotePath(String::new())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `a/b`, or `.` for the root.
    pub fn as_str(&self) -> &str {
        if self.0.is_empty() { "." } else { &self.0 }
    }

    /// For the shell: always starts with `./`, so that a name starting with `-` is never
    /// taken for an option.
    pub(crate) fn dotted(&self) -> String {
        if self.0.is_empty() {
            ".".into()
        } else {
            format!("./{}", self.0)
        }
    }

    /// The parent folder (dotted) and the last name, for a path that names a file.
    pub(crate) fn split_last(&self) -> (String, String) {
        match self.0.rsplit_once('/') {
            Some((parent, name)) => (format!("./{parent}"), name.to_string()),
            None => (".".into(), self.0.clone()),
        }
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lists regular files with sizes and modification times (and SHA-256 when `$5` is
/// `1`) under a path.
///
/// Arguments: `$1` the folder where the PVC is seen, `$2` the dotted path, `$3`/`$4`
/// its parent and last name (used when the path is a file). Every outcome is a marker
/// line on stdout with exit status 0: kwok's exec turns any non-zero status into an
/// opaque "Internal error", and a real kubelet's exit code is no more telling.
pub(crate) const LISTING_SCRIPT: &str = r#"echo '@@xtask-listing 1'
probe=$6
cd "$1" 2>/dev/null || { echo '@@no-root'; exit 0; }
if [ -d "$2" ]; then
  cd "$2" || { echo '@@unreadable'; exit 0; }
  echo '@@kind dir'; set -- . "$5"
elif [ -f "$2" ]; then
  cd "$3" || { echo '@@unreadable'; exit 0; }
  echo '@@kind file'; set -- "./$4" "$5"
else
  echo '@@missing'; exit 0
fi
for t in find stat; do command -v "$t" >/dev/null 2>&1 || { echo "@@lacks $t"; exit 0; }; done
if [ "$2" = 1 ] && ! command -v sha256sum >/dev/null 2>&1; then echo '@@lacks sha256sum'; exit 0; fi
if command -v tar >/dev/null 2>&1; then echo '@@tar yes'; else echo '@@tar no'; fi
if command -v gzip >/dev/null 2>&1; then echo '@@gzip yes'; else echo '@@gzip no'; fi
if command -v zstd >/dev/null 2>&1; then echo '@@zstd yes'; else echo '@@zstd no'; fi
if command -v sha256sum >/dev/null 2>&1; then echo '@@sha256sum yes'; else echo '@@sha256sum no'; fi
if command -v cksum >/dev/null 2>&1; then echo "@@cksum $(printf '%s' "$probe" | cksum 2>&1)"; else echo '@@cksum no'; fi
if [ "$(printf 'a b\000c d\000e' | head -c 8 | xargs -0 echo 2>/dev/null)" = 'a b c d' ]; then echo '@@names-on-stdin yes'; else echo '@@names-on-stdin no'; fi
echo "@@now $(date +%s)"
echo '@@sizes'
find "$1" -type f -exec stat -c '%s %Y %n' {} +
if [ "$2" = 1 ]; then
  echo '@@hashes'
  find "$1" -type f -exec sha256sum {} +
fi
echo '@@links'
find "$1" -type l
echo '@@end'
"#;

/// The command that lists `path` in a pod whose PVC is seen at `root`.
pub(crate) fn listing_command(root: &str, path: &RemotePath, hash: bool) -> Vec<String> {
    let (parent, name) = path.split_last();
    vec![
        "sh".into(),
        "-c".into(),
        LISTING_SCRIPT.into(),
        "xtask-list".into(),
        root.into(),
        path.dotted(),
        parent,
        name,
        if hash { "1" } else { "0" }.into(),
        super::cksum::PROBE_INPUT.into(),
    ]
}

/// Whether the path named a folder or a single file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    Dir,
    File,
}

/// One regular file on the PVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoteFile {
    /// Relative to the listed folder (for a single file: its name), `/`-separated.
    pub path: String,
    pub size: u64,
    /// Modification time on the PVC, in seconds since the epoch. With the size, it
    /// tells whether a file fetched and verified before may have changed since.
    pub mtime: Option<i64>,
    /// Lower-case hex; `None` when the listing was made without hashing.
    pub sha256: Option<String>,
}

/// Everything under a path on the PVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub path: RemotePath,
    pub kind: PathKind,
    /// Sorted by path.
    pub files: Vec<RemoteFile>,
    /// Symbolic links found (relative paths); never copied.
    pub skipped_links: Vec<String>,
    /// The pod has `tar` (needed to fetch, not to list).
    pub tar: bool,
    /// The pod has `gzip`.
    pub gzip: bool,
    /// The pod has `zstd` (busybox has not; Debian-based images usually have).
    pub zstd: bool,
    /// The pod has `sha256sum` (needed to compare same-size files with the manifest,
    /// and to check transfers when there is no `cksum`).
    pub sha256sum: bool,
    /// The pod has a `cksum` that computes the POSIX CRC (tried on a sample): checks
    /// transfers cheaply.
    pub cksum: bool,
    /// The pod has `head -c` and `xargs -0` (tried on a sample): file names can go to
    /// its commands on stdin rather than in the exec URL.
    pub names_on_stdin: bool,
    /// The pod's clock when it listed (seconds since the epoch): a file modified in
    /// that second may change again unseen by its time, so its time vouches for nothing.
    pub now: Option<i64>,
    /// What the listing commands printed on stderr (unreadable folders, …): the
    /// listing may be incomplete.
    pub warnings: Vec<String>,
}

impl Listing {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// How file names reach the pod's commands: on stdin when it can read them there.
    pub(crate) fn name_passing(&self) -> super::transfer::NamePassing {
        if self.names_on_stdin {
            super::transfer::NamePassing::Stdin
        } else {
            super::transfer::NamePassing::Arguments
        }
    }

    /// A file's modification time when it can vouch for its content later: not in the
    /// last two seconds before the listing, when a write could still follow unseen
    /// (times have whole seconds, as git's "racy" entries).
    pub fn settled_mtime(&self, file: &RemoteFile) -> Option<i64> {
        let (mtime, now) = (file.mtime?, self.now?);
        (mtime < now - 1).then_some(mtime)
    }

    /// The folder tree with the files and bytes under each folder, for display.
    pub fn tree(&self) -> Vec<TreeRow> {
        let mut dirs: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut rows = Vec::new();
        for file in &self.files {
            let mut prefix = String::new();
            let parts: Vec<&str> = file.path.split('/').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                let entry = dirs.entry(prefix.clone()).or_default();
                entry.0 += 1;
                entry.1 += file.size;
            }
            rows.push(TreeRow {
                path: file.path.clone(),
                depth: parts.len() - 1,
                is_dir: false,
                files: 1,
                bytes: file.size,
            });
        }
        rows.extend(dirs.into_iter().map(|(path, (files, bytes))| TreeRow {
            depth: path.matches('/').count(),
            path,
            is_dir: true,
            files,
            bytes,
        }));
        // A folder sorts right before its content: compare part by part.
        rows.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
        rows
    }
}

/// One line of [`Listing::tree`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeRow {
    pub path: String,
    /// 0 for entries right under the listed folder.
    pub depth: usize,
    pub is_dir: bool,
    /// Files under a folder (1 for a file).
    pub files: u64,
    pub bytes: u64,
}

/// The listing output did not say what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    #[error("{path} does not exist on the PVC")]
    Missing { path: RemotePath },
    #[error("the PVC's folder {root} does not exist in the pod: the claim is not mounted there")]
    NoRoot { root: String },
    #[error(
        "the pod's image has no `{tool}`: use a helper pod (omit --pod) or an image with busybox or coreutils"
    )]
    Lacks { tool: String },
    #[error("{path} exists on the PVC but cannot be read (permissions?)")]
    Unreadable { path: RemotePath },
    #[error(
        "the listing command did not run as expected (no `sh`, `find`, `stat` or `sha256sum` in the image?); output began with: {head:?}"
    )]
    NotRun { head: String },
    #[error(
        "the listing was cut off before its end (connection lost or command killed); last line: {last:?}"
    )]
    Truncated { last: String },
    #[error("listing line {line} not understood: {text:?}")]
    BadLine { line: usize, text: String },
    #[error("{path:?} on the PVC has a name that cannot be copied safely ({reason}); rename it")]
    UnsafeName { path: String, reason: Unsafe },
    #[error(
        "{path:?} appeared or vanished while the PVC was listed (a workflow still writing?); run again when it is done"
    )]
    Inconsistent { path: String },
    #[error("{path:?} on the PVC has a name that is not UTF-8; rename it")]
    NotUtf8 { path: String },
}

#[derive(PartialEq)]
enum Section {
    Head,
    Sizes,
    Hashes,
    Links,
    End,
}

/// Parses the output of the listing script (`LISTING_SCRIPT`) run in the pod for `path`.
pub fn parse_listing(path: &RemotePath, output: &[u8]) -> Result<Listing, ListingError> {
    let mut lines = output.split(|b| *b == b'\n').enumerate().peekable();
    match lines.peek() {
        Some((_, first)) if *first == b"@@xtask-listing 1" => {
            lines.next();
        }
        _ => {
            let head = String::from_utf8_lossy(&output[..output.len().min(200)]).into_owned();
            return Err(ListingError::NotRun { head });
        }
    }
    let mut kind = None;
    let mut gzip = false;
    let mut zstd = false;
    let mut tar = false;
    let mut sha256sum = false;
    let mut cksum = false;
    let mut names_on_stdin = false;
    let mut now = None;
    let mut section = Section::Head;
    let mut sizes: Vec<(String, u64, i64)> = Vec::new();
    let mut hashes: HashMap<String, String> = HashMap::new();
    let mut hashed = false;
    let mut links = Vec::new();
    let mut last = String::new();
    for (index, raw) in lines {
        let line_no = index + 1;
        if raw.is_empty() {
            continue;
        }
        let text = std::str::from_utf8(raw).map_err(|_| ListingError::NotUtf8 {
            path: String::from_utf8_lossy(raw).into_owned(),
        })?;
        last = text.to_string();
        match text {
            "@@no-root" => {
                return Err(ListingError::NoRoot {
                    root: String::new(),
                });
            }
            "@@missing" => return Err(ListingError::Missing { path: path.clone() }),
            "@@unreadable" => return Err(ListingError::Unreadable { path: path.clone() }),
            "@@kind dir" => kind = Some(PathKind::Dir),
            "@@kind file" => kind = Some(PathKind::File),
            "@@tar yes" => tar = true,
            "@@tar no" => tar = false,
            "@@gzip yes" => gzip = true,
            "@@gzip no" => gzip = false,
            "@@zstd yes" => zstd = true,
            "@@zstd no" => zstd = false,
            "@@sha256sum yes" => sha256sum = true,
            "@@sha256sum no" => sha256sum = false,
            "@@names-on-stdin yes" => names_on_stdin = true,
            "@@names-on-stdin no" => names_on_stdin = false,
            "@@sizes" => section = Section::Sizes,
            "@@hashes" => {
                section = Section::Hashes;
                hashed = true;
            }
            "@@links" => section = Section::Links,
            "@@end" => section = Section::End,
            _ if text.starts_with("@@cksum ") && section == Section::Head => {
                cksum = text["@@cksum ".len()..].trim() == super::cksum::PROBE_OUTPUT;
            }
            _ if text.starts_with("@@now") && section == Section::Head => {
                now = text["@@now".len()..].trim().parse().ok();
            }
            _ if text.starts_with("@@lacks ") && section == Section::Head => {
                return Err(ListingError::Lacks {
                    tool: text["@@lacks ".len()..].to_string(),
                });
            }
            _ => match section {
                Section::Sizes => {
                    let (size, mtime, name) =
                        parse_size_line(text).ok_or_else(|| bad(line_no, text))?;
                    sizes.push((listed_name(name, line_no, text)?, size, mtime));
                }
                Section::Hashes => {
                    let (hash, name) = parse_hash_line(text).ok_or_else(|| bad(line_no, text))?;
                    hashes.insert(listed_name(&name, line_no, text)?, hash);
                }
                Section::Links => links.push(listed_name(text, line_no, text)?),
                Section::Head | Section::End => return Err(bad(line_no, text)),
            },
        }
    }
    if section != Section::End {
        return Err(ListingError::Truncated { last });
    }
    let kind = kind.ok_or(ListingError::Truncated { last })?;
    let mut files = Vec::with_capacity(sizes.len());
    for (name, size, mtime) in sizes {
        let sha256 = if hashed {
            Some(
                hashes
                    .remove(&name)
                    .ok_or_else(|| ListingError::Inconsistent { path: name.clone() })?,
            )
        } else {
            None
        };
        files.push(RemoteFile {
            path: name,
            size,
            mtime: Some(mtime),
            sha256,
        });
    }
    if let Some(name) = hashes.into_keys().next() {
        return Err(ListingError::Inconsistent { path: name });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    links.sort();
    Ok(Listing {
        path: path.clone(),
        kind,
        files,
        skipped_links: links,
        tar,
        gzip,
        zstd,
        sha256sum,
        cksum,
        names_on_stdin,
        now,
        warnings: Vec::new(),
    })
}

/// `SIZE MTIME NAME`, as `stat -c '%s %Y %n'` prints it (the name may hold spaces).
fn parse_size_line(text: &str) -> Option<(u64, i64, &str)> {
    let mut parts = text.splitn(3, ' ');
    let size = parts.next()?.parse().ok()?;
    let mtime = parts.next()?.parse().ok()?;
    Some((size, mtime, parts.next()?))
}

fn bad(line: usize, text: &str) -> ListingError {
    ListingError::BadLine {
        line,
        text: text.to_string(),
    }
}

/// `find` prints `./a/b`; keeps `a/b` after checking it is a safe relative name.
fn listed_name(name: &str, line: usize, text: &str) -> Result<String, ListingError> {
    let rest = name.strip_prefix("./").ok_or_else(|| bad(line, text))?;
    tar_safety::safe_relative(rest.as_bytes()).map_err(|reason| ListingError::UnsafeName {
        path: rest.to_string(),
        reason,
    })
}

/// `HASH  NAME` (text mode) or `HASH *NAME` (binary mode). GNU coreutils escapes a name
/// holding `\` or a newline and marks the line with a leading `\`; busybox never does.
pub(crate) fn parse_hash_line(line: &str) -> Option<(String, String)> {
    let (escaped, line) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let hash = line.get(..64)?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = &line[64..];
    let name = rest
        .strip_prefix("  ")
        .or_else(|| rest.strip_prefix(" *"))?;
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_string()
    };
    Some((hash.to_ascii_lowercase(), name))
}

fn unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "0f343b0931126a20f133d67c2b018a3b5b0b1ab4b8cf1e6e5cb2d8a4b3c2d1e0";
    const H2: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> RemotePath {
        RemotePath::parse(s, "/data").unwrap()
    }

    #[test]
    fn remote_paths_are_normalised() {
        assert_eq!(p("runs/exp-1/").as_str(), "runs/exp-1");
        assert_eq!(p("./runs//exp-1").as_str(), "runs/exp-1");
        assert_eq!(p("/data/runs").as_str(), "runs");
        assert_eq!(p("/data").as_str(), ".");
        assert_eq!(p("").as_str(), ".");
        assert!(p("").is_root());
        assert_eq!(p("-odd").dotted(), "./-odd");
        assert_eq!(p("a/b/c").split_last(), ("./a/b".into(), "c".into()));
        assert_eq!(p("c").split_last(), (".".into(), "c".into()));
    }

    #[test]
    fn remote_paths_refuse_escapes() {
        assert!(matches!(
            RemotePath::parse("/etc/passwd", "/data"),
            Err(PathError::OutsideMount { .. })
        ));
        assert!(matches!(
            RemotePath::parse("/database", "/data"),
            Err(PathError::OutsideMount { .. })
        ));
        assert!(matches!(
            RemotePath::parse("runs/../../etc", "/data"),
            Err(PathError::ParentDir { .. })
        ));
        assert!(matches!(
            RemotePath::parse("a\0b", "/data"),
            Err(PathError::Nul { .. })
        ));
    }

    #[test]
    fn command_passes_paths_as_arguments() {
        let cmd = listing_command("/data", &p("runs/x y"), true);
        assert_eq!(cmd[0], "sh");
        assert_eq!(
            &cmd[4..],
            ["/data", "./runs/x y", "./runs", "x y", "1", "xtask"]
        );
    }

    fn listing(body: &str) -> Result<Listing, ListingError> {
        parse_listing(&p("runs"), body.as_bytes())
    }

    #[test]
    fn parses_sizes_hashes_and_links() {
        let out = format!(
            "@@xtask-listing 1\n@@kind dir\n@@tar yes\n@@gzip yes\n@@zstd yes\n@@sha256sum yes\n@@cksum 3044648535 5\n@@now 1700000100\n@@sizes\n12 1700000000 ./b/c.txt\n0 1700000001 ./a with space.txt\n@@hashes\n{H1}  ./b/c.txt\n{H2}  ./a with space.txt\n@@links\n./link\n@@end\n"
        );
        let l = listing(&out).unwrap();
        assert_eq!(l.kind, PathKind::Dir);
        assert!(l.gzip && l.zstd);
        assert!(l.tar);
        assert_eq!(l.files.len(), 2);
        assert_eq!(l.files[0].path, "a with space.txt");
        assert_eq!(l.files[0].sha256.as_deref(), Some(H2));
        assert_eq!(l.files[1].path, "b/c.txt");
        assert_eq!(l.files[1].size, 12);
        assert_eq!(l.files[1].mtime, Some(1_700_000_000));
        assert!(l.sha256sum);
        assert!(l.cksum);
        assert_eq!(l.now, Some(1_700_000_100));
        assert_eq!(l.skipped_links, vec!["link".to_string()]);
        assert_eq!(l.total_bytes(), 12);
    }

    #[test]
    fn parses_without_hashes_and_single_files() {
        let l =
            listing("@@xtask-listing 1\n@@kind file\n@@gzip no\n@@sizes\n5 1700000000 ./f\n@@links\n@@end\n")
                .unwrap();
        assert_eq!(l.kind, PathKind::File);
        assert!(!l.gzip && !l.zstd);
        assert!(!l.tar);
        assert_eq!(l.files[0].sha256, None);
    }

    #[test]
    fn trusts_only_a_cksum_that_passes_the_probe() {
        let with = |probe: &str| {
            listing(&format!(
                "@@xtask-listing 1\n@@kind dir\n@@cksum {probe}\n@@sizes\n@@links\n@@end\n"
            ))
            .unwrap()
            .cksum
        };
        assert!(with("3044648535 5"));
        // No cksum, another algorithm, or an error message.
        assert!(!with("no"));
        assert!(!with("0b1a3c0e 5"));
        assert!(!with("sh: cksum: applet not found"));
    }

    #[test]
    fn unescapes_gnu_hash_lines() {
        let line = format!("\\{H1}  ./back\\\\slash\\nnew");
        assert_eq!(
            parse_hash_line(&line),
            Some((H1.to_string(), "./back\\slash\nnew".to_string()))
        );
        assert_eq!(
            parse_hash_line(&format!("{H1} *./bin")),
            Some((H1.to_string(), "./bin".to_string()))
        );
        assert_eq!(parse_hash_line("zz  ./x"), None);
    }

    #[test]
    fn reports_missing_unreadable_and_no_root() {
        assert!(matches!(
            listing("@@xtask-listing 1\n@@missing\n"),
            Err(ListingError::Missing { .. })
        ));
        assert!(matches!(
            listing("@@xtask-listing 1\n@@unreadable\n"),
            Err(ListingError::Unreadable { .. })
        ));
        assert!(matches!(
            listing("@@xtask-listing 1\n@@no-root\n"),
            Err(ListingError::NoRoot { .. })
        ));
        assert!(matches!(
            listing("@@xtask-listing 1\n@@kind dir\n@@lacks sha256sum\n"),
            Err(ListingError::Lacks { tool }) if tool == "sha256sum"
        ));
        assert!(matches!(
            listing("sh: not found\n"),
            Err(ListingError::NotRun { .. })
        ));
    }

    #[test]
    fn refuses_truncated_odd_and_inconsistent_output() {
        assert!(matches!(
            listing("@@xtask-listing 1\n@@kind dir\n@@sizes\n1 0 ./a\n"),
            Err(ListingError::Truncated { .. })
        ));
        assert!(matches!(
            listing("@@xtask-listing 1\n@@kind dir\n@@sizes\nnot-a-size 0 ./a\n@@end\n"),
            Err(ListingError::BadLine { line: 4, .. })
        ));
        // The size format before modification times were listed.
        assert!(matches!(
            listing("@@xtask-listing 1\n@@kind dir\n@@sizes\n1 ./a\n@@end\n"),
            Err(ListingError::BadLine { line: 4, .. })
        ));
        assert!(matches!(
            listing("@@xtask-listing 1\n@@kind dir\n@@sizes\n1 0 a\n@@end\n"),
            Err(ListingError::BadLine { .. })
        ));
        let vanished = format!(
            "@@xtask-listing 1\n@@kind dir\n@@sizes\n1 0 ./a\n@@hashes\n{H1}  ./b\n@@end\n"
        );
        assert!(matches!(
            listing(&vanished),
            Err(ListingError::Inconsistent { .. })
        ));
        assert!(matches!(
            listing("@@xtask-listing 1\n@@kind dir\n@@sizes\n1 0 ./a/../../x\n@@end\n"),
            Err(ListingError::UnsafeName { .. })
        ));
        let not_utf8 = b"@@xtask-listing 1\n@@kind dir\n@@sizes\n1 0 ./\xff\n@@end\n";
        assert!(matches!(
            parse_listing(&p("runs"), not_utf8),
            Err(ListingError::NotUtf8 { .. })
        ));
    }

    /// The script under the host's sh and coreutils, as kwok's exec runs it.
    #[cfg(unix)]
    #[test]
    fn script_output_parses_with_gnu_tools() {
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("runs/x/sub")).unwrap();
        std::fs::write(root.join("runs/x/a b.txt"), b"hello").unwrap();
        std::fs::write(root.join("runs/x/back\\slash"), b"").unwrap();
        std::fs::write(root.join("runs/x/sub/-dash"), b"d").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("runs/x/link")).unwrap();
        let run = |path: &str, hash: bool| {
            let cmd = listing_command(root.to_str().unwrap(), &p(path), hash);
            let out = std::process::Command::new(&cmd[0])
                .args(&cmd[1..])
                .output()
                .unwrap();
            parse_listing(&p(path), &out.stdout)
        };
        let l = run("runs/x", true).unwrap();
        assert!(l.tar);
        let names: Vec<&str> = l.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, vec!["a b.txt", "back\\slash", "sub/-dash"]);
        assert_eq!(
            l.files[0].sha256.as_deref(),
            Some(hex::encode(Sha256::digest(b"hello")).as_str())
        );
        assert_eq!(l.skipped_links, vec!["link".to_string()]);
        assert!(l.sha256sum);
        // GNU coreutils' cksum passes the probe.
        assert!(l.cksum);
        assert!(l.now.is_some_and(|now| now > 1_700_000_000));
        let mtime = std::fs::metadata(root.join("runs/x/a b.txt"))
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(l.files[0].mtime, Some(mtime));
        let single = run("/data/runs/x/sub/-dash", true).unwrap();
        assert_eq!(single.kind, PathKind::File);
        assert_eq!(single.files[0].path, "-dash");
        assert_eq!(run("runs/x", false).unwrap().files[0].sha256, None);
        assert!(matches!(
            run("runs/nope", true),
            Err(ListingError::Missing { .. })
        ));
        let cmd = listing_command("/nonexistent-root", &p("x"), true);
        let out = std::process::Command::new(&cmd[0])
            .args(&cmd[1..])
            .output()
            .unwrap();
        assert!(matches!(
            parse_listing(&p("x"), &out.stdout),
            Err(ListingError::NoRoot { .. })
        ));
    }

    #[test]
    fn tree_aggregates_folders() {
        let l = Listing {
            path: p("runs"),
            kind: PathKind::Dir,
            files: vec![
                RemoteFile {
                    path: "a/b/x".into(),
                    size: 3,
                    mtime: None,
                    sha256: None,
                },
                RemoteFile {
                    path: "a/y".into(),
                    size: 4,
                    mtime: None,
                    sha256: None,
                },
                RemoteFile {
                    path: "z".into(),
                    size: 5,
                    mtime: None,
                    sha256: None,
                },
            ],
            skipped_links: vec![],
            tar: true,
            gzip: false,
            zstd: false,
            sha256sum: true,
            cksum: false,
            names_on_stdin: false,
            now: None,
            warnings: vec![],
        };
        let rows: Vec<(String, usize, bool, u64, u64)> = l
            .tree()
            .into_iter()
            .map(|r| (r.path, r.depth, r.is_dir, r.files, r.bytes))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("a".into(), 0, true, 2, 7),
                ("a/b".into(), 1, true, 1, 3),
                ("a/b/x".into(), 2, false, 1, 3),
                ("a/y".into(), 1, false, 1, 4),
                ("z".into(), 0, false, 1, 5),
            ]
        );
    }
}

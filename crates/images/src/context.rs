//! The build context: the context folder filtered by `.dockerignore`, hashed (with a cache
//! so unchanged files are not read again) and streamed to the engine as a tar.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dockerignore::DockerIgnore;
use crate::error::{Error, Result};
use crate::fsutil::{read_json, write_json};
use crate::spec::BuildSpec;

/// Name the Dockerfile gets in the tar when it lies outside the context folder (the
/// docker CLI does the same with a generated name).
pub const OUTSIDE_DOCKERFILE_NAME: &str = ".xtask.Dockerfile";

/// Kind of a context entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// One file, folder or symlink sent to the engine.
#[derive(Debug, Clone)]
pub struct ContextEntry {
    /// Path in the tar, `/`-separated, relative to the context.
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub size: u64,
    pub mtime: u64,
    /// Symlink target.
    pub link: Option<String>,
    /// Content hash (hex) of files.
    pub sha256: Option<String>,
    /// Where it is on disk.
    pub source: PathBuf,
}

/// A scanned build context.
#[derive(Debug, Clone)]
pub struct Context {
    /// The context folder.
    pub root: PathBuf,
    /// Sorted by path.
    pub entries: Vec<ContextEntry>,
    /// The Dockerfile's path inside the tar.
    pub dockerfile: String,
    /// Things to tell the user (Dockerfile excluded by .dockerignore, skipped sockets…).
    pub warnings: Vec<String>,
}

impl Context {
    /// Bytes of file content sent.
    pub fn content_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Number of regular files.
    pub fn file_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .count()
    }
}

/// (size, mtime, inode, ctime) -> sha256 of files already hashed, kept between runs.
#[derive(Debug, Default)]
pub struct HashCache {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<PathBuf, CachedHash>>,
    dirty: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedHash {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    files: HashMap<PathBuf, CachedHash>,
}

const CACHE_VERSION: u32 = 1;

/// Files modified this recently are hashed every time: a change within the same
/// timestamp tick would otherwise go unnoticed (git's "racy clean" problem).
const RACY_WINDOW: Duration = Duration::from_secs(2);

impl HashCache {
    /// A cache that lives only in memory.
    pub fn in_memory() -> Self {
        HashCache::default()
    }

    /// Loads the cache file; a missing or damaged file gives an empty cache (it is only
    /// an accelerator).
    pub fn load(path: &Path) -> Self {
        let files = match read_json::<CacheFile>(path) {
            Ok(Some(f)) if f.version == CACHE_VERSION => f.files,
            _ => HashMap::new(),
        };
        HashCache {
            path: Some(path.to_path_buf()),
            entries: Mutex::new(files),
            dirty: Default::default(),
        }
    }

    /// Writes the cache back if it changed.
    pub fn save(&self) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        // Forget files that are gone, so the cache does not grow forever.
        let mut files = self.lock().clone();
        files.retain(|path, _| path.exists());
        write_json(
            path,
            &CacheFile {
                version: CACHE_VERSION,
                files,
            },
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, CachedHash>> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sha256 of the file at `path` with metadata `meta`, from the cache when size,
    /// mtime, ctime and inode are unchanged.
    pub fn file_hash(&self, path: &Path, meta: &std::fs::Metadata) -> std::io::Result<String> {
        let stamp = |sec: i64, nsec: i64| i128::from(sec) * 1_000_000_000 + i128::from(nsec);
        let mtime_ns = stamp(meta.mtime(), meta.mtime_nsec());
        let ctime_ns = stamp(meta.ctime(), meta.ctime_nsec());
        if let Some(c) = self.lock().get(path)
            && c.size == meta.len()
            && c.mtime_ns == mtime_ns
            && c.ctime_ns == ctime_ns
            && c.ino == meta.ino()
        {
            return Ok(c.sha256.clone());
        }
        let sha = hash_file(path)?;
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        if now_ns - mtime_ns > RACY_WINDOW.as_nanos() as i128 {
            self.lock().insert(
                path.to_path_buf(),
                CachedHash {
                    size: meta.len(),
                    mtime_ns,
                    ctime_ns,
                    ino: meta.ino(),
                    sha256: sha.clone(),
                },
            );
            self.dirty.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(sha)
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Lists (and hashes) what Docker would send for this image: the context folder minus
/// what `.dockerignore` excludes, symlinks not followed, the Dockerfile and
/// `.dockerignore` always included.
pub fn scan(spec: &BuildSpec, cache: &HashCache) -> Result<Context> {
    let root = &spec.context;
    let ignore_path = root.join(".dockerignore");
    let mut ignore = match std::fs::read_to_string(&ignore_path) {
        Ok(text) => DockerIgnore::parse(&text, &ignore_path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(Error::io("read", &ignore_path, e)),
    };
    let mut warnings = Vec::new();

    let inside = spec
        .dockerfile
        .strip_prefix(root)
        .ok()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .map(|p| crate::dockerignore::clean(&p))
        .filter(|p| !p.starts_with("..") && p != ".");
    let dockerfile = inside
        .clone()
        .unwrap_or_else(|| OUTSIDE_DOCKERFILE_NAME.into());
    // `*` then `!…` excludes the .dockerignore itself: common and harmless, no warning.
    ignore.force_include(".dockerignore");
    if let Some(rel) = &inside
        && ignore.force_include(rel)
    {
        warnings.push(format!(
            "{} excludes the Dockerfile {rel}; Docker sends it anyway (remove the pattern to silence this)",
            ignore_path.display()
        ));
    }

    let mut entries = Vec::new();
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(item) = walker.next() {
        let item = item.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.clone());
            let source = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("file system loop"));
            Error::io("read build context entry", path, source)
        })?;
        let rel = item
            .path()
            .strip_prefix(root)
            .unwrap_or(item.path())
            .to_string_lossy()
            .replace('\\', "/");
        let ft = item.file_type();
        let excluded = ignore.is_excluded(&rel);
        if ft.is_dir() {
            if excluded {
                if !ignore.walks_into_excluded_dir(&rel) {
                    walker.skip_current_dir();
                }
                continue;
            }
        } else if excluded {
            continue;
        }
        let meta = item
            .metadata()
            .map_err(|e| Error::io("read metadata of", item.path(), e.into()))?;
        let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
        let mode = meta.mode() & 0o7777;
        let entry = if ft.is_dir() {
            ContextEntry {
                path: rel,
                kind: EntryKind::Dir,
                mode,
                size: 0,
                mtime,
                link: None,
                sha256: None,
                source: item.path().to_path_buf(),
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(item.path())
                .map_err(|e| Error::io("read symlink", item.path(), e))?;
            ContextEntry {
                path: rel,
                kind: EntryKind::Symlink,
                mode,
                size: 0,
                mtime,
                link: Some(target.to_string_lossy().into_owned()),
                sha256: None,
                source: item.path().to_path_buf(),
            }
        } else if ft.is_file() {
            let sha = cache
                .file_hash(item.path(), &meta)
                .map_err(|e| Error::io("read", item.path(), e))?;
            ContextEntry {
                path: rel,
                kind: EntryKind::File,
                mode,
                size: meta.len(),
                mtime,
                link: None,
                sha256: Some(sha),
                source: item.path().to_path_buf(),
            }
        } else {
            warnings.push(format!(
                "{} is not a file, folder or symlink (socket, fifo, device): not sent",
                item.path().display()
            ));
            continue;
        };
        entries.push(entry);
    }

    if inside.is_none() {
        let meta = std::fs::metadata(&spec.dockerfile)
            .map_err(|e| Error::io("read", &spec.dockerfile, e))?;
        let sha = cache
            .file_hash(&spec.dockerfile, &meta)
            .map_err(|e| Error::io("read", &spec.dockerfile, e))?;
        entries.push(ContextEntry {
            path: OUTSIDE_DOCKERFILE_NAME.into(),
            kind: EntryKind::File,
            mode: 0o644,
            size: meta.len(),
            mtime: u64::try_from(meta.mtime()).unwrap_or(0),
            link: None,
            sha256: Some(sha),
            source: spec.dockerfile.clone(),
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Context {
        root: root.clone(),
        entries,
        dockerfile,
        warnings,
    })
}

/// Writes the context as a tar (owner root, modes and mtimes kept, like the docker CLI).
/// Fails if a file changed size since the scan, rather than sending a corrupt archive.
pub fn write_tar(ctx: &Context, out: impl Write) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    for e in &ctx.entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(e.mtime);
        match e.kind {
            EntryKind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, format!("{}/", e.path), std::io::empty())?;
            }
            EntryKind::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &e.path, e.link.as_deref().unwrap_or_default())?;
            }
            EntryKind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.size);
                let file = std::fs::File::open(&e.source).map_err(|err| {
                    std::io::Error::new(err.kind(), format!("{}: {err}", e.source.display()))
                })?;
                let exact = ExactReader {
                    inner: file.take(e.size),
                    remaining: e.size,
                    path: &e.source,
                };
                tar.append_data(&mut h, &e.path, exact)?;
            }
        }
    }
    tar.into_inner()?.flush()
}

/// Reads exactly `remaining` bytes or fails: the header already announced the size.
struct ExactReader<'a, R> {
    inner: R,
    remaining: u64,
    path: &'a Path,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{} shrank while the build context was sent; run again",
                    self.path.display()
                ),
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A `Write` that cuts the tar into chunks for an async body, from a blocking thread.
pub(crate) struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
    buf: Vec<u8>,
    pub(crate) sent: u64,
}

const CHUNK: usize = 512 * 1024;

impl ChannelWriter {
    pub(crate) fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            sent: 0,
        }
    }

    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.sent += chunk.len() as u64;
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the engine stopped reading the build context",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    fn spec(ctx: &Path) -> BuildSpec {
        BuildSpec {
            dir: ctx.to_path_buf(),
            dockerfile: ctx.join("Dockerfile"),
            context: ctx.to_path_buf(),
            args: BTreeMap::new(),
            target: None,
            image_toml: None,
        }
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
        d
    }

    fn paths(ctx: &Context) -> Vec<String> {
        ctx.entries.iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn ignore_rules_applied_and_dockerfile_kept() {
        let d = tree(&[
            ("Dockerfile", "FROM a"),
            (".dockerignore", "*.log\nDockerfile\ndata\n!data/keep.txt\n"),
            ("a.log", ""),
            ("sub/b.log", "kept: *.log is root-only"),
            ("data/big.bin", "x"),
            ("data/keep.txt", "k"),
            ("src/main.py", "print()"),
        ]);
        let ctx = scan(&spec(d.path()), &HashCache::in_memory()).unwrap();
        assert_eq!(
            paths(&ctx),
            vec![
                ".dockerignore",
                "Dockerfile",
                "data/keep.txt",
                "src",
                "src/main.py",
                "sub",
                "sub/b.log"
            ]
        );
        assert_eq!(ctx.warnings.len(), 1, "{:?}", ctx.warnings);
        assert!(ctx.warnings[0].contains("Dockerfile"));
    }

    #[test]
    fn symlinks_are_not_followed_and_modes_kept() {
        let d = tree(&[("Dockerfile", "FROM a"), ("run.sh", "#!/bin/sh")]);
        std::os::unix::fs::symlink("/etc", d.path().join("etc-link")).unwrap();
        std::fs::set_permissions(
            d.path().join("run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let ctx = scan(&spec(d.path()), &HashCache::in_memory()).unwrap();
        let link = ctx.entries.iter().find(|e| e.path == "etc-link").unwrap();
        assert_eq!(link.kind, EntryKind::Symlink);
        assert_eq!(link.link.as_deref(), Some("/etc"));
        let run = ctx.entries.iter().find(|e| e.path == "run.sh").unwrap();
        assert_eq!(run.mode, 0o755);
    }

    #[test]
    fn tar_roundtrip_has_entries_owner_root() {
        let d = tree(&[("Dockerfile", "FROM a"), ("x/y.txt", "hello")]);
        std::os::unix::fs::symlink("y.txt", d.path().join("x/l")).unwrap();
        let ctx = scan(&spec(d.path()), &HashCache::in_memory()).unwrap();
        let mut buf = Vec::new();
        write_tar(&ctx, &mut buf).unwrap();
        let mut ar = tar::Archive::new(&buf[..]);
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            assert_eq!(e.header().uid().unwrap(), 0);
            let p = e.path().unwrap().to_string_lossy().into_owned();
            let mut s = String::new();
            if e.header().entry_type().is_file() {
                e.read_to_string(&mut s).unwrap();
            }
            seen.push((p, s));
        }
        assert!(seen.contains(&("x/y.txt".into(), "hello".into())));
        assert!(seen.iter().any(|(p, _)| p == "x/l"));
        assert!(seen.iter().any(|(p, _)| p == "x/" || p == "x"));
    }

    #[test]
    fn dockerfile_outside_context_is_added() {
        let ctx_dir = tree(&[("app.py", "x")]);
        let df_dir = tree(&[("Dockerfile", "FROM a")]);
        let mut s = spec(ctx_dir.path());
        s.dockerfile = df_dir.path().join("Dockerfile");
        let ctx = scan(&s, &HashCache::in_memory()).unwrap();
        assert_eq!(ctx.dockerfile, OUTSIDE_DOCKERFILE_NAME);
        assert!(paths(&ctx).contains(&OUTSIDE_DOCKERFILE_NAME.to_string()));
    }

    #[test]
    fn bad_dockerignore_names_file() {
        let d = tree(&[("Dockerfile", "FROM a"), (".dockerignore", "[oops\n")]);
        let err = scan(&spec(d.path()), &HashCache::in_memory())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".dockerignore") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn hash_cache_reuses_and_notices_changes() {
        let d = tree(&[("f", "one")]);
        let p = d.path().join("f");
        // make the file old enough to be cached
        let old = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let cache_path = d.path().join("cache.json");
        let cache = HashCache::load(&cache_path);
        let h1 = cache
            .file_hash(&p, &std::fs::metadata(&p).unwrap())
            .unwrap();
        cache.save().unwrap();
        let cache = HashCache::load(&cache_path);
        assert_eq!(cache.lock().len(), 1);
        // A cached value is trusted while the stamp is unchanged...
        cache.lock().get_mut(&p).unwrap().sha256 = "cached".into();
        assert_eq!(
            cache
                .file_hash(&p, &std::fs::metadata(&p).unwrap())
                .unwrap(),
            "cached"
        );
        // ...and not once the file changes.
        std::fs::write(&p, "two").unwrap();
        let h2 = cache
            .file_hash(&p, &std::fs::metadata(&p).unwrap())
            .unwrap();
        assert_ne!(h1, h2);
        assert_ne!(h2, "cached");
    }

    #[test]
    fn exact_reader_detects_shrink() {
        let data = b"abc";
        let mut r = ExactReader {
            inner: &data[..],
            remaining: 5,
            path: Path::new("f"),
        };
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("shrank"));
    }
}

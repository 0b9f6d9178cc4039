//! Writes a tar stream into the target folder, safely: every entry goes through
//! [`tar_safety::classify`], only requested files are written, each one to a temporary
//! name in its final folder, renamed only once its size matches the listing and its
//! checksum the pod's (a SHA-256, or `cksum`'s CRC; see [`RemoteSum`]).
//! Synchronous (the `tar` crate is); the transfer runs it on a blocking thread.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::cksum::PosixCksum;
use super::manifest::{ManifestEntry, mtime_ns};
use super::tar_safety::{self, Accepted, Unsafe};

/// Files a stream is expected to hold: path → (size, sha256). Without a SHA-256, the
/// pod's checksum comes later through [`LateSums`] when the extraction is given one,
/// else only the size is checked.
pub(crate) type Expected = HashMap<String, (u64, Option<String>)>;

/// A checksum made in the pod, to compare with the received bytes'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteSum {
    /// SHA-256, lower-case hex (`sha256sum`).
    Sha256(String),
    /// The POSIX CRC of `cksum` (see [`super::cksum`]).
    Cksum(u32),
}

/// Checksums computed in the pod while the tar stream flows, so that reading on the
/// PVC and the transfer overlap instead of following each other. The extractor waits
/// for a file's checksum before renaming it; the checksum program walks the files in
/// the tar's order and usually runs ahead.
#[derive(Default)]
pub(crate) struct LateSums {
    state: std::sync::Mutex<LateState>,
    arrived: std::sync::Condvar,
}

#[derive(Default)]
struct LateState {
    sums: HashMap<String, RemoteSum>,
    /// Set when no more checksums will come: `Some(why)` if the program failed.
    ended: Option<Option<String>>,
}

impl LateSums {
    pub fn add(&self, path: String, sum: RemoteSum) {
        if let Ok(mut state) = self.state.lock() {
            state.sums.insert(path, sum);
        }
        self.arrived.notify_all();
    }

    /// No more checksums will come; `failure` says why if some are missing.
    pub fn end(&self, failure: Option<String>) {
        if let Ok(mut state) = self.state.lock() {
            state.ended.get_or_insert(failure);
        }
        self.arrived.notify_all();
    }

    /// The checksums received, and why some may be missing.
    pub fn into_parts(self) -> (HashMap<String, RemoteSum>, Option<String>) {
        let state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        (state.sums, state.ended.flatten())
    }

    /// Blocks until the checksum of `path` arrived, or fails with why it never will.
    pub fn wait(&self, path: &str) -> Result<RemoteSum, String> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| "remote checksums panicked".to_string())?;
        loop {
            if let Some(sum) = state.sums.get(path) {
                return Ok(sum.clone());
            }
            if let Some(ended) = &state.ended {
                return Err(ended
                    .clone()
                    .unwrap_or_else(|| "the checksum program in the pod did not list it".into()));
            }
            state = self
                .arrived
                .wait(state)
                .map_err(|_| "remote checksums panicked".to_string())?;
        }
    }
}

/// What the extractor reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExtractEvent {
    /// This many more content bytes were read from the stream.
    Bytes(u64),
    /// A file was verified and renamed to its final name.
    FileDone { path: String, size: u64 },
    /// Something the user should know that did not stop the file, naming it.
    Warning(String),
}

/// A file whose content in the stream did not match the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub path: String,
    pub expected_size: u64,
    pub expected_sha256: Option<String>,
    pub received_size: u64,
    /// `None` when the size already differed and the content was not hashed.
    pub received_sha256: Option<String>,
    /// When the pod checked the transfer with `cksum`: its CRC, and the received one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_cksum: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_cksum: Option<u32>,
}

/// Why extraction stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExtractError {
    #[error("refused entry {entry:?}: {reason}")]
    Unsafe { entry: String, reason: Unsafe },
    #[error("entry {entry:?} was not requested")]
    Unexpected { entry: String },
    #[error("entry {entry:?} appears twice")]
    Duplicate { entry: String },
    #[error("the stream broke: {0}")]
    Stream(#[source] io::Error),
    #[error("{}: {source}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Layout { path: PathBuf, reason: String },
    #[error("no checksum from the pod for {entry:?}: {reason}")]
    RemoteHash { entry: String, reason: String },
}

/// Everything extraction did, also when it stopped early.
#[derive(Debug, Default)]
pub(crate) struct ExtractOutcome {
    /// Verified files under their final names.
    pub written: Vec<ManifestEntry>,
    pub mismatched: Vec<Mismatch>,
    pub error: Option<ExtractError>,
}

/// Where files go. Temporary files live next to their final name so that the rename is
/// atomic, and are named `.xtask-<hash of the name>.part`.
pub(crate) struct FsStore {
    root: PathBuf,
    /// Bytes writable before writes fail with "storage full": lets tests play a full
    /// disk without filling one.
    #[cfg(test)]
    pub quota: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Prefix and suffix of temporary files, for sweeping leftovers of killed runs.
pub(crate) const TEMP_PREFIX: &str = ".xtask-";
pub(crate) const TEMP_SUFFIX: &str = ".part";

impl FsStore {
    /// `root` must exist and be the canonical target folder.
    pub fn new(root: PathBuf) -> Self {
        FsStore {
            root,
            #[cfg(test)]
            quota: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
        }
    }

    /// Creates the parent folders of `rel` inside the root, refusing to go through
    /// anything that is not a real folder (a symbolic link could lead outside).
    fn parent_dir(&self, rel: &str) -> Result<PathBuf, ExtractError> {
        let mut dir = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(ExtractError::Layout {
                        path: dir,
                        reason: "is a symbolic link; files are never written through links".into(),
                    });
                }
                Ok(_) => {
                    return Err(ExtractError::Layout {
                        path: dir,
                        reason: "is a file where a folder is needed".into(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&dir).map_err(|source| ExtractError::Local {
                        path: dir.clone(),
                        source,
                    })?;
                }
                Err(source) => return Err(ExtractError::Local { path: dir, source }),
            }
        }
        Ok(dir)
    }

    fn final_path(&self, rel: &str) -> PathBuf {
        rel.split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    fn create_temp(&self, rel: &str) -> Result<(PathBuf, TempFile), ExtractError> {
        let dir = self.parent_dir(rel)?;
        let tag = hex::encode(&Sha256::digest(rel.as_bytes())[..8]);
        let temp = dir.join(format!("{TEMP_PREFIX}{tag}{TEMP_SUFFIX}"));
        let open = || OpenOptions::new().write(true).create_new(true).open(&temp);
        let file = match open() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A leftover of an interrupted run.
                fs::remove_file(&temp).and_then(|()| open())
            }
            other => other,
        }
        .map_err(|source| ExtractError::Local {
            path: temp.clone(),
            source,
        })?;
        Ok((
            temp,
            TempFile {
                file,
                #[cfg(test)]
                quota: self.quota.clone(),
            },
        ))
    }

    fn commit(
        &self,
        temp: &Path,
        file: TempFile,
        rel: &str,
        mtime: Option<SystemTime>,
        mode: Option<u32>,
    ) -> Result<Option<i64>, ExtractError> {
        let local = |source| ExtractError::Local {
            path: temp.to_path_buf(),
            source,
        };
        let file = file.file;
        if let Some(time) = mtime {
            // Keep the PVC's time: it tells when the step wrote the file.
            let _ = file.set_modified(time);
        }
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            // Executable bits survive; the owner can always read and write; nothing
            // becomes writable by others.
            let mode = (mode & 0o755) | 0o600;
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(local)?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        let meta = file.metadata().map_err(local)?;
        drop(file);
        let target = self.final_path(rel);
        fs::rename(temp, &target).map_err(|source| ExtractError::Local {
            path: target.clone(),
            source,
        })?;
        Ok(mtime_ns(&meta))
    }

    fn discard(&self, temp: &Path) {
        let _ = fs::remove_file(temp);
    }
}

/// A temporary file being written.
struct TempFile {
    file: File,
    #[cfg(test)]
    quota: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering;
            let len = buf.len() as u64;
            if self
                .quota
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(len)
                })
                .is_err()
            {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Removes temporary files left by runs that were killed, anywhere under `root`,
/// without following links. Returns how many were removed.
pub(crate) fn sweep_temp_files(root: &Path) -> usize {
    let mut removed = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file()
                && name.starts_with(TEMP_PREFIX)
                && name.ends_with(TEMP_SUFFIX)
                && fs::remove_file(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// Reads a whole tar stream, writing the expected files.
pub(crate) fn extract<R: Read>(
    reader: R,
    expected: &Expected,
    late: Option<&LateSums>,
    store: &FsStore,
    on_event: &mut dyn FnMut(ExtractEvent),
) -> ExtractOutcome {
    let mut outcome = ExtractOutcome::default();
    if let Err(err) = extract_into(reader, expected, late, store, on_event, &mut outcome) {
        outcome.error = Some(err);
    }
    outcome
}

fn extract_into<R: Read>(
    reader: R,
    expected: &Expected,
    late: Option<&LateSums>,
    store: &FsStore,
    on_event: &mut dyn FnMut(ExtractEvent),
    outcome: &mut ExtractOutcome,
) -> Result<(), ExtractError> {
    let mut archive = tar::Archive::new(reader);
    // Names passed on stdin go through xargs, which may run tar more than once: the
    // archives follow each other, each with its end marker.
    archive.set_ignore_zeros(true);
    let mut seen: HashSet<String> = HashSet::new();
    let mut committed: HashSet<String> = HashSet::new();
    for entry in archive.entries().map_err(ExtractError::Stream)? {
        let mut entry = entry.map_err(ExtractError::Stream)?;
        let name = entry.path_bytes().into_owned();
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let shown = || String::from_utf8_lossy(&name).into_owned();
        let accepted = tar_safety::classify(entry.header().entry_type(), &name, link.as_deref())
            .map_err(|reason| ExtractError::Unsafe {
                entry: shown(),
                reason,
            })?;
        let (path, link_target) = match accepted {
            Accepted::Skip | Accepted::Dir(_) => continue,
            Accepted::File(path) => (path, None),
            Accepted::HardLink { path, target } => {
                if !committed.contains(&target) {
                    return Err(ExtractError::Unsafe {
                        entry: shown(),
                        reason: Unsafe::HardLinkUnknown { target },
                    });
                }
                (path, Some(target))
            }
        };
        let Some((size, sha256)) = expected.get(&path) else {
            return Err(ExtractError::Unexpected { entry: shown() });
        };
        if !seen.insert(path.clone()) {
            return Err(ExtractError::Duplicate { entry: shown() });
        }
        let mtime = entry_time(entry.header());
        let mode = entry.header().mode().ok();
        let received = match &link_target {
            // GNU and busybox tar send a second name of the same inode as a link to the
            // first: copy the first's verified content instead of linking.
            Some(target) => {
                let source = store.final_path(target);
                let file = File::open(&source).map_err(|source_err| ExtractError::Local {
                    path: source.clone(),
                    source: source_err,
                })?;
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                receive(file, len, &path, store, on_event, LocalReads::Local(source))?
            }
            None => {
                let len = entry.size();
                if len != *size {
                    outcome.mismatched.push(Mismatch {
                        path,
                        expected_size: *size,
                        expected_sha256: sha256.clone(),
                        received_size: len,
                        received_sha256: None,
                        expected_cksum: None,
                        received_cksum: None,
                    });
                    // The tar reader skips the unread content by itself.
                    continue;
                }
                receive(&mut entry, len, &path, store, on_event, LocalReads::Stream)?
            }
        };
        let Received {
            temp,
            file,
            size: got_size,
            sha256: got_sha,
            cksum: got_cksum,
        } = received;
        // Files without a known SHA-256 are checked against the pod's late checksum.
        let late_sum = match (sha256, late) {
            (None, Some(late)) => match late.wait(&path) {
                Ok(sum) => Some(sum),
                Err(reason) => {
                    store.discard(&temp);
                    return Err(ExtractError::RemoteHash {
                        entry: path,
                        reason,
                    });
                }
            },
            _ => None,
        };
        let (expected_sha256, expected_cksum) = match late_sum {
            Some(RemoteSum::Sha256(hash)) => (Some(hash), None),
            Some(RemoteSum::Cksum(crc)) => (None, Some(crc)),
            None => (sha256.clone(), None),
        };
        let matches = got_size == *size
            && expected_sha256.as_ref().is_none_or(|s| *s == got_sha)
            && expected_cksum.is_none_or(|c| c == got_cksum);
        if !matches {
            store.discard(&temp);
            outcome.mismatched.push(Mismatch {
                path,
                expected_size: *size,
                expected_sha256,
                received_size: got_size,
                received_sha256: Some(got_sha),
                received_cksum: expected_cksum.map(|_| got_cksum),
                expected_cksum,
            });
            continue;
        }
        let committed_time =
            match store.commit(&temp, file, &path, mtime.as_ref().ok().copied(), mode) {
                Ok(t) => t,
                Err(err) => {
                    store.discard(&temp);
                    return Err(err);
                }
            };
        if let Err(why) = &mtime {
            on_event(ExtractEvent::Warning(format!(
                "{path}: {why}; the local copy has the time of the fetch"
            )));
        }
        on_event(ExtractEvent::FileDone {
            path: path.clone(),
            size: got_size,
        });
        committed.insert(path.clone());
        outcome.written.push(ManifestEntry {
            path,
            size: got_size,
            sha256: got_sha,
            mtime_ns: committed_time,
            // The caller knows the remote time from the listing.
            remote_mtime: None,
        });
    }
    Ok(())
}

/// An entry's modification time. GNU tar writes times before 1970 in base-256 (two's
/// complement), which `Header::mtime` reads as a huge unsigned number: adding that to
/// the epoch would panic. A time that cannot be read or stored is an `Err` saying why.
fn entry_time(header: &tar::Header) -> Result<SystemTime, String> {
    let field = &header.as_old().mtime;
    let value = tar_number(field).ok_or_else(|| {
        format!(
            "its time in the tar header ({:?}) is not a number",
            String::from_utf8_lossy(field)
        )
    })?;
    let beyond = || format!("its time in the tar header ({value} s from 1970) is beyond any date");
    let secs = i64::try_from(value).map_err(|_| beyond())?;
    let offset = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(offset)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(offset)
    }
    .ok_or_else(beyond)
}

/// A numeric tar field, signed: octal text, or base-256 when the first byte is 0x80
/// (positive) or 0xff (negative, two's complement over the whole field).
fn tar_number(field: &[u8]) -> Option<i128> {
    match *field.first()? {
        first @ (0x80 | 0xff) => {
            let rest = &field[1..];
            let mut value: i128 = 0;
            for byte in rest {
                value = value.checked_mul(256)? + i128::from(*byte);
            }
            if first == 0xff {
                value -= 1i128.checked_shl(8 * rest.len() as u32)?;
            }
            Some(value)
        }
        first if first & 0x80 != 0 => None,
        _ => {
            let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
            let text = std::str::from_utf8(&field[..end]).ok()?.trim_matches(' ');
            i128::from_str_radix(text, 8).ok()
        }
    }
}

struct Received {
    temp: PathBuf,
    file: TempFile,
    size: u64,
    sha256: String,
    /// POSIX CRC: nearly free next to SHA-256, so always computed.
    cksum: u32,
}

/// Where the bytes of a file come from, for naming the culprit of a read error.
enum LocalReads {
    Stream,
    Local(PathBuf),
}

/// Copies one file's content to a temporary file while hashing it. On any error the
/// temporary file is removed: nothing partial is left behind.
fn receive<R: Read>(
    mut from: R,
    len: u64,
    rel: &str,
    store: &FsStore,
    on_event: &mut dyn FnMut(ExtractEvent),
    reads: LocalReads,
) -> Result<Received, ExtractError> {
    let (temp, mut file) = store.create_temp(rel)?;
    let mut hasher = Sha256::new();
    let mut crc = PosixCksum::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    let result = loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break Err(match &reads {
                    LocalReads::Stream => ExtractError::Stream(e),
                    LocalReads::Local(path) => ExtractError::Local {
                        path: path.clone(),
                        source: e,
                    },
                });
            }
        };
        hasher.update(&buf[..n]);
        crc.update(&buf[..n]);
        if let Err(source) = file.write_all(&buf[..n]) {
            // Named by the file the user expects, not its temporary name.
            break Err(ExtractError::Local {
                path: store.final_path(rel),
                source,
            });
        }
        total += n as u64;
        on_event(ExtractEvent::Bytes(n as u64));
    };
    // A tar entry that ends early reads as a short file, not an error.
    let result = result.and_then(|()| {
        if matches!(reads, LocalReads::Stream) && total < len {
            Err(ExtractError::Stream(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{rel}: {total} of {len} bytes received"),
            )))
        } else {
            file.flush().map_err(|source| ExtractError::Local {
                path: temp.clone(),
                source,
            })
        }
    });
    match result {
        Ok(()) => Ok(Received {
            temp,
            file,
            size: total,
            sha256: hex::encode(hasher.finalize()),
            cksum: crc.finish(),
        }),
        Err(err) => {
            drop(file);
            store.discard(&temp);
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::{EntryType, Header};

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// A header whose name bytes are written raw, bypassing the checks of `set_path`,
    /// as a hostile archive would.
    fn raw_header(name: &[u8], kind: EntryType, size: u64, link: Option<&[u8]>) -> Header {
        let mut h = Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            if let Some(link) = link {
                old.linkname = [0; 100];
                old.linkname[..link.len()].copy_from_slice(link);
            }
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        h
    }

    /// Name, type, content, link name.
    type Spec<'a> = (&'a [u8], EntryType, &'a [u8], Option<&'a [u8]>);

    fn archive(entries: &[Spec<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let h = raw_header(name, *kind, data.len() as u64, *link);
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn expect(files: &[(&str, &[u8])]) -> Expected {
        files
            .iter()
            .map(|(p, d)| (p.to_string(), (d.len() as u64, Some(sha(d)))))
            .collect()
    }

    struct Target {
        _dir: tempfile::TempDir,
        root: PathBuf,
        store: FsStore,
    }

    fn target() -> Target {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("to");
        fs::create_dir(&root).unwrap();
        let root = root.canonicalize().unwrap();
        Target {
            store: FsStore::new(root.clone()),
            root,
            _dir: dir,
        }
    }

    fn run(t: &Target, bytes: &[u8], expected: &Expected) -> (ExtractOutcome, Vec<ExtractEvent>) {
        let mut events = vec![];
        let out = extract(bytes, expected, None, &t.store, &mut |e| events.push(e));
        (out, events)
    }

    /// Every file under `dir`, relative, sorted.
    fn files_under(dir: &Path) -> Vec<String> {
        let mut out = vec![];
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn writes_verified_files_with_progress() {
        let t = target();
        let bytes = archive(&[
            (b"./d/", EntryType::Directory, b"", None),
            (b"./d/a.txt", EntryType::Regular, b"hello", None),
            (b"./b", EntryType::Regular, b"", None),
        ]);
        let exp = expect(&[("d/a.txt", b"hello"), ("b", b"")]);
        let (out, events) = run(&t, &bytes, &exp);
        assert!(out.error.is_none(), "{:?}", out.error);
        assert!(out.mismatched.is_empty());
        assert_eq!(out.written.len(), 2);
        assert_eq!(fs::read(t.root.join("d/a.txt")).unwrap(), b"hello");
        assert_eq!(files_under(&t.root), vec!["b", "d/a.txt"]);
        assert!(events.contains(&ExtractEvent::Bytes(5)));
        assert!(events.contains(&ExtractEvent::FileDone {
            path: "d/a.txt".into(),
            size: 5
        }));
        let meta = fs::metadata(t.root.join("d/a.txt")).unwrap();
        assert_eq!(
            meta.modified().unwrap(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(out.written[0].mtime_ns, mtime_ns(&meta));
    }

    #[test]
    fn archives_that_follow_each_other_are_all_read() {
        // What `xargs tar` sends when it runs tar twice: two archives, two end markers.
        let t = target();
        let mut bytes = archive(&[(b"./a", EntryType::Regular, b"first", None)]);
        bytes.extend(archive(&[(b"./b", EntryType::Regular, b"second", None)]));
        let exp = expect(&[("a", b"first"), ("b", b"second")]);
        let (out, _) = run(&t, &bytes, &exp);
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(files_under(&t.root), vec!["a", "b"]);
        // The second archive is checked as strictly as the first.
        let t = target();
        let mut bytes = archive(&[(b"./a", EntryType::Regular, b"first", None)]);
        bytes.extend(archive(&[(b"../b", EntryType::Regular, b"x", None)]));
        let (out, _) = run(&t, &bytes, &exp);
        assert!(matches!(out.error, Some(ExtractError::Unsafe { .. })));
        assert!(files_under(t.root.parent().unwrap()) == vec!["to/a"]);
    }

    #[test]
    fn traversal_and_absolute_entries_write_nothing_outside() {
        for name in [
            &b"../escape.txt"[..],
            b"./a/../../escape.txt",
            b"/tmp/escape.txt",
            b"a/../../../escape.txt",
        ] {
            let t = target();
            let bytes = archive(&[(name, EntryType::Regular, b"pwned", None)]);
            let exp = expect(&[("escape.txt", b"pwned")]);
            let (out, _) = run(&t, &bytes, &exp);
            assert!(
                matches!(out.error, Some(ExtractError::Unsafe { .. })),
                "{name:?}: {:?}",
                out.error
            );
            assert!(!t.root.parent().unwrap().join("escape.txt").exists());
            assert!(files_under(t.root.parent().unwrap()).is_empty());
        }
    }

    #[test]
    fn links_and_devices_are_refused() {
        let cases: [Spec<'_>; 5] = [
            (b"./l", EntryType::Symlink, b"", Some(b"/etc/passwd")),
            (b"./l", EntryType::Symlink, b"", Some(b"../../outside")),
            (b"./l", EntryType::Symlink, b"", Some(b"inside")),
            (b"./h", EntryType::Link, b"", Some(b"/etc/shadow")),
            (b"./dev", EntryType::Char, b"", None),
        ];
        for (name, kind, data, link) in cases {
            let t = target();
            let bytes = archive(&[(name, kind, data, link)]);
            let exp = expect(&[("l", b""), ("h", b""), ("dev", b"")]);
            let (out, _) = run(&t, &bytes, &exp);
            assert!(
                matches!(out.error, Some(ExtractError::Unsafe { .. })),
                "{kind:?} {link:?}: {:?}",
                out.error
            );
            assert!(files_under(t.root.parent().unwrap()).is_empty());
        }
    }

    #[test]
    fn an_archive_cannot_plant_a_link_then_write_through_it() {
        let t = target();
        let bytes = archive(&[
            (b"./d", EntryType::Symlink, b"", Some(b"/tmp")),
            (b"./d/x", EntryType::Regular, b"x", None),
        ]);
        let exp = expect(&[("d/x", b"x")]);
        let (out, _) = run(&t, &bytes, &exp);
        assert!(matches!(out.error, Some(ExtractError::Unsafe { .. })));
        assert!(files_under(&t.root).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn existing_local_links_are_not_followed() {
        let t = target();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), t.root.join("d")).unwrap();
        let bytes = archive(&[(b"./d/x", EntryType::Regular, b"x", None)]);
        let (out, _) = run(&t, &bytes, &expect(&[("d/x", b"x")]));
        assert!(matches!(out.error, Some(ExtractError::Layout { .. })));
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
    }

    #[test]
    fn hard_links_inside_are_copied_after_their_target() {
        let t = target();
        let bytes = archive(&[
            (b"./a", EntryType::Regular, b"same", None),
            (b"./b", EntryType::Link, b"", Some(b"./a")),
        ]);
        let (out, _) = run(&t, &bytes, &expect(&[("a", b"same"), ("b", b"same")]));
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(fs::read(t.root.join("b")).unwrap(), b"same");
        let meta = fs::symlink_metadata(t.root.join("b")).unwrap();
        assert!(meta.is_file());
        // A link to something not received first is refused.
        let t = target();
        let bytes = archive(&[(b"./b", EntryType::Link, b"", Some(b"./a"))]);
        let (out, _) = run(&t, &bytes, &expect(&[("a", b"same"), ("b", b"same")]));
        assert!(matches!(
            out.error,
            Some(ExtractError::Unsafe {
                reason: Unsafe::HardLinkUnknown { .. },
                ..
            })
        ));
    }

    #[test]
    fn unrequested_and_duplicate_entries_stop_extraction() {
        let t = target();
        let bytes = archive(&[(b"./other", EntryType::Regular, b"x", None)]);
        let (out, _) = run(&t, &bytes, &expect(&[("a", b"x")]));
        assert!(matches!(out.error, Some(ExtractError::Unexpected { .. })));
        let bytes = archive(&[
            (b"./a", EntryType::Regular, b"x", None),
            (b"a", EntryType::Regular, b"x", None),
        ]);
        let t = target();
        let (out, _) = run(&t, &bytes, &expect(&[("a", b"x")]));
        assert!(matches!(out.error, Some(ExtractError::Duplicate { .. })));
        assert_eq!(out.written.len(), 1);
    }

    #[test]
    fn changed_content_is_not_renamed_and_the_rest_goes_on() {
        let t = target();
        fs::write(t.root.join("a"), b"old").unwrap();
        let bytes = archive(&[
            (b"./a", EntryType::Regular, b"new!", None),
            (b"./b", EntryType::Regular, b"BBB", None),
            (b"./c", EntryType::Regular, b"c", None),
        ]);
        // `a` was listed with other content of the same size; `b` with another size.
        let mut exp = expect(&[("a", b"NEW!"), ("c", b"c")]);
        exp.insert("b".into(), (2, Some(sha(b"BB"))));
        let (out, _) = run(&t, &bytes, &exp);
        assert!(out.error.is_none(), "{:?}", out.error);
        let mis: Vec<&str> = out.mismatched.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(mis, vec!["a", "b"]);
        assert_eq!(out.mismatched[1].received_sha256, None);
        assert_eq!(fs::read(t.root.join("a")).unwrap(), b"old");
        assert!(!t.root.join("b").exists());
        assert_eq!(fs::read(t.root.join("c")).unwrap(), b"c");
        assert_eq!(files_under(&t.root), vec!["a", "c"]);
    }

    #[test]
    fn a_cut_stream_leaves_no_partial_file() {
        let t = target();
        let data = vec![7u8; 100_000];
        let bytes = archive(&[
            (b"./whole", EntryType::Regular, b"w", None),
            (b"./big", EntryType::Regular, &data, None),
        ]);
        // Cut in the middle of `big`'s content.
        let cut = &bytes[..512 * 3 + 50_000];
        let (out, _) = run(&t, cut, &expect(&[("whole", b"w"), ("big", &data)]));
        assert!(
            matches!(out.error, Some(ExtractError::Stream(_))),
            "{:?}",
            out.error
        );
        assert_eq!(files_under(&t.root), vec!["whole"]);
        // Cut inside a header.
        let t = target();
        let cut = &bytes[..512 * 2 + 100];
        let (out, _) = run(&t, cut, &expect(&[("whole", b"w"), ("big", &data)]));
        assert!(matches!(out.error, Some(ExtractError::Stream(_))));
        assert_eq!(files_under(&t.root), vec!["whole"]);
    }

    #[test]
    fn a_full_disk_names_the_file_and_leaves_nothing_partial() {
        let t = target();
        t.store
            .quota
            .store(70_000, std::sync::atomic::Ordering::SeqCst);
        let data = vec![1u8; 100_000];
        let bytes = archive(&[
            (b"./small", EntryType::Regular, b"s", None),
            (b"./big", EntryType::Regular, &data, None),
        ]);
        let (out, _) = run(&t, &bytes, &expect(&[("small", b"s"), ("big", &data)]));
        match out.error {
            Some(ExtractError::Local { path, source }) => {
                assert_eq!(source.kind(), io::ErrorKind::StorageFull);
                assert_eq!(path, t.root.join("big"));
            }
            other => panic!("expected a local write error, got {other:?}"),
        }
        assert_eq!(files_under(&t.root), vec!["small"]);
    }

    #[test]
    fn checksums_arriving_during_the_stream_verify_each_file() {
        let t = target();
        let bytes = archive(&[
            (b"./a", EntryType::Regular, b"aaa", None),
            (b"./b", EntryType::Regular, b"bbb", None),
            (b"./c", EntryType::Regular, b"ccc", None),
            (b"./d", EntryType::Regular, b"ddd", None),
        ]);
        let mut exp = expect(&[("a", b"aaa"), ("b", b"bbb"), ("c", b"ccc"), ("d", b"ddd")]);
        for value in exp.values_mut() {
            value.1 = None;
        }
        let crc = |data: &[u8]| {
            let mut sum = PosixCksum::new();
            sum.update(data);
            sum.finish()
        };
        let late = std::sync::Arc::new(LateSums::default());
        // The pod's checksums come from another thread, late, one of them wrong; the
        // program then ends without `d`.
        let feeder = {
            let late = late.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                late.add("a".into(), RemoteSum::Cksum(crc(b"aaa")));
                late.add("b".into(), RemoteSum::Cksum(crc(b"other")));
                late.add("c".into(), RemoteSum::Sha256(sha(b"ccc")));
                std::thread::sleep(Duration::from_millis(50));
                late.end(Some("the exec ended: exit code 1".into()));
            })
        };
        let out = extract(&bytes[..], &exp, Some(&late), &t.store, &mut |_| {});
        feeder.join().unwrap();
        let written: Vec<&str> = out.written.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(written, vec!["a", "c"]);
        // The manifest gets SHA-256 whichever checksum the pod used.
        assert_eq!(out.written[0].sha256, sha(b"aaa"));
        assert_eq!(out.mismatched.len(), 1);
        let b = &out.mismatched[0];
        assert_eq!(b.path, "b");
        assert_eq!(b.expected_cksum, Some(crc(b"other")));
        assert_eq!(b.received_cksum, Some(crc(b"bbb")));
        assert_eq!(b.expected_sha256, None);
        match out.error {
            Some(ExtractError::RemoteHash { entry, reason }) => {
                assert_eq!(entry, "d");
                assert!(reason.contains("exit code 1"), "{reason}");
            }
            other => panic!("expected a missing remote checksum, got {other:?}"),
        }
        assert_eq!(files_under(&t.root), vec!["a", "c"]);
    }

    /// One regular file `./old` holding `data`, whose 12-byte mtime field is `mtime`
    /// as written raw (GNU tar uses base-256 for times before 1970).
    fn archive_with_mtime(data: &[u8], mtime: [u8; 12]) -> Vec<u8> {
        let mut h = raw_header(b"./old", EntryType::Regular, data.len() as u64, None);
        h.as_old_mut().mtime = mtime;
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, data).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn a_time_before_1970_is_kept() {
        let t = target();
        // GNU tar's -1 (1969-12-31 23:59:59): base-256, two's complement.
        let bytes = archive_with_mtime(b"old data", [0xff; 12]);
        let (out, events) = run(&t, &bytes, &expect(&[("old", b"old data")]));
        assert!(out.error.is_none(), "{:?}", out.error);
        assert_eq!(fs::read(t.root.join("old")).unwrap(), b"old data");
        let meta = fs::metadata(t.root.join("old")).unwrap();
        assert_eq!(
            meta.modified().unwrap(),
            SystemTime::UNIX_EPOCH - Duration::from_secs(1)
        );
        // The manifest can record it, so that the next run trusts the file.
        assert_eq!(out.written[0].mtime_ns, Some(-1_000_000_000));
        assert!(
            !events.iter().any(|e| matches!(e, ExtractEvent::Warning(_))),
            "{events:?}"
        );
    }

    #[test]
    fn an_impossible_time_keeps_the_file_and_names_it() {
        // Base-256 values beyond any clock, and an octal field that is not a number.
        let mut huge = [0xff; 12];
        huge[0] = 0x80;
        let mut not_octal = [b'9'; 12];
        not_octal[11] = 0;
        for field in [huge, not_octal] {
            let t = target();
            let bytes = archive_with_mtime(b"x", field);
            let (out, events) = run(&t, &bytes, &expect(&[("old", b"x")]));
            assert!(out.error.is_none(), "{field:?}: {:?}", out.error);
            assert_eq!(files_under(&t.root), vec!["old"]);
            let warned: Vec<&String> = events
                .iter()
                .filter_map(|e| match e {
                    ExtractEvent::Warning(w) => Some(w),
                    _ => None,
                })
                .collect();
            assert_eq!(warned.len(), 1, "{field:?}: {events:?}");
            assert!(warned[0].starts_with("old: "), "{}", warned[0]);
            assert!(warned[0].contains("time of the fetch"), "{}", warned[0]);
        }
    }

    #[test]
    fn tar_numbers_are_read_signed() {
        assert_eq!(tar_number(b"00000000017\0"), Some(15));
        assert_eq!(tar_number(b"    17 \0\0\0\0\0"), Some(15));
        let mut positive = [0u8; 12];
        positive[0] = 0x80;
        positive[11] = 0x10;
        assert_eq!(tar_number(&positive), Some(16));
        let mut minus_two = [0xff; 12];
        minus_two[11] = 0xfe;
        assert_eq!(tar_number(&minus_two), Some(-2));
        // Neither octal text nor a base-256 marker.
        assert_eq!(tar_number(&[0x81; 12]), None);
        assert_eq!(tar_number(b"12x\0"), None);
    }

    /// An old-GNU sparse entry: 512 bytes of data at the end of a file whose header
    /// claims `real` bytes; the rest would be unpacked as zeros.
    fn sparse_archive(real: u64) -> Vec<u8> {
        let mut h = raw_header(b"./big", EntryType::GNUSparse, 512, None);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.sparse[0].set_offset(real - 512);
        gnu.sparse[0].set_length(512);
        gnu.set_real_size(real);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &[7u8; 512][..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn a_sparse_entry_is_refused_before_writing_anything() {
        let t = target();
        let real = 256 * 1024 * 1024;
        let bytes = sparse_archive(real);
        assert!(bytes.len() <= 2048, "{} bytes", bytes.len());
        // The listing agrees with the header: it must not authorise the entry.
        let mut exp = Expected::new();
        exp.insert("big".into(), (real, None));
        let (out, events) = run(&t, &bytes, &exp);
        match &out.error {
            Some(ExtractError::Unsafe { entry, reason }) => {
                assert_eq!(entry, "./big");
                assert_eq!(*reason, Unsafe::Sparse);
            }
            other => panic!("expected a refused sparse entry, got {other:?}"),
        }
        let text = out.error.as_ref().unwrap().to_string();
        assert!(text.contains("./big") && text.contains("sparse"), "{text}");
        assert!(files_under(t.root.parent().unwrap()).is_empty());
        assert!(
            !events.iter().any(|e| matches!(e, ExtractEvent::Bytes(_))),
            "{events:?}"
        );
        assert!(out.written.is_empty());
    }

    #[test]
    fn leftover_temp_files_are_swept() {
        let t = target();
        fs::create_dir(t.root.join("d")).unwrap();
        fs::write(t.root.join("d/.xtask-0011223344556677.part"), b"x").unwrap();
        fs::write(t.root.join("d/keep.part"), b"x").unwrap();
        assert_eq!(sweep_temp_files(&t.root), 1);
        assert_eq!(files_under(&t.root), vec!["d/keep.part"]);
    }
}

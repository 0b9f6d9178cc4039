//! What to transfer: the remote listing against what the target folder already holds.
//! [`diff`], [`needs_remote_hash`] and [`trust_manifest`] are pure; [`inspect_local`]
//! reads the folder.
//!
//! The quick check, as `rsync` does it: a local file that the manifest vouches for,
//! whose remote side still has the size and modification time recorded when it was
//! verified, is unchanged without hashing either side. Any other local file of the
//! right size is compared by SHA-256, the remote one hashed in the pod.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::listing::{Listing, RemoteFile};
use super::manifest::{MANIFEST_FILE, Manifest, ManifestEntry, mtime_ns};

/// Why a file is (or is not) transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Not in the target folder.
    New,
    /// In the target folder with another size or content.
    Changed,
    /// Already there with the same content.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    pub path: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub action: Action,
}

/// A remote file that cannot be written where it belongs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub path: String,
    pub reason: String,
}

/// The files of a listing, each with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct FetchPlan {
    pub files: Vec<PlannedFile>,
    pub conflicts: Vec<Conflict>,
}

impl FetchPlan {
    pub fn to_fetch(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files.iter().filter(|f| f.action != Action::Unchanged)
    }

    pub fn bytes_to_fetch(&self) -> u64 {
        self.to_fetch().map(|f| f.size).sum()
    }

    pub fn files_to_fetch(&self) -> usize {
        self.to_fetch().count()
    }

    pub fn unchanged(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files.iter().filter(|f| f.action == Action::Unchanged)
    }
}

/// What the target folder holds at a remote file's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalState {
    Missing,
    /// A regular file; `sha256` is known when the manifest was trusted or the file
    /// hashed (not needed when the size already differs). `same_remote`: the
    /// manifest vouches for the local file and recorded the remote file's current size
    /// and modification time, so neither side changed since it was verified.
    File {
        size: u64,
        sha256: Option<String>,
        same_remote: bool,
    },
    /// Something that must not be replaced: a folder, a symbolic link (or a parent
    /// that is one), a special file.
    Blocked(String),
}

/// Compares every remote file with the local state at its place.
pub fn diff(listing: &Listing, local: &HashMap<String, LocalState>) -> FetchPlan {
    let mut plan = FetchPlan::default();
    for remote in &listing.files {
        if remote.path == MANIFEST_FILE {
            plan.conflicts.push(Conflict {
                path: remote.path.clone(),
                reason: "has the name of the toolkit's manifest; rename it on the PVC".into(),
            });
            continue;
        }
        let action = match local.get(&remote.path).unwrap_or(&LocalState::Missing) {
            LocalState::Missing => Action::New,
            LocalState::Blocked(why) => {
                plan.conflicts.push(Conflict {
                    path: remote.path.clone(),
                    reason: why.clone(),
                });
                continue;
            }
            LocalState::File { size, .. } if *size != remote.size => Action::Changed,
            LocalState::File {
                same_remote: true, ..
            } => Action::Unchanged,
            LocalState::File { sha256, .. } => match (sha256, &remote.sha256) {
                (Some(local), Some(remote)) if local == remote => Action::Unchanged,
                // Not proven equal (fetch hashes these first: [`needs_remote_hash`]):
                // copying again is safe, skipping is not.
                _ => Action::Changed,
            },
        };
        plan.files.push(PlannedFile {
            path: remote.path.clone(),
            size: remote.size,
            sha256: remote.sha256.clone(),
            action,
        });
    }
    plan
}

/// Remote files whose SHA-256 decides between unchanged and changed: a local file of
/// the same size is there, and the quick check did not settle it.
pub fn needs_remote_hash(listing: &Listing, local: &HashMap<String, LocalState>) -> Vec<String> {
    listing
        .files
        .iter()
        .filter(|remote| remote.sha256.is_none())
        .filter(|remote| {
            matches!(
                local.get(&remote.path),
                Some(LocalState::File { size, same_remote: false, .. }) if *size == remote.size
            )
        })
        .map(|remote| remote.path.clone())
        .collect()
}

/// Whether a manifest entry still describes the local file: same size and same
/// modification time as when it was verified.
pub fn trust_manifest(entry: &ManifestEntry, size: u64, mtime_ns: Option<i64>) -> bool {
    entry.size == size && entry.mtime_ns.is_some() && entry.mtime_ns == mtime_ns
}

/// A local file could not be read.
#[derive(Debug)]
pub struct LocalReadError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Looks at the place of every remote file under `target`. Files are hashed unless
/// the manifest vouches for them (always when `verify` is set).
pub fn inspect_local(
    target: &Path,
    listing: &Listing,
    manifest: Option<&Manifest>,
    verify: bool,
) -> Result<HashMap<String, LocalState>, LocalReadError> {
    let mut states = HashMap::new();
    let mut good_dirs: HashSet<String> = HashSet::new();
    for remote in &listing.files {
        let state = local_state(target, remote, manifest, verify, &mut good_dirs)?;
        states.insert(remote.path.clone(), state);
    }
    Ok(states)
}

fn local_state(
    target: &Path,
    remote: &RemoteFile,
    manifest: Option<&Manifest>,
    verify: bool,
    good_dirs: &mut HashSet<String>,
) -> Result<LocalState, LocalReadError> {
    let rel = remote.path.as_str();
    let parts: Vec<&str> = rel.split('/').collect();
    let mut prefix = String::new();
    for part in &parts[..parts.len() - 1] {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if good_dirs.contains(&prefix) {
            continue;
        }
        match fs::symlink_metadata(target.join(&prefix)) {
            Ok(m) if m.is_dir() => {
                good_dirs.insert(prefix.clone());
            }
            Ok(m) if m.file_type().is_symlink() => {
                return Ok(LocalState::Blocked(format!(
                    "local {prefix} is a symbolic link: files are never written through links"
                )));
            }
            Ok(_) => {
                return Ok(LocalState::Blocked(format!(
                    "local {prefix} is a file where the PVC has a folder"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LocalState::Missing),
            Err(source) => {
                return Err(LocalReadError {
                    path: target.join(&prefix),
                    source,
                });
            }
        }
    }
    let path = target.join(rel);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LocalState::Missing),
        Err(source) => return Err(LocalReadError { path, source }),
    };
    if meta.file_type().is_symlink() {
        return Ok(LocalState::Blocked(format!(
            "local {rel} is a symbolic link: it is never replaced"
        )));
    }
    if meta.is_dir() {
        return Ok(LocalState::Blocked(format!(
            "local {rel} is a folder where the PVC has a file"
        )));
    }
    if !meta.is_file() {
        return Ok(LocalState::Blocked(format!(
            "local {rel} is a special file"
        )));
    }
    let size = meta.len();
    if size != remote.size {
        return Ok(LocalState::File {
            size,
            sha256: None,
            same_remote: false,
        });
    }
    let vouched = manifest
        .and_then(|m| m.entry(rel))
        .filter(|e| !verify && trust_manifest(e, size, mtime_ns(&meta)));
    let same_remote =
        vouched.is_some_and(|e| e.remote_mtime.is_some() && e.remote_mtime == remote.mtime);
    let sha256 = match vouched {
        Some(e) => e.sha256.clone(),
        None => sha256_file(&path).map_err(|source| LocalReadError {
            path: path.clone(),
            source,
        })?,
    };
    Ok(LocalState::File {
        size,
        sha256: Some(sha256),
        same_remote,
    })
}

/// Lower-case hex SHA-256 of a file's content.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::super::listing::{PathKind, RemoteFile, RemotePath};
    use super::super::manifest::ManifestSource;
    use super::*;

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn actions(plan: &FetchPlan) -> Vec<(&str, Action)> {
        plan.files
            .iter()
            .map(|f| (f.path.as_str(), f.action))
            .collect()
    }

    fn listing(files: &[(&str, &[u8])]) -> Listing {
        Listing {
            path: RemotePath::root(),
            kind: PathKind::Dir,
            files: files
                .iter()
                .map(|(p, d)| RemoteFile {
                    path: p.to_string(),
                    size: d.len() as u64,
                    mtime: Some(100),
                    sha256: Some(sha(d)),
                })
                .collect(),
            skipped_links: vec![],
            tar: true,
            gzip: false,
            zstd: false,
            cksum: true,
            names_on_stdin: false,
            sha256sum: true,
            now: Some(1000),
            warnings: vec![],
        }
    }

    #[test]
    fn diff_sorts_files_into_new_changed_unchanged_and_conflicts() {
        let l = listing(&[
            ("new", b"n"),
            ("same", b"s"),
            ("resized", b"rr"),
            ("edited", b"e"),
            ("dir", b"d"),
            (MANIFEST_FILE, b"{}"),
        ]);
        let local = HashMap::from([
            (
                "same".to_string(),
                LocalState::File {
                    size: 1,
                    sha256: Some(sha(b"s")),
                    same_remote: false,
                },
            ),
            (
                "resized".to_string(),
                LocalState::File {
                    size: 1,
                    sha256: None,
                    same_remote: false,
                },
            ),
            (
                "edited".to_string(),
                LocalState::File {
                    size: 1,
                    sha256: Some(sha(b"E")),
                    same_remote: false,
                },
            ),
            ("dir".to_string(), LocalState::Blocked("a folder".into())),
        ]);
        let plan = diff(&l, &local);
        assert_eq!(
            actions(&plan),
            vec![
                ("new", Action::New),
                ("same", Action::Unchanged),
                ("resized", Action::Changed),
                ("edited", Action::Changed),
            ]
        );
        assert_eq!(plan.files_to_fetch(), 3);
        assert_eq!(plan.bytes_to_fetch(), 4);
        let conflicts: Vec<&str> = plan.conflicts.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(conflicts, vec!["dir", MANIFEST_FILE]);
    }

    #[test]
    fn manifest_is_trusted_only_for_same_size_and_time() {
        let e = ManifestEntry {
            path: "a".into(),
            size: 3,
            sha256: "x".into(),
            mtime_ns: Some(10),
            remote_mtime: Some(100),
        };
        assert!(trust_manifest(&e, 3, Some(10)));
        assert!(!trust_manifest(&e, 4, Some(10)));
        assert!(!trust_manifest(&e, 3, Some(11)));
        assert!(!trust_manifest(&e, 3, None));
        let no_time = ManifestEntry {
            mtime_ns: None,
            ..e
        };
        assert!(!trust_manifest(&no_time, 3, None));
    }

    #[test]
    fn inspect_hashes_unless_the_manifest_vouches() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("d")).unwrap();
        fs::write(root.join("d/a"), b"aaa").unwrap();
        fs::write(root.join("b"), b"bb").unwrap();
        let l = listing(&[("d/a", b"aaa"), ("b", b"BB"), ("c", b"c")]);
        let meta_b = fs::metadata(root.join("b")).unwrap();
        // A manifest claiming `b` holds "BB" at its current size and time is believed...
        let m = Manifest::new(
            ManifestSource {
                namespace: "n".into(),
                claim: "c".into(),
                path: ".".into(),
            },
            true,
            vec![ManifestEntry {
                path: "b".into(),
                size: 2,
                sha256: sha(b"BB"),
                mtime_ns: mtime_ns(&meta_b),
                remote_mtime: Some(100),
            }],
        );
        let states = inspect_local(root, &l, Some(&m), false).unwrap();
        assert_eq!(
            states["d/a"],
            LocalState::File {
                size: 3,
                sha256: Some(sha(b"aaa")),
                same_remote: false,
            }
        );
        assert_eq!(
            states["b"],
            LocalState::File {
                size: 2,
                sha256: Some(sha(b"BB")),
                same_remote: true,
            }
        );
        assert_eq!(states["c"], LocalState::Missing);
        // ...but `verify` hashes anyway and sees the truth.
        let states = inspect_local(root, &l, Some(&m), true).unwrap();
        assert_eq!(
            states["b"],
            LocalState::File {
                size: 2,
                sha256: Some(sha(b"bb")),
                same_remote: false,
            }
        );
    }

    #[test]
    fn quick_check_skips_hashing_only_when_both_sides_are_as_verified() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["kept", "touched-remote", "no-manifest"] {
            fs::write(root.join(name), b"abc").unwrap();
        }
        let mut l = listing(&[
            ("kept", b"abc"),
            ("touched-remote", b"abc"),
            ("no-manifest", b"abc"),
            ("resized", b"abcd"),
        ]);
        fs::write(root.join("resized"), b"abc").unwrap();
        // The remote hashes are not known yet: the listing carries sizes and times.
        for f in &mut l.files {
            f.sha256 = None;
        }
        l.files[1].mtime = Some(200);
        let entry = |name: &str| ManifestEntry {
            path: name.into(),
            size: 3,
            sha256: sha(b"abc"),
            mtime_ns: mtime_ns(&fs::metadata(root.join(name)).unwrap()),
            remote_mtime: Some(100),
        };
        let source = ManifestSource {
            namespace: "n".into(),
            claim: "c".into(),
            path: ".".into(),
        };
        let m = Manifest::new(
            source,
            true,
            vec![entry("kept"), entry("touched-remote"), entry("resized")],
        );
        let states = inspect_local(root, &l, Some(&m), false).unwrap();
        assert!(matches!(
            states["kept"],
            LocalState::File {
                same_remote: true,
                ..
            }
        ));
        // Only the same-size files the quick check could not settle need a remote hash.
        assert_eq!(
            needs_remote_hash(&l, &states),
            vec!["touched-remote".to_string(), "no-manifest".to_string()]
        );
        let plan = diff(&l, &states);
        assert_eq!(
            actions(&plan),
            vec![
                ("kept", Action::Unchanged),
                ("touched-remote", Action::Changed),
                ("no-manifest", Action::Changed),
                ("resized", Action::Changed),
            ]
        );
        // With the remote hash known, the same content is unchanged after all.
        l.files[1].sha256 = Some(sha(b"abc"));
        l.files[2].sha256 = Some(sha(b"abc"));
        let plan = diff(&l, &states);
        assert_eq!(plan.files_to_fetch(), 1);
        // --verify trusts nothing.
        let states = inspect_local(root, &l, Some(&m), true).unwrap();
        assert!(matches!(
            states["kept"],
            LocalState::File {
                same_remote: false,
                ..
            }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn inspect_blocks_links_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), root.join("flink")).unwrap();
        fs::create_dir(root.join("isdir")).unwrap();
        fs::write(root.join("isfile"), b"x").unwrap();
        let l = listing(&[
            ("escape/x", b"x"),
            ("flink", b"x"),
            ("isdir", b"x"),
            ("isfile/y", b"y"),
        ]);
        let states = inspect_local(root, &l, None, false).unwrap();
        for path in ["escape/x", "flink", "isdir", "isfile/y"] {
            assert!(
                matches!(states[path], LocalState::Blocked(_)),
                "{path}: {:?}",
                states[path]
            );
        }
        let plan = diff(&l, &states);
        assert_eq!(plan.conflicts.len(), 4);
        assert!(plan.files.is_empty());
    }
}

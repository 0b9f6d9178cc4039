//! The local manifest: what was fetched into a target folder and verified, so that a
//! later run skips unchanged files without hashing them again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// File name of the manifest in the target folder.
pub const MANIFEST_FILE: &str = ".xtask-manifest.json";
const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub source: ManifestSource,
    /// Every file listed on the PVC was present and verified when this was written.
    pub complete: bool,
    pub written_at: DateTime<Utc>,
    /// Sorted by path.
    pub files: Vec<ManifestEntry>,
}

/// Where the files came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSource {
    pub namespace: String,
    pub claim: String,
    /// On the PVC, relative to the claim's root (`.` for the root).
    pub path: String,
}

/// One verified local file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Relative to the target folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// The local file's modification time when verified (ns since the epoch): a file
    /// with another size or time was touched since and is hashed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
    /// The file's modification time on the PVC when it was verified (seconds since the
    /// epoch). The next fetch trusts a remote file of the same size and time without
    /// hashing it again, as `rsync` does; `--verify` hashes everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_mtime: Option<i64>,
}

impl Manifest {
    pub fn new(source: ManifestSource, complete: bool, mut files: Vec<ManifestEntry>) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.dedup_by(|a, b| a.path == b.path);
        Manifest {
            version: MANIFEST_VERSION,
            source,
            complete,
            written_at: Utc::now(),
            files,
        }
    }

    pub fn entry(&self, path: &str) -> Option<&ManifestEntry> {
        self.files
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }
}

/// What was found in the target folder.
#[derive(Debug)]
pub enum ManifestRead {
    Absent,
    Found(Manifest),
    /// Present but not readable as a manifest: files are hashed instead.
    Unusable(String),
}

pub fn manifest_path(dir: &Path) -> PathBuf {
    dir.join(MANIFEST_FILE)
}

pub fn read(dir: &Path) -> ManifestRead {
    let path = manifest_path(dir);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return ManifestRead::Absent,
        Err(err) => return ManifestRead::Unusable(format!("{}: {err}", path.display())),
    };
    match serde_json::from_slice::<Manifest>(&text) {
        Ok(mut m) if m.version == MANIFEST_VERSION => {
            // Lookups use binary search; a hand-edited file may be unsorted.
            m.files.sort_by(|a, b| a.path.cmp(&b.path));
            ManifestRead::Found(m)
        }
        Ok(m) => ManifestRead::Unusable(format!(
            "{}: version {} is not {MANIFEST_VERSION}",
            path.display(),
            m.version
        )),
        Err(err) => ManifestRead::Unusable(format!("{}: {err}", path.display())),
    }
}

/// Writes the manifest whole or not at all (a temporary file synced, then renamed).
pub fn write(dir: &Path, manifest: &Manifest) -> Result<(), (PathBuf, io::Error)> {
    let path = manifest_path(dir);
    let mut body = serde_json::to_vec_pretty(manifest).map_err(|e| (path.clone(), e.into()))?;
    body.push(b'\n');
    kit_config::files::write_atomic(&path, &body).map_err(|e| (path, e))
}

/// A file's modification time in ns since the epoch (negative before 1970), when the
/// system gives one that fits.
pub fn mtime_ns(meta: &fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).ok(),
        Err(before) => i64::try_from(before.duration().as_nanos()).ok().map(|n| -n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> ManifestSource {
        ManifestSource {
            namespace: "argo".into(),
            claim: "vcity-pvc".into(),
            path: "runs/x".into(),
        }
    }

    fn entry(path: &str) -> ManifestEntry {
        ManifestEntry {
            path: path.into(),
            size: 1,
            sha256: "ab".into(),
            mtime_ns: Some(5),
            remote_mtime: Some(7),
        }
    }

    #[test]
    fn round_trip_sorted_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(read(dir.path()), ManifestRead::Absent));
        let m = Manifest::new(source(), true, vec![entry("b"), entry("a"), entry("b")]);
        write(dir.path(), &m).unwrap();
        let ManifestRead::Found(back) = read(dir.path()) else {
            panic!("manifest not read back")
        };
        assert_eq!(back, m);
        assert_eq!(back.files.len(), 2);
        assert_eq!(back.entry("b").unwrap().path, "b");
        assert!(back.entry("c").is_none());
        // Nothing but the manifest itself is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(MANIFEST_FILE)]);
    }

    #[test]
    fn unusable_manifests_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(manifest_path(dir.path()), b"{not json").unwrap();
        assert!(matches!(read(dir.path()), ManifestRead::Unusable(_)));
        let mut m = Manifest::new(source(), true, vec![]);
        m.version = 99;
        fs::write(manifest_path(dir.path()), serde_json::to_vec(&m).unwrap()).unwrap();
        let ManifestRead::Unusable(why) = read(dir.path()) else {
            panic!("wrong version accepted")
        };
        assert!(why.contains("version 99"), "{why}");
    }

    #[test]
    fn write_failure_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the manifest should be.
        fs::create_dir(manifest_path(dir.path())).unwrap();
        let (path, _) = write(dir.path(), &Manifest::new(source(), true, vec![])).unwrap_err();
        assert_eq!(path, manifest_path(dir.path()));
    }
}

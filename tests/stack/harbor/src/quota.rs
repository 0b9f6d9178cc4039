//! Project storage quotas: what each project holds (blobs completed into it through the
//! proxy, each digest once per project, as Harbor counts), kept in a small JSON file so a
//! restart keeps the usage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Sizes as Harbor writes them in quota messages: bytes below 1 KiB, else one decimal
/// and a binary unit.
pub fn human_size(value: u64) -> String {
    const UNIT: u64 = 1024;
    if value < UNIT {
        return format!("{value} B");
    }
    let mut div = UNIT;
    let mut exp = 0;
    let mut n = value / UNIT;
    while n >= UNIT && exp < 5 {
        div *= UNIT;
        exp += 1;
        n /= UNIT;
    }
    let unit = ["K", "M", "G", "T", "P", "E"][exp];
    format!("{:.1} {unit}iB", value as f64 / div as f64)
}

/// Harbor's refusal text when `adding` bytes to `used` would pass `limit`.
pub fn exceeded_message(adding: u64, used: u64, limit: u64) -> String {
    format!(
        "adding {} of storage resource, which when updated to current usage of {} will exceed the configured upper limit of {}.",
        human_size(adding),
        human_size(used),
        human_size(limit)
    )
}

/// Whether adding `size` to `used` (plus what uploads under way have reserved) stays
/// within `limit`.
pub fn fits(used: u64, reserved: u64, size: u64, limit: u64) -> bool {
    used.checked_add(reserved)
        .and_then(|n| n.checked_add(size))
        .is_some_and(|total| total <= limit)
}

/// Bytes an upload holds, from the `Range: 0-N` distribution answers on its status
/// (`0-0` when empty: distribution cannot tell 0 bytes from 1 there; 0 is taken).
pub fn uploaded_bytes(range: &str) -> Option<u64> {
    let (start, end) = range.trim().split_once('-')?;
    if start != "0" {
        return None;
    }
    let end: u64 = end.parse().ok()?;
    Some(if end == 0 { 0 } else { end + 1 })
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    #[serde(default)]
    projects: BTreeMap<String, ProjectUsage>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct ProjectUsage {
    /// digest → size
    #[serde(default)]
    blobs: BTreeMap<String, u64>,
}

/// Usage of every project, with reservations for blob uploads being completed.
#[derive(Debug)]
pub struct Usage {
    path: PathBuf,
    state: StateFile,
    reserved: BTreeMap<String, u64>,
}

impl Usage {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Usage> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "the quota state {} is not what stack-harbor writes (remove it to start from zero)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        Ok(Usage {
            path: path.to_path_buf(),
            state,
            reserved: BTreeMap::new(),
        })
    }

    pub fn used(&self, project: &str) -> u64 {
        self.state
            .projects
            .get(project)
            .map(|p| p.blobs.values().fold(0u64, |a, b| a.saturating_add(*b)))
            .unwrap_or(0)
    }

    pub fn reserved(&self, project: &str) -> u64 {
        self.reserved.get(project).copied().unwrap_or(0)
    }

    pub fn holds(&self, project: &str, digest: &str) -> bool {
        self.state
            .projects
            .get(project)
            .is_some_and(|p| p.blobs.contains_key(digest))
    }

    pub fn reserve(&mut self, project: &str, size: u64) {
        let r = self.reserved.entry(project.to_string()).or_default();
        *r = r.saturating_add(size);
    }

    pub fn release(&mut self, project: &str, size: u64) {
        if let Some(r) = self.reserved.get_mut(project) {
            *r = r.saturating_sub(size);
        }
    }

    /// Counts a blob in a project (once per digest) and saves the state.
    pub fn record(&mut self, project: &str, digest: &str, size: u64) -> Result<()> {
        let blobs = &mut self
            .state
            .projects
            .entry(project.to_string())
            .or_default()
            .blobs;
        if blobs.contains_key(digest) {
            return Ok(());
        }
        blobs.insert(digest.to_string(), size);
        self.save()
    }

    /// Forgets every project's usage (test support) and saves.
    pub fn clear(&mut self) -> Result<()> {
        self.state.projects.clear();
        self.save()
    }

    fn save(&self) -> Result<()> {
        // written beside and renamed, so a crash never leaves half a file
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.state)?;
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .with_context(|| format!("cannot write the quota state {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_like_harbor() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(100), "100 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1024 * 1024), "1.0 MiB");
        assert_eq!(human_size(3355443), "3.2 MiB");
        assert_eq!(human_size(1024 * 1024 * 1024 * 3 / 2), "1.5 GiB");
        assert_eq!(human_size(1 << 40), "1.0 TiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn message_like_harbor() {
        assert_eq!(
            exceeded_message(3355443, 0, 1 << 20),
            "adding 3.2 MiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit of 1.0 MiB."
        );
    }

    #[test]
    fn quota_arithmetic() {
        assert!(fits(0, 0, 100, 100));
        assert!(!fits(0, 0, 101, 100));
        assert!(!fits(50, 1, 50, 100));
        assert!(fits(50, 0, 50, 100));
        assert!(!fits(u64::MAX, 1, 1, u64::MAX));
    }

    #[test]
    fn upload_ranges() {
        assert_eq!(uploaded_bytes("0-0"), Some(0));
        assert_eq!(uploaded_bytes("0-99"), Some(100));
        assert_eq!(uploaded_bytes(" 0-1 "), Some(2));
        assert_eq!(uploaded_bytes("5-9"), None);
        assert_eq!(uploaded_bytes("bytes=0-9"), None);
        assert_eq!(uploaded_bytes("0-x"), None);
    }

    #[test]
    fn usage_persists_and_counts_a_digest_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut u = Usage::load(&path).unwrap();
        assert_eq!(u.used("vcity"), 0);
        u.record("vcity", "sha256:a", 10).unwrap();
        u.record("vcity", "sha256:a", 10).unwrap();
        u.record("vcity", "sha256:b", 5).unwrap();
        u.record("other", "sha256:a", 10).unwrap();
        u.reserve("vcity", 7);
        assert_eq!((u.used("vcity"), u.reserved("vcity")), (15, 7));
        u.release("vcity", 7);
        assert_eq!(u.reserved("vcity"), 0);
        let again = Usage::load(&path).unwrap();
        assert_eq!((again.used("vcity"), again.used("other")), (15, 10));
        assert!(again.holds("vcity", "sha256:b"));
        std::fs::write(&path, "not json").unwrap();
        let e = format!("{:#}", Usage::load(&path).unwrap_err());
        assert!(e.contains("state.json"), "{e}");
    }
}

//! The cache key of an image, and why it differs from the last build.
//!
//! key = sha256 over a canonical JSON of everything that decides the build: the Dockerfile
//! name, each sent path with its kind, mode and content hash (or link target), the build
//! arguments, the target stage and the IDs of the base images. The inputs of the last
//! build are kept per image so a new key can be explained file by file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::context::{Context, EntryKind};
use crate::error::Result;
use crate::fsutil::{read_json, write_json};

const KEY_VERSION: u32 = 1;

/// What a base image resolved to. `Unresolved` images are neither local nor reachable;
/// the build pulls them and the key is computed again afterwards.
pub const UNRESOLVED: &str = "unresolved";

/// One sent path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInput {
    pub kind: EntryKind,
    pub mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Everything the key is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInputs {
    pub version: u32,
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// Base image reference -> image ID (config digest), or the key of a workspace image.
    pub bases: BTreeMap<String, String>,
    pub files: BTreeMap<String, FileInput>,
}

impl KeyInputs {
    /// Inputs of a scanned context.
    pub fn new(
        ctx: &Context,
        args: &BTreeMap<String, String>,
        target: Option<&str>,
        bases: BTreeMap<String, String>,
    ) -> Self {
        KeyInputs {
            version: KEY_VERSION,
            dockerfile: ctx.dockerfile.clone(),
            args: args.clone(),
            target: target.map(str::to_string),
            bases,
            files: ctx
                .entries
                .iter()
                .map(|e| {
                    (
                        e.path.clone(),
                        FileInput {
                            kind: e.kind,
                            mode: e.mode,
                            sha256: e.sha256.clone(),
                            link: e.link.clone(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The key: hex sha256 of the canonical JSON (maps are sorted, so it is stable).
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    /// Why `self` differs from `prev`, in words; `prefix` is put before file paths
    /// (`containers/collect/`). At most `max_files` file reasons are listed.
    pub fn reasons_since(&self, prev: &KeyInputs, prefix: &str, max_files: usize) -> Vec<String> {
        let mut reasons = Vec::new();
        if prev.version != self.version {
            reasons.push("the key format changed (new toolkit version)".to_string());
            return reasons;
        }
        if prev.dockerfile != self.dockerfile {
            reasons.push(format!(
                "Dockerfile moved from {} to {}",
                prev.dockerfile, self.dockerfile
            ));
        }
        let mut files = Vec::new();
        for (path, now) in &self.files {
            match prev.files.get(path) {
                None => files.push(format!("{prefix}{path} added")),
                Some(before) if before.kind != now.kind => {
                    files.push(format!("{prefix}{path} changed type"))
                }
                Some(before) if before.sha256 != now.sha256 || before.link != now.link => {
                    files.push(format!("{prefix}{path} changed"))
                }
                Some(before) if before.mode != now.mode => files.push(format!(
                    "{prefix}{path} mode changed ({:o} -> {:o})",
                    before.mode, now.mode
                )),
                Some(_) => {}
            }
        }
        for path in prev.files.keys() {
            if !self.files.contains_key(path) {
                files.push(format!("{prefix}{path} removed"));
            }
        }
        let extra = files.len().saturating_sub(max_files);
        reasons.extend(files.into_iter().take(max_files));
        if extra > 0 {
            reasons.push(format!("and {extra} more file changes"));
        }
        for (name, value) in &self.args {
            match prev.args.get(name) {
                None => reasons.push(format!("build arg {name} added")),
                Some(v) if v != value => reasons.push(format!("build arg {name} changed")),
                Some(_) => {}
            }
        }
        for name in prev.args.keys() {
            if !self.args.contains_key(name) {
                reasons.push(format!("build arg {name} removed"));
            }
        }
        if prev.target != self.target {
            reasons.push(format!(
                "target stage changed ({} -> {})",
                prev.target.as_deref().unwrap_or("last"),
                self.target.as_deref().unwrap_or("last")
            ));
        }
        for (base, id) in &self.bases {
            match prev.bases.get(base) {
                None => reasons.push(format!("new base image {base}")),
                Some(old) if old != id => reasons.push(format!("base image {base} changed")),
                Some(_) => {}
            }
        }
        for base in prev.bases.keys() {
            if !self.bases.contains_key(base) {
                reasons.push(format!("base image {base} no longer used"));
            }
        }
        reasons
    }
}

/// What this machine remembers of an image's last successful build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildState {
    pub key: String,
    pub image_id: String,
    pub built_at: String,
    pub inputs: KeyInputs,
}

/// Per-image build state files under `<state_dir>/state/`.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn new(state_dir: &Path) -> Self {
        StateStore {
            dir: state_dir.join("state"),
        }
    }

    fn path(&self, image: &str) -> PathBuf {
        self.dir.join(format!("{image}.json"))
    }

    /// The last build state; a damaged file counts as none (it is only used to explain).
    pub fn load(&self, image: &str) -> Option<BuildState> {
        read_json(&self.path(image)).ok().flatten()
    }

    pub fn save(&self, image: &str, state: &BuildState) -> Result<()> {
        write_json(&self.path(image), state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(files: &[(&str, &str, u32)]) -> KeyInputs {
        KeyInputs {
            version: KEY_VERSION,
            dockerfile: "Dockerfile".into(),
            args: BTreeMap::new(),
            target: None,
            bases: BTreeMap::new(),
            files: files
                .iter()
                .map(|(p, h, m)| {
                    (
                        p.to_string(),
                        FileInput {
                            kind: EntryKind::File,
                            mode: *m,
                            sha256: Some(h.to_string()),
                            link: None,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn key_is_stable_and_sensitive() {
        let a = inputs(&[("a", "1", 0o644), ("b", "2", 0o644)]);
        assert_eq!(a.key(), a.clone().key());
        assert_eq!(a.key().len(), 64);
        assert_ne!(
            a.key(),
            inputs(&[("a", "1", 0o644), ("b", "3", 0o644)]).key()
        );
        assert_ne!(
            a.key(),
            inputs(&[("a", "1", 0o755), ("b", "2", 0o644)]).key()
        );
        assert_ne!(
            a.key(),
            inputs(&[("a", "1", 0o644), ("c", "2", 0o644)]).key()
        );
        let mut b = a.clone();
        b.args.insert("X".into(), "1".into());
        assert_ne!(a.key(), b.key());
        let mut c = a.clone();
        c.bases.insert("python:3".into(), "sha256:1".into());
        assert_ne!(a.key(), c.key());
        let mut t = a.clone();
        t.target = Some("run".into());
        assert_ne!(a.key(), t.key());
    }

    #[test]
    fn reasons_name_files_args_bases() {
        let mut prev = inputs(&[
            ("entrypoint.py", "1", 0o644),
            ("old.txt", "x", 0o644),
            ("run.sh", "r", 0o644),
        ]);
        prev.args.insert("X".into(), "1".into());
        prev.args.insert("GONE".into(), "1".into());
        prev.bases.insert("python:3.11".into(), "sha256:a".into());
        let mut now = inputs(&[
            ("entrypoint.py", "2", 0o644),
            ("new.txt", "y", 0o644),
            ("run.sh", "r", 0o755),
        ]);
        now.args.insert("X".into(), "2".into());
        now.args.insert("NEW".into(), "1".into());
        now.bases.insert("python:3.11".into(), "sha256:b".into());
        now.target = Some("run".into());
        let r = now.reasons_since(&prev, "containers/collect/", 10);
        for want in [
            "containers/collect/entrypoint.py changed",
            "containers/collect/new.txt added",
            "containers/collect/old.txt removed",
            "containers/collect/run.sh mode changed (644 -> 755)",
            "build arg X changed",
            "build arg NEW added",
            "build arg GONE removed",
            "target stage changed (last -> run)",
            "base image python:3.11 changed",
        ] {
            assert!(r.iter().any(|x| x == want), "missing {want:?} in {r:?}");
        }
        assert!(now.reasons_since(&now, "", 10).is_empty());
    }

    #[test]
    fn many_file_changes_are_summarized() {
        let prev = inputs(&[]);
        let files: Vec<(String, String, u32)> = (0..30)
            .map(|i| (format!("f{i:02}"), "h".to_string(), 0o644))
            .collect();
        let refs: Vec<(&str, &str, u32)> = files
            .iter()
            .map(|(a, b, m)| (a.as_str(), b.as_str(), *m))
            .collect();
        let now = inputs(&refs);
        let r = now.reasons_since(&prev, "", 5);
        assert_eq!(r.len(), 6);
        assert_eq!(r[5], "and 25 more file changes");
    }

    #[test]
    fn state_roundtrip_and_damage_tolerated() {
        let d = tempfile::tempdir().unwrap();
        let store = StateStore::new(d.path());
        assert!(store.load("x").is_none());
        let inputs = inputs(&[("a", "1", 0o644)]);
        let st = BuildState {
            key: inputs.key(),
            image_id: "sha256:1".into(),
            built_at: "now".into(),
            inputs,
        };
        store.save("x", &st).unwrap();
        assert_eq!(store.load("x").unwrap().key, st.key);
        std::fs::write(d.path().join("state/x.json"), "garbage").unwrap();
        assert!(store.load("x").is_none());
    }
}

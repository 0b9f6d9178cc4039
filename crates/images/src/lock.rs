//! `containers/images.lock`: what was pushed, by digest, so runs pin exact images.
//! TOML with images sorted by name (readable diffs), written atomically.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::reference::ImageRef;

const HEADER: &str = "# Written by `cargo xtask up` (kit-images): the images pushed to the registry, by digest.\n# Workflows are run with these exact images. Commit this file; do not edit it by hand.\n\n";

/// The lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default = "version")]
    pub version: u32,
    /// Image name -> what is in the registry.
    #[serde(default)]
    pub images: BTreeMap<String, LockEntry>,
}

fn version() -> u32 {
    1
}

/// One pushed image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// `host/project/name:tag`.
    pub reference: String,
    /// Manifest digest in the registry (`sha256:…`).
    pub digest: String,
    /// Cache key of a built image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Upstream reference of a mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Manifest digest upstream, when copied registry to registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_digest: Option<String>,
    /// RFC 3339 time of the push.
    pub pushed_at: String,
}

impl LockEntry {
    /// `host/project/name:tag@sha256:…`: readable and exact.
    pub fn pinned(&self) -> String {
        pinned(&self.reference, &self.digest)
    }
}

/// A reference pinned to its manifest digest, `host/project/name:tag@sha256:…`: the tag
/// stays for the reader, the digest decides what is pulled.
pub fn pinned(reference: &str, digest: &str) -> String {
    format!("{reference}@{digest}")
}

impl Lock {
    /// An empty lock.
    pub fn new() -> Self {
        Lock {
            version: 1,
            images: BTreeMap::new(),
        }
    }

    /// Reads the lock file; a missing file is an empty lock.
    pub fn load(path: &Path) -> Result<Lock> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock::new()),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let lock: Lock = toml::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!(
                    "not a valid image lock: {}; restore it from git or delete it and run `cargo xtask up` again",
                    e.to_string().trim_end()
                ),
            )
        })?;
        if lock.version != 1 {
            return Err(Error::file(
                path,
                format!(
                    "lock version {} is not supported (expected 1); update the toolkit",
                    lock.version
                ),
            ));
        }
        Ok(lock)
    }

    /// Writes the lock file atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| Error::file(path, format!("cannot serialize the lock: {e}")))?;
        write_atomic(path, format!("{HEADER}{body}").as_bytes())
    }

    /// The entry of an image.
    pub fn get(&self, name: &str) -> Option<&LockEntry> {
        self.images.get(name)
    }

    /// Records a push.
    pub fn insert(&mut self, name: impl Into<String>, entry: LockEntry) {
        self.images.insert(name.into(), entry);
    }

    /// The pinned reference (`host/project/name:tag@sha256:…`) for an image as a workflow
    /// names it: `collect`, `collect:1.0`, `vcity/collect`, the full registry reference,
    /// or a mirror's upstream name (`postgres:15.2`). `None` when nothing matches, when
    /// several images match, or when the reference already has a digest.
    pub fn resolve(&self, image_ref: &str) -> Option<String> {
        let matches = self.matching(image_ref);
        match matches.as_slice() {
            [one] => self.images.get(*one).map(LockEntry::pinned),
            _ => None,
        }
    }

    /// Names of the images `image_ref` could mean (to explain an ambiguity).
    pub fn matching(&self, image_ref: &str) -> Vec<&str> {
        let Ok(wanted) = ImageRef::parse(image_ref, "workflow") else {
            return Vec::new();
        };
        if wanted.digest.is_some() {
            return Vec::new();
        }
        self.images
            .iter()
            .filter(|(_, e)| entry_matches(e, &wanted))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

fn entry_matches(entry: &LockEntry, wanted: &ImageRef) -> bool {
    let tag_ok = |have: &ImageRef| wanted.tag.is_none() || wanted.tag == have.tag;
    if let Ok(have) = ImageRef::parse(&entry.reference, "lock") {
        let same_repo = match &wanted.registry {
            Some(reg) => {
                Some(reg) == have.registry.as_ref() && wanted.repository == have.repository
            }
            None => {
                let w: Vec<&str> = wanted.repository.split('/').collect();
                let h: Vec<&str> = have.repository.split('/').collect();
                h.ends_with(&w)
            }
        };
        if same_repo && tag_ok(&have) {
            return true;
        }
    }
    if let Some(source) = &entry.source
        && let Ok(src) = ImageRef::parse(source, "lock")
    {
        return src.registry_or_default() == wanted.registry_or_default()
            && src.full_repository() == wanted.full_repository()
            && (wanted.tag.is_none() || wanted.tag_or_latest() == src.tag_or_latest());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn sample() -> Lock {
        let mut l = Lock::new();
        l.insert(
            "collect",
            LockEntry {
                reference: "harbor.example/vcity/collect:1.0".into(),
                digest: d('a'),
                key: Some("k".into()),
                source: None,
                source_digest: None,
                pushed_at: "2026-01-01T00:00:00Z".into(),
            },
        );
        l.insert(
            "postgres",
            LockEntry {
                reference: "harbor.example/vcity/postgres:15.2".into(),
                digest: d('b'),
                key: None,
                source: Some("postgres:15.2".into()),
                source_digest: Some(d('c')),
                pushed_at: "2026-01-01T00:00:00Z".into(),
            },
        );
        l
    }

    #[test]
    fn resolve_by_name_tag_registry_or_source() {
        let l = sample();
        let pinned = format!("harbor.example/vcity/collect:1.0@{}", d('a'));
        for r in [
            "collect",
            "collect:1.0",
            "vcity/collect",
            "vcity/collect:1.0",
            "harbor.example/vcity/collect",
            "harbor.example/vcity/collect:1.0",
        ] {
            assert_eq!(l.resolve(r).as_deref(), Some(pinned.as_str()), "{r}");
        }
        for r in [
            "collect:2.0",
            "other/collect",
            "elsewhere.io/vcity/collect:1.0",
            "unknown",
            "Not Valid",
        ] {
            assert_eq!(l.resolve(r), None, "{r}");
        }
        let pg = format!("harbor.example/vcity/postgres:15.2@{}", d('b'));
        for r in [
            "postgres:15.2",
            "docker.io/library/postgres:15.2",
            "library/postgres",
            "postgres",
        ] {
            assert_eq!(l.resolve(r).as_deref(), Some(pg.as_str()), "{r}");
        }
        assert_eq!(l.resolve("postgres:16"), None);
        assert_eq!(
            l.resolve(&format!("collect@{}", d('e'))),
            None,
            "already pinned"
        );
    }

    #[test]
    fn ambiguous_names_do_not_resolve() {
        let mut l = sample();
        let mut other = l.get("collect").unwrap().clone();
        other.reference = "harbor.example/team2/collect:1.0".into();
        l.insert("collect2", other);
        assert_eq!(l.resolve("collect"), None);
        assert_eq!(l.matching("collect").len(), 2);
        assert!(l.resolve("vcity/collect").is_some());
    }

    #[test]
    fn save_load_roundtrip_sorted_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("containers/images.lock");
        assert_eq!(Lock::load(&p).unwrap(), Lock::new());
        let l = sample();
        l.save(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("# Written by"));
        assert!(text.find("[images.collect]").unwrap() < text.find("[images.postgres]").unwrap());
        assert_eq!(Lock::load(&p).unwrap(), l);
        // stable: saving again gives the same bytes
        l.save(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
    }

    #[test]
    fn damaged_lock_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("images.lock");
        std::fs::write(&p, "[images.x]\nreference = 3\n").unwrap();
        let err = Lock::load(&p).unwrap_err().to_string();
        assert!(
            err.contains("images.lock") && err.contains("not a valid image lock"),
            "{err}"
        );
        std::fs::write(&p, "version = 7\n").unwrap();
        assert!(
            Lock::load(&p)
                .unwrap_err()
                .to_string()
                .contains("version 7")
        );
    }
}

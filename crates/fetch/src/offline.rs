//! The extractor without a pod: a tar stream and the listing it answers, handled with
//! the same checks as `fetch-results`. The fuzz targets (fuzz/) and tests drive it
//! with hostile streams; nothing here talks to a cluster.

use std::io::Read;
use std::path::Path;

use super::extract::{self, Expected, ExtractEvent, FsStore};
use super::{FetchError, Listing, ManifestEntry, Mismatch, prepare_target};

/// What one extraction did, also when it stopped early.
#[derive(Debug, Default)]
pub struct Extraction {
    /// Files verified and renamed to their final names.
    pub written: Vec<ManifestEntry>,
    /// Files whose content did not match the listing (nothing kept for them).
    pub mismatched: Vec<Mismatch>,
    /// Why extraction stopped, if it did.
    pub error: Option<String>,
    /// Content bytes written to (temporary) files, counted as they were written.
    pub bytes_written: u64,
}

/// Extracts `tar` into `to` (created if missing), expecting exactly the files of
/// `listing` with their sizes (and SHA-256s when it has them); a file without a
/// SHA-256 is checked by size only, as if the pod had sent no checksum.
pub fn extract_listed<R: Read>(
    tar: R,
    listing: &Listing,
    to: &Path,
) -> Result<Extraction, FetchError> {
    let target = prepare_target(to)?;
    let store = FsStore::new(target);
    let expected: Expected = listing
        .files
        .iter()
        .map(|f| (f.path.clone(), (f.size, f.sha256.clone())))
        .collect();
    let mut bytes_written = 0u64;
    let outcome = extract::extract(tar, &expected, None, &store, &mut |event| {
        if let ExtractEvent::Bytes(n) = event {
            bytes_written += n;
        }
    });
    Ok(Extraction {
        written: outcome.written,
        mismatched: outcome.mismatched,
        error: outcome.error.map(|e| e.to_string()),
        bytes_written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RemotePath;
    use crate::listing::parse_listing;

    fn listing(files: &[(&str, usize)]) -> Listing {
        let mut out = String::from("@@xtask-listing 1\n@@kind dir\n@@tar yes\n@@sizes\n");
        for (name, size) in files {
            out.push_str(&format!("{size} 1700000000 ./{name}\n"));
        }
        out.push_str("@@links\n@@end\n");
        parse_listing(&RemotePath::root(), out.as_bytes()).unwrap()
    }

    fn tar(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn listed_files_are_extracted_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("out");
        let stream = tar(&[(b"a.txt", b"hello"), (b"d/b", b"xyz")]);
        let done = extract_listed(&stream[..], &listing(&[("a.txt", 5), ("d/b", 3)]), &to).unwrap();
        assert_eq!(done.error, None);
        assert_eq!(done.written.len(), 2);
        assert_eq!(done.bytes_written, 8);
        assert_eq!(std::fs::read(to.join("d/b")).unwrap(), b"xyz");
    }

    #[test]
    fn an_entry_leaving_the_folder_stops_the_extraction() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("out");
        let stream = tar(&[(b"../x", b"1")]);
        let done = extract_listed(&stream[..], &listing(&[("x", 1)]), &to).unwrap();
        let error = done.error.expect("refused");
        assert!(error.contains("../x"), "{error}");
        assert!(!dir.path().join("x").exists());
        assert_eq!(done.bytes_written, 0);
    }
}

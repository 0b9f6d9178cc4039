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

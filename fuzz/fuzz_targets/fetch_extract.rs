//! fetch-results' extractor: the input is the listing script's output up to its first
//! `@@end` line, then the tar stream the helper pod sends. The stream is extracted into
//! a fresh folder inside a sandbox folder. Never a panic; nothing appears in the
//! sandbox outside the target; no link is created; no temporary file is left; every file
//! kept is one the listing named, with its size (and SHA-256 when listed); the bytes
//! written stay within what the stream can carry (no expansion of a small input into a
//! large write).
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};

use kit_fetch::RemotePath;
use kit_fetch::listing::parse_listing;
use kit_fetch::offline::extract_listed;
use libfuzzer_sys::fuzz_target;

const END: &[u8] = b"@@end\n";

/// Every path under `dir` (links not followed), relative, with its metadata.
fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, fs::Metadata)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(entry.path()).expect("metadata");
        if meta.is_dir() {
            walk(&entry.path(), &rel, out);
        }
        out.push((rel, meta));
    }
}

/// In memory when possible: a runaway write fills RAM for a moment, not the disk.
fn sandbox() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("temporary folder")
}

fuzz_target!(|data: &[u8]| {
    let (listing_bytes, tar) = match data.windows(END.len()).position(|w| w == END) {
        Some(i) => data.split_at(i + END.len()),
        None => (data, &[][..]),
    };
    let listing = match parse_listing(&RemotePath::root(), listing_bytes) {
        Ok(listing) => listing,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an empty listing error");
            return;
        }
    };
    let sandbox = sandbox();
    let outer = sandbox.path().canonicalize().expect("canonical sandbox");
    let target: PathBuf = outer.join("target");
    let result = extract_listed(tar, &listing, &target).expect("the target folder is usable");
    if let Some(e) = &result.error {
        assert!(!e.is_empty(), "an empty extraction error");
    }

    // Nothing outside the target.
    let mut around = Vec::new();
    walk(&outer, "", &mut around);
    for (rel, _) in &around {
        assert!(
            rel == "target" || rel.starts_with("target/"),
            "{rel} was written outside the target folder"
        );
    }
    // Inside: folders and the verified files only, each as listed.
    for (rel, meta) in &around {
        let Some(inner) = rel.strip_prefix("target/") else {
            continue;
        };
        assert!(
            !meta.file_type().is_symlink(),
            "a link was created: {inner}"
        );
        if meta.is_dir() {
            continue;
        }
        assert!(meta.is_file(), "{inner} is neither a file nor a folder");
        let listed = listing
            .files
            .iter()
            .find(|f| f.path == inner)
            .unwrap_or_else(|| panic!("{inner} was not in the listing (a temporary file left?)"));
        let written = result
            .written
            .iter()
            .find(|w| w.path == inner)
            .unwrap_or_else(|| panic!("{inner} is on disk but not reported as verified"));
        assert_eq!(
            meta.len(),
            listed.size,
            "{inner}: size on disk differs from the listing"
        );
        assert_eq!(
            written.size, listed.size,
            "{inner}: reported size differs from the listing"
        );
        if let Some(sha) = &listed.sha256 {
            assert_eq!(&written.sha256, sha, "{inner}: kept with another SHA-256");
        }
    }
    // Content bytes come from the stream, or are copies of a verified file (a hard link
    // entry, at most one per listed file): more than that is an expansion.
    let len = tar.len() as u64;
    let cap = len.saturating_mul(1 + listing.files.len() as u64);
    assert!(
        result.bytes_written <= cap,
        "{} bytes written from a {len}-byte stream ({} listed files)",
        result.bytes_written,
        listing.files.len()
    );
});

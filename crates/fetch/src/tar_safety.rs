//! Which tar entries may be written under the target folder. Pure: decides from the
//! entry's type, name and link name only; the extractor applies the decision.
//!
//! The stream comes from a pod, i.e. from whatever runs in the user's image or on the
//! PVC: it is treated as hostile. Only regular files (and folders, which are only
//! created as parents) are accepted; names must be relative and stay inside the
//! target; links and special files are refused, naming the reason.

use serde::Serialize;
use tar::EntryType;

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Unsafe {
    #[error("empty name")]
    Empty,
    #[error("absolute path")]
    Absolute,
    #[error("`..` in the path")]
    ParentDir,
    #[error("name is not UTF-8")]
    NotUtf8,
    #[error("NUL byte in the name")]
    Nul,
    #[error("symbolic link to {target:?}, which points outside the target folder")]
    SymlinkOutside { target: String },
    #[error("symbolic link to {target:?} (only regular files are fetched)")]
    Symlink { target: String },
    #[error("hard link to {target:?}, which is outside the target folder")]
    HardLinkOutside { target: String },
    #[error("hard link to {target:?}, a file not received earlier in this stream")]
    HardLinkUnknown { target: String },
    #[error("device file")]
    Device,
    #[error("FIFO")]
    Fifo,
    #[error(
        "sparse file (GNU tar type S): a few bytes in the stream that unpack to the size the header claims, in zeros; the fetch's own tar never sends one"
    )]
    Sparse,
    #[error("entry of tar type {0:?}")]
    Unsupported(char),
}

/// What to do with an accepted entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A regular file to write at this normalized relative path.
    File(String),
    /// A folder; created only as the parent of files.
    Dir(String),
    /// A hard link inside the target: the content is copied from `target`, never linked.
    HardLink { path: String, target: String },
    /// Metadata entries (pax global headers) with nothing to write.
    Skip,
}

/// Normalizes a relative `/`-separated name: drops `.` and empty parts; refuses
/// absolute names, `..`, NUL and non-UTF-8 bytes.
pub fn safe_relative(name: &[u8]) -> Result<String, Unsafe> {
    let text = std::str::from_utf8(name).map_err(|_| Unsafe::NotUtf8)?;
    if text.contains('\0') {
        return Err(Unsafe::Nul);
    }
    if text.starts_with('/') {
        return Err(Unsafe::Absolute);
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(Unsafe::ParentDir),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(Unsafe::Empty);
    }
    Ok(parts.join("/"))
}

/// Whether a symbolic link at `link` (normalized, relative to the target) pointing at
/// `target` resolves outside the target folder, judged on the names alone.
pub fn symlink_escapes(link: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return true;
    }
    let mut depth: usize = link.split('/').count().saturating_sub(1);
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

/// Decides about one entry from its type, its full name (after GNU long-name and pax
/// processing) and its link name.
pub fn classify(kind: EntryType, name: &[u8], link: Option<&[u8]>) -> Result<Accepted, Unsafe> {
    if kind.is_pax_global_extensions() {
        return Ok(Accepted::Skip);
    }
    let path = safe_relative(name)?;
    let link_text = || String::from_utf8_lossy(link.unwrap_or_default()).into_owned();
    if kind.is_file() || kind.is_contiguous() {
        Ok(Accepted::File(path))
    } else if kind.is_gnu_sparse() {
        // Its holes are written as zeros before any checksum can be compared: a tiny
        // stream could fill the disk, whatever size the listing agreed to.
        Err(Unsafe::Sparse)
    } else if kind.is_dir() {
        Ok(Accepted::Dir(path))
    } else if kind.is_hard_link() {
        // Hard link names are relative to the archive's root, like entry names.
        match safe_relative(link.unwrap_or_default()) {
            Ok(target) => Ok(Accepted::HardLink { path, target }),
            Err(_) => Err(Unsafe::HardLinkOutside {
                target: link_text(),
            }),
        }
    } else if kind.is_symlink() {
        let target = link_text();
        if symlink_escapes(&path, &target) {
            Err(Unsafe::SymlinkOutside { target })
        } else {
            Err(Unsafe::Symlink { target })
        }
    } else if kind.is_character_special() || kind.is_block_special() {
        Err(Unsafe::Device)
    } else if kind.is_fifo() {
        Err(Unsafe::Fifo)
    } else {
        Err(Unsafe::Unsupported(char::from(kind.as_byte())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_are_normalised() {
        assert_eq!(safe_relative(b"./a//b/./c").unwrap(), "a/b/c");
        assert_eq!(safe_relative(b"a/b/").unwrap(), "a/b");
        assert_eq!(safe_relative(b"..a/b..").unwrap(), "..a/b..");
    }

    #[test]
    fn escaping_names_are_refused() {
        assert_eq!(safe_relative(b"/etc/passwd"), Err(Unsafe::Absolute));
        assert_eq!(safe_relative(b"a/../../x"), Err(Unsafe::ParentDir));
        assert_eq!(safe_relative(b".."), Err(Unsafe::ParentDir));
        assert_eq!(safe_relative(b"./"), Err(Unsafe::Empty));
        assert_eq!(safe_relative(b""), Err(Unsafe::Empty));
        assert_eq!(safe_relative(b"a\xffb"), Err(Unsafe::NotUtf8));
        assert_eq!(safe_relative(b"a\0b"), Err(Unsafe::Nul));
    }

    #[test]
    fn symlink_targets_are_judged_from_the_link_folder() {
        assert!(!symlink_escapes("a/b/l", "../c"));
        assert!(!symlink_escapes("a/b/l", "../../c"));
        assert!(symlink_escapes("a/b/l", "../../../c"));
        assert!(symlink_escapes("l", "../x"));
        assert!(symlink_escapes("l", "/etc/passwd"));
        assert!(!symlink_escapes("l", "./x/../y"));
        assert!(symlink_escapes("a/l", "x/../../../y"));
    }

    #[test]
    fn entry_types() {
        assert_eq!(
            classify(EntryType::Regular, b"./x", None),
            Ok(Accepted::File("x".into()))
        );
        assert_eq!(
            classify(EntryType::Directory, b"./d/", None),
            Ok(Accepted::Dir("d".into()))
        );
        assert_eq!(
            classify(EntryType::Link, b"./b", Some(b"./a")),
            Ok(Accepted::HardLink {
                path: "b".into(),
                target: "a".into()
            })
        );
        assert!(matches!(
            classify(EntryType::Link, b"./b", Some(b"/etc/shadow")),
            Err(Unsafe::HardLinkOutside { .. })
        ));
        assert!(matches!(
            classify(EntryType::Link, b"./b", Some(b"../../x")),
            Err(Unsafe::HardLinkOutside { .. })
        ));
        assert!(matches!(
            classify(EntryType::Symlink, b"./l", Some(b"/etc")),
            Err(Unsafe::SymlinkOutside { .. })
        ));
        assert!(matches!(
            classify(EntryType::Symlink, b"./d/l", Some(b"x")),
            Err(Unsafe::Symlink { .. })
        ));
        assert_eq!(
            classify(EntryType::Char, b"./tty", None),
            Err(Unsafe::Device)
        );
        assert_eq!(
            classify(EntryType::Block, b"./sda", None),
            Err(Unsafe::Device)
        );
        assert_eq!(classify(EntryType::Fifo, b"./p", None), Err(Unsafe::Fifo));
        assert_eq!(
            classify(EntryType::GNUSparse, b"./big", None),
            Err(Unsafe::Sparse)
        );
        assert_eq!(
            classify(EntryType::XGlobalHeader, b"pax_global_header", None),
            Ok(Accepted::Skip)
        );
        assert_eq!(
            classify(EntryType::Regular, b"../x", None),
            Err(Unsafe::ParentDir)
        );
        assert_eq!(
            classify(EntryType::new(b'Z'), b"./z", None),
            Err(Unsafe::Unsupported('Z'))
        );
    }
}

//! Pieces shared by the line-based file parsers.

use std::fmt;
use std::path::Path;

use crate::error::{ConfigError, Warning};

/// One `key = value` read from hera.config or hera.bash.
#[derive(Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub key: String,
    /// The value with quotes removed (and, in hera.bash, escapes and `$VAR` applied).
    pub value: String,
    /// 1-based line where the entry starts.
    pub line: usize,
}

// Values may be tokens or passwords: Debug shows only their length.
impl fmt::Debug for FileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileEntry")
            .field("key", &self.key)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("line", &self.line)
            .finish()
    }
}

/// What a file parser returns: its entries in file order, and warnings.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub entries: Vec<FileEntry>,
    pub warnings: Vec<Warning>,
}

impl ParsedFile {
    /// The last non-empty entry for `key` (later lines win, as in a shell).
    pub fn get(&self, key: &str) -> Option<&FileEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key && !e.value.trim().is_empty())
    }
}

/// Checks UTF-8 (naming the first bad line), drops a byte-order mark, and turns CRLF
/// and CR-only (old Mac) line endings into `\n`: a file saved with CR endings would
/// otherwise read as one line, a token glued to every other setting.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<String, ConfigError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = line_breaks(before) + 1;
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                message: "this line is not valid UTF-8".into(),
                hint: "save the file as UTF-8 text".into(),
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Line breaks in `bytes`: `\n`, and `\r` not followed by `\n`.
fn line_breaks(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count()
}

pub(crate) fn syntax(
    path: &Path,
    line: usize,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> ConfigError {
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        message: message.into(),
        hint: hint.into(),
    }
}

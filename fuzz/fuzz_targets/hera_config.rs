//! hera.config: any bytes. Never a panic; an error names the file and a line that
//! exists; entries sit on lines that exist; no message shows a secret value.
#![no_main]

use std::path::Path;

use kit_config::{ConfigError, SETTINGS, hera_config};
use kit_fuzz::{assert_no_leak, assigned_value, line_count, secret_words};
use libfuzzer_sys::fuzz_target;

/// The line an error is about, if it names one.
fn e_line(e: &ConfigError) -> Option<usize> {
    match e {
        ConfigError::Syntax { line, .. } => Some(*line),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("hera.config");
    let lines = line_count(data);
    let secret_keys: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.secret)
        .filter_map(|s| s.hera)
        .collect();
    let text = String::from_utf8_lossy(data);
    let secret = secret_words(&text, |l| assigned_value(l, &secret_keys, &['=', ':', ' ']));
    match hera_config::parse(path, data) {
        Ok(parsed) => {
            for e in &parsed.entries {
                assert!(!e.key.is_empty(), "an entry without a key");
                assert!(
                    (1..=lines).contains(&e.line),
                    "entry on line {} of {lines}",
                    e.line
                );
            }
            for w in &parsed.warnings {
                let m = w.to_string();
                assert!(!w.message.is_empty(), "an empty warning");
                assert!(w.line.is_none_or(|l| (1..=lines).contains(&l)), "{m}");
                assert_no_leak(&m, w.line, &secret);
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("hera.config"),
                "the error does not name the file: {m}"
            );
            if let ConfigError::Syntax { line, message, .. } = &e {
                assert!(
                    (1..=lines).contains(line),
                    "error on line {line} of {lines}: {m}"
                );
                assert!(!message.is_empty());
            }
            assert_no_leak(&m, e_line(&e), &secret);
        }
    }
});

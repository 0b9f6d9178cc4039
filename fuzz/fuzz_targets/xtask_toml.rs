//! xtask.toml: any bytes as the workspace TOML, resolved as `cargo xtask config` does
//! (from a folder holding only that file). Never a panic; an error names the file and a
//! line that exists; the report renders; a password or token written in the file is
//! refused without being shown.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use kit_config::{ConfigError, Inputs, WORKSPACE_TOML, render_table, resolve, to_json};
use kit_fuzz::{assert_no_leak, assigned_value, line_count, secret_words};
use libfuzzer_sys::fuzz_target;

/// One folder for the whole run: the file is rewritten for each input.
fn folder() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary folder");
        dir.keep().canonicalize().expect("canonical folder")
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    std::fs::write(dir.join(WORKSPACE_TOML), data).expect("write xtask.toml");
    let lines = line_count(data);
    let text = String::from_utf8_lossy(data);
    let secret = secret_words(&text, |l| {
        assigned_value(l, &["password", "token", "argo_token"], &['='])
    });
    let mut inputs = Inputs::new(dir);
    inputs.home = Some(dir.clone());
    match resolve(&inputs) {
        Ok(resolved) => {
            let table = render_table(&resolved);
            assert!(!table.is_empty(), "an empty report");
            assert_no_leak(&table, None, &secret);
            let _ = to_json(&resolved);
            for w in &resolved.warnings {
                let m = w.to_string();
                assert!(!w.message.is_empty(), "an empty warning");
                assert_no_leak(&m, w.line, &secret);
            }
        }
        Err(e) => {
            let m = e.to_string();
            assert!(!m.is_empty(), "an empty error");
            match &e {
                ConfigError::TomlSyntax { line, .. }
                | ConfigError::TomlType { line, .. }
                | ConfigError::SecretInToml { line, .. } => {
                    assert!(
                        m.contains(WORKSPACE_TOML),
                        "the error does not name the file: {m}"
                    );
                    assert!(
                        (1..=lines).contains(line),
                        "error on line {line} of {lines}: {m}"
                    );
                }
                _ => {}
            }
            assert_no_leak(&m, None, &secret);
        }
    }
});

//! A workflow file: any UTF-8 text loaded as `workflows/fuzz.yaml`, then validated as
//! `lint` and `run` do. Never a panic; a load error names the file (and a line that
//! exists, when it has one); every diagnostic has a message and a line that exists.
#![no_main]

use std::path::Path;

use kit_argo::{LoadError, ValidateOptions, load_workflow_str, validate};
use kit_fuzz::yaml_line_count;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("workflows/fuzz.yaml");
    // A parser may point just past the last line (an unexpected end of file).
    let lines = yaml_line_count(data) + 1;
    let loaded = match load_workflow_str(text, file) {
        Ok(loaded) => loaded,
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("fuzz.yaml"),
                "the error does not name the file: {m}"
            );
            let line = match &e {
                LoadError::Yaml { line, .. }
                | LoadError::NotAMapping { line, .. }
                | LoadError::WrongKind { line, .. }
                | LoadError::WrongApiVersion { line, .. }
                | LoadError::Shape { line, .. } => *line,
                _ => None,
            };
            assert!(
                line.is_none_or(|l| (1..=lines).contains(&l)),
                "line {line:?} of {lines}: {m}"
            );
            return;
        }
    };
    // Images: none known (as with an empty lock file), and no lock file at all.
    let unknown = |_: &str| None;
    for (lint, images) in [
        (true, None),
        (false, Some(&unknown as &dyn Fn(&str) -> Option<String>)),
    ] {
        for d in validate(&loaded, &ValidateOptions { lint, images }) {
            let m = d.to_string();
            assert!(
                !d.message.trim().is_empty(),
                "a diagnostic without a message at {}",
                d.path
            );
            assert!(
                m.contains("fuzz.yaml"),
                "the diagnostic does not name the file: {m}"
            );
            assert!(
                d.line.is_none_or(|l| (1..=lines).contains(&l)),
                "line {:?} of {lines}: {m}",
                d.line
            );
        }
    }
});

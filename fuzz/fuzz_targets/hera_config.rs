//! hera.config: any bytes. Never a panic; an error names the file and a line that
//! exists; entries sit on lines that exist; no message shows a secret value.
#![no_main]

use std::path::Path;

use kit_config::{SETTINGS, hera_config};
use kit_fuzz::{assigned_value, check_config_outcome, secret_words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let secret_keys: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.secret)
        .filter_map(|s| s.hera)
        .collect();
    let text = String::from_utf8_lossy(data);
    let secret = secret_words(&text, |l| assigned_value(l, &secret_keys, &['=', ':', ' ']));
    let outcome = hera_config::parse(Path::new("hera.config"), data);
    check_config_outcome("hera.config", data, &outcome, &secret);
});

//! hera.bash (the env file): any bytes, with a small environment for `$VAR`. Never a
//! panic; an error names the file and a line that exists; entries sit on lines that
//! exist; no message shows a secret value (not even a `$NAME` written inside one).
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use kit_config::{SETTINGS, env_file};
use kit_fuzz::{assigned_value, check_config_outcome, secret_words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let env = BTreeMap::from([
        ("HOME".to_string(), "/home/fuzz".to_string()),
        ("ARGO_NAMESPACE".to_string(), "argo".to_string()),
    ]);
    let secret_keys: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.secret)
        .filter_map(|s| s.env)
        .collect();
    let text = String::from_utf8_lossy(data);
    let secret = secret_words(&text, |l| assigned_value(l, &secret_keys, &['=']));
    let outcome = env_file::parse(Path::new("hera.bash"), data, &env);
    check_config_outcome("hera.bash", data, &outcome, &secret);
});

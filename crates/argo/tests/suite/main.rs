//! Integration tests of kit-argo on fixture files (tests/fixtures/).

mod inject;
mod load;
mod params;
mod pin;
mod robustness;
mod roundtrip;
mod validate;

use std::path::PathBuf;

use kit_argo::LoadedWorkflow;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn load(name: &str) -> LoadedWorkflow {
    match kit_argo::load_workflow(&fixture(name)) {
        Ok(l) => l,
        Err(e) => panic!("{name} should load: {e}"),
    }
}

//! A throw-away working directory and home for each test: nothing is read from the
//! real environment or home.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kit_config::{ConfigError, Inputs, Resolved};

pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub cwd: PathBuf,
    pub home: PathBuf,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        let cwd = root.join("work/project");
        let home = root.join("home/u");
        std::fs::create_dir_all(&cwd).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        Self {
            _dir: dir,
            root,
            cwd,
            home,
        }
    }

    /// Writes `content` at `rel` under the working directory.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        write_at(&self.cwd.join(rel), content)
    }

    pub fn write_home(&self, rel: &str, content: &str) -> PathBuf {
        write_at(&self.home.join(rel), content)
    }

    pub fn write_root(&self, rel: &str, content: &str) -> PathBuf {
        write_at(&self.root.join(rel), content)
    }

    pub fn inputs(&self) -> Inputs {
        Inputs {
            cwd: self.cwd.clone(),
            home: Some(self.home.clone()),
            ..Inputs::default()
        }
    }

    pub fn inputs_with_env(&self, env: &[(&str, &str)]) -> Inputs {
        let mut inputs = self.inputs();
        inputs.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        inputs
    }

    pub fn resolve(&self, inputs: &Inputs) -> Resolved {
        match kit_config::resolve(inputs) {
            Ok(r) => r,
            Err(e) => panic!("resolve failed: {e}"),
        }
    }

    pub fn error(&self, inputs: &Inputs) -> ConfigError {
        match kit_config::resolve(inputs) {
            Ok(r) => panic!("expected an error, got {:?}", r.settings),
            Err(e) => e,
        }
    }
}

fn write_at(path: &Path, content: &str) -> PathBuf {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
    path.to_path_buf()
}

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

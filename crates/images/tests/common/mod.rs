//! Test helpers: the real Docker engine, a base image made locally (nothing can be pulled),
//! and throwaway docker-registry processes (TLS + htpasswd, or plain HTTP).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kit_images::{DockerEngine, Events, ImageEvent, RegistryConfig};

/// Base image used by the test Dockerfiles.
pub const BASE: &str = "kit-images-test/busybox:1";

/// The engine. These tests are ignored by default ("needs docker"); run with
/// `--include-ignored` on a machine without Docker, they fail saying how to get one.
pub async fn docker() -> DockerEngine {
    let has_host = std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty());
    assert!(
        has_host || Path::new("/var/run/docker.sock").exists(),
        "this test needs Docker: no socket at /var/run/docker.sock and no DOCKER_HOST \
         (tests/stack/up starts dockerd: tests/stack/up && eval \"$(tests/stack/env)\")"
    );
    let engine = DockerEngine::connect()
        .await
        .expect("a Docker socket exists, so the engine must answer");
    ensure_base(&engine).await;
    engine
}

static BASE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Imports a static busybox as BASE (once).
async fn ensure_base(engine: &DockerEngine) {
    let _guard = BASE_LOCK.lock().await;
    if engine.image_id(BASE).await.unwrap().is_some() {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "tests need Debian's busybox-static at /bin/busybox"
    );
    let mut tar = tar::Builder::new(Vec::new());
    let add_dir = |tar: &mut tar::Builder<Vec<u8>>, p: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        tar.append_data(&mut h, p, std::io::empty()).unwrap();
    };
    for d in ["bin/", "tmp/", "etc/", "root/"] {
        add_dir(&mut tar, d);
    }
    let data = std::fs::read(busybox).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    tar.append_data(&mut h, "bin/busybox", &data[..]).unwrap();
    for applet in [
        "sh", "echo", "cat", "ls", "mkdir", "touch", "true", "false", "dd", "head", "sleep", "rm",
        "cp",
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let body = tar.into_inner().unwrap();
    let (repo, tag) = BASE.split_once(':').unwrap();
    let opts = bollard::query_parameters::CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec!["ENV PATH=/bin".into(), "CMD [\"/bin/sh\"]".into()])
        .build();
    let mut s =
        engine
            .client()
            .create_image(Some(opts), Some(bollard::body_full(body.into())), None);
    while let Some(item) = s.next().await {
        item.expect("import the busybox base image");
    }
}

/// Removes images by reference, ignoring errors (cleanup).
pub async fn remove_images(engine: &DockerEngine, refs: &[String]) {
    for r in refs {
        let opts = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        let _ = engine.client().remove_image(r, Some(opts), None).await;
    }
}

/// Removes every image a run reported as built, newest first (a base cannot go before
/// the images built FROM it).
pub async fn remove_built(engine: &DockerEngine, events: &[ImageEvent]) {
    let ids: Vec<String> = events
        .iter()
        .rev()
        .filter_map(|e| match e {
            ImageEvent::Built { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    remove_images(engine, &ids).await;
}

/// A unique suffix so contents (and keys) differ between runs and between tests.
pub fn nonce(test: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{test}-{}-{t}", std::process::id())
}

/// Writes files under `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (p, content) in files {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// Records every event.
pub fn recorder() -> (Events, Arc<Mutex<Vec<ImageEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    (Events::from_fn(move |e| sink.lock().unwrap().push(e)), seen)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A docker-registry process, stopped on drop.
pub struct TestRegistry {
    pub host: String,
    pub dir: tempfile::TempDir,
    pub ca: Option<PathBuf>,
    pub user: Option<(String, String)>,
    child: Child,
}

impl TestRegistry {
    /// Plain HTTP, no authentication (an "upstream" like Docker Hub).
    pub fn plain() -> Self {
        Self::start(false)
    }

    /// HTTPS with a private CA and htpasswd authentication (like Harbor).
    pub fn tls_with_password() -> Self {
        Self::start(true)
    }

    fn start(secure: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path();
        let mut extra = String::new();
        let mut ca = None;
        let mut user = None;
        if secure {
            let run = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(d)
                    .output()
                    .expect("openssl");
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=kit-images test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ]);
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "reg.key",
                "-out",
                "reg.csr",
            ]);
            std::fs::write(
                d.join("ext.cnf"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            run(&[
                "x509",
                "-req",
                "-in",
                "reg.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "reg.crt",
            ]);
            let password = format!("pw-{}", nonce("reg"));
            let out = Command::new("htpasswd")
                .args(["-Bbn", "tester", &password])
                .output()
                .expect("htpasswd");
            assert!(out.status.success());
            std::fs::write(d.join("htpasswd"), out.stdout).unwrap();
            extra = format!(
                "  tls: {{certificate: {0}/reg.crt, key: {0}/reg.key}}\nauth:\n  htpasswd: {{realm: test, path: {0}/htpasswd}}\n",
                d.display()
            );
            ca = Some(d.join("ca.crt"));
            user = Some(("tester".to_string(), password));
        }
        let yml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}/data}}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test\n{extra}",
            d.display()
        );
        std::fs::write(d.join("config.yml"), yml).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestRegistry {
            host: format!("127.0.0.1:{port}"),
            dir,
            ca,
            user,
            child,
        }
    }

    /// Settings for this registry with the right credentials and CA.
    pub fn config(&self, project: &str) -> RegistryConfig {
        let mut c = RegistryConfig::new(&self.host, Some(project));
        c.origin = "env XTASK_REGISTRY".into();
        if let Some((u, p)) = &self.user {
            c.user = Some(u.clone());
            c.password = Some(kit_config::Secret::new(p.clone()));
            c.credentials_origin =
                "user from env XTASK_REGISTRY_USER, password from env XTASK_REGISTRY_PASSWORD"
                    .into();
        }
        if let Some(ca) = &self.ca {
            c.ca_file = Some((ca.clone(), "env XTASK_REGISTRY_CA".into()));
        }
        c.plain_http = self.ca.is_none();
        c
    }

    /// Number and total size of blobs stored.
    pub fn blob_stats(&self) -> (usize, u64) {
        let root = self.dir.path().join("data/docker/registry/v2/blobs");
        let mut n = 0;
        let mut bytes = 0;
        for e in walkdir::WalkDir::new(root).into_iter().flatten() {
            if e.file_name() == "data" && e.file_type().is_file() {
                n += 1;
                bytes += e.metadata().unwrap().len();
            }
        }
        (n, bytes)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

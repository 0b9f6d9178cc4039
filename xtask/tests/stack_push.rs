//! `cargo xtask up --images-only` when the registry dies mid-push, against the stack's
//! registry through a TCP proxy that the test cuts: the shared registry itself is never
//! stopped (other tests use it).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BuiltImages, image_workspace, stack_var, text};

/// Forwards 127.0.0.1:port to the stack registry. Once `cut_after` bytes went towards
/// the registry, every connection is closed and the port refuses new ones, as when the
/// registry process is killed; `restore` brings it back on the same port.
struct CutProxy {
    port: u16,
    state: Arc<ProxyState>,
}

struct ProxyState {
    upstream: String,
    sent: AtomicU64,
    cut_after: AtomicU64,
    down: AtomicBool,
    stop: AtomicBool,
    /// Both sockets of every open connection, to close them at the cut.
    open: Mutex<Vec<TcpStream>>,
}

impl CutProxy {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState {
            upstream: upstream.to_string(),
            sent: AtomicU64::new(0),
            cut_after: AtomicU64::new(u64::MAX),
            down: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let s = state.clone();
        std::thread::spawn(move || accept_loop(listener, port, s));
        CutProxy { port, state }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Cuts once `more` bytes have gone towards the registry from now on.
    fn cut_after(&self, more: u64) {
        let now = self.state.sent.load(Ordering::SeqCst);
        self.state.cut_after.store(now + more, Ordering::SeqCst);
    }

    fn was_cut(&self) -> bool {
        self.state.down.load(Ordering::SeqCst)
    }

    fn restore(&self) {
        self.state.cut_after.store(u64::MAX, Ordering::SeqCst);
        self.state.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.cut();
    }
}

impl ProxyState {
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Accepts while up; while down, the listener is closed so that connecting is refused.
fn accept_loop(listener: TcpListener, port: u16, state: Arc<ProxyState>) {
    let mut listener = Some(listener);
    while !state.stop.load(Ordering::SeqCst) {
        if state.down.load(Ordering::SeqCst) {
            listener = None;
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let l = listener.get_or_insert_with(|| {
            TcpListener::bind(("127.0.0.1", port)).expect("re-bind the proxy's port")
        });
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false).unwrap();
                connect(client, state.clone());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("proxy accept: {e}"),
        }
    }
}

fn connect(client: TcpStream, state: Arc<ProxyState>) {
    let Ok(server) = TcpStream::connect(&state.upstream) else {
        return;
    };
    {
        let mut open = state.open.lock().unwrap();
        open.push(client.try_clone().unwrap());
        open.push(server.try_clone().unwrap());
    }
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = state.clone();
    std::thread::spawn(move || pipe(client, server, Some(up)));
    std::thread::spawn(move || pipe(s2, c2, None));
}

/// Copies `from` into `to`; counts the bytes towards the registry and cuts at the limit.
fn pipe(mut from: TcpStream, mut to: TcpStream, counted: Option<Arc<ProxyState>>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(state) = &counted {
            let sent = state.sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            if sent >= state.cut_after.load(Ordering::SeqCst) {
                state.cut();
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// `cargo xtask up --images-only` in `dir`, pushing to the proxy.
fn up(dir: &Path, proxy: &CutProxy) -> std::process::Output {
    let mut cmd = common::xtask_process();
    cmd.current_dir(dir)
        .env("XTASK_REGISTRY", format!("{}/vcity", proxy.host()))
        .env_remove("XTASK_PROFILE")
        .args(["up", "--images-only"]);
    cmd.output().unwrap()
}

/// Image name → digest, from a lock file, which must load (never torn).
fn lock_digests(path: &Path) -> std::collections::BTreeMap<String, String> {
    let lock = kit_images::Lock::load(path)
        .unwrap_or_else(|err| panic!("{} does not load: {err}", path.display()));
    lock.images
        .into_iter()
        .map(|(name, entry)| (name, entry.digest))
        .collect()
}

#[test]
#[ignore = "needs tests/stack"]
fn a_registry_dying_mid_push_leaves_the_lock_whole_and_a_rerun_completes() {
    let registry = stack_var("STACK_REGISTRY");
    let password = stack_var("XTASK_REGISTRY_PASSWORD");
    let proxy = CutProxy::start(&registry);
    let dir = tempfile::tempdir().unwrap();
    let id = std::process::id();
    let names: Vec<String> = ["one", "two"]
        .iter()
        .map(|n| format!("e2e-cut-{id}-{n}"))
        .collect();
    let lock_path = dir.path().join("containers/images.lock");
    let _built = BuiltImages(
        names
            .iter()
            .map(|n| format!("{}/vcity/{n}:latest", proxy.host()))
            .collect(),
    );

    image_workspace(dir.path(), &names, 1);
    let first = up(dir.path(), &proxy);
    assert!(first.status.success(), "{}", text(&first));
    let before = lock_digests(&lock_path);

    // New content; the registry dies 4 MiB into the upload of the new layers.
    image_workspace(dir.path(), &names, 2);
    proxy.cut_after(4 << 20);
    let started = Instant::now();
    let cut = up(dir.path(), &proxy);
    let cut_took = started.elapsed();
    let shown = text(&cut);
    println!("after {cut_took:?}:\n{shown}");
    assert!(proxy.was_cut(), "the push ended before the cut: {shown}");
    assert_eq!(cut.status.code(), Some(1), "{shown}");
    let stderr = String::from_utf8_lossy(&cut.stderr);
    assert!(stderr.contains(&proxy.host()), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    assert!(!shown.contains(&password), "never print a password");
    let during = lock_digests(&lock_path);

    proxy.restore();
    let started = Instant::now();
    let rerun = up(dir.path(), &proxy);
    let rerun_took = started.elapsed();
    assert!(rerun.status.success(), "{}", text(&rerun));
    let after = lock_digests(&lock_path);

    // Each entry of the lock left by the cut run is the first run's or the final one:
    // an image pushed completely before the cut, or not at all; never a torn file.
    for name in &names {
        let (b, a) = (&before[name], &after[name]);
        assert_ne!(b, a, "{name} was pushed again with new content");
        let d = &during[name];
        assert!(d == b || d == a, "{name}: {d} is neither {b} nor {a}");
    }
    println!("cut run {cut_took:?}, rerun {rerun_took:?}");
}

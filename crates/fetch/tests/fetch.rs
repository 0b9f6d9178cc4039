//! `fetch` against the local stack (tests/stack): kwok's exec runs the commands on the
//! host in the folder backing the PVC (`STACK_PVC_DIR`), so each test writes its data
//! there and fetches it through a real helper pod and a real exec WebSocket.
//!
//! Needs `eval "$(tests/stack/env)"` (KUBECONFIG, STACK_PVC_DIR, STACK_ADMIN_KUBECONFIG);
//! ignored by default (see tests/common).

#[path = "../../cluster/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kit_fetch::{
    self as fetch, Codec, Compression, ExecRoot, FetchError, FetchEvent, FetchOptions,
    HELPER_SELECTOR, HelperSpec, Manifest, PodChoice, Remote, RemoteFile, RemoteOptions,
};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sha2::{Digest, Sha256};

use common::NAMESPACE;

struct Stack {
    client: kube::Client,
    admin: kube::Client,
    pvc_dir: PathBuf,
    claim: String,
    image: String,
}

/// The stack, or a failure that says how to bring it up.
async fn stack() -> Stack {
    let pvc_dir = PathBuf::from(common::stack_var("STACK_PVC_DIR"));
    assert!(
        pvc_dir.is_dir(),
        "STACK_PVC_DIR={} is not a folder: tests/stack/up && eval \"$(tests/stack/env)\"",
        pvc_dir.display()
    );
    Stack {
        client: common::client("KUBECONFIG").await,
        admin: common::client("STACK_ADMIN_KUBECONFIG").await,
        pvc_dir,
        claim: std::env::var("KUBEVOLUMECLAIMNAME").unwrap_or_else(|_| "vcity-pvc".into()),
        image: std::env::var("STACK_POD_IMAGE")
            .unwrap_or_else(|_| "127.0.0.1:5443/stack/busybox:1".into()),
    }
}

/// A real node runs the helper: commands see the claim at its mount path. Without it,
/// kwok's exec runs them on the host in the claim's folder.
fn exec_root() -> ExecRoot {
    if std::env::var("STACK_REAL_NODE").as_deref() == Ok("1") {
        ExecRoot::MountPath
    } else {
        ExecRoot::WorkingDirectory
    }
}

/// A folder of the PVC for one test, removed afterwards.
struct RemoteDir {
    name: String,
    path: PathBuf,
}

impl RemoteDir {
    fn new(stack: &Stack, test: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("fetch-it-{test}-{}-{nanos}", std::process::id());
        let path = stack.pvc_dir.join(&name);
        fs::create_dir_all(&path).unwrap();
        RemoteDir { name, path }
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.path.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    /// Sets a file's modification time on the PVC.
    fn set_mtime(&self, rel: &str, time: std::time::SystemTime) {
        fs::File::options()
            .write(true)
            .open(self.path.join(rel))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
}

impl Drop for RemoteDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

impl Stack {
    /// A path of the claim as commands in the helper see it.
    fn in_pod(&self, rel: &str) -> String {
        match exec_root() {
            ExecRoot::MountPath => format!("/data/{rel}"),
            ExecRoot::WorkingDirectory => format!("./{rel}"),
        }
    }

    fn remote(&self) -> RemoteOptions {
        let mut spec = HelperSpec::new(&self.image);
        spec.start_timeout = Duration::from_secs(60);
        // Its pull secret lets the real node pull the image.
        spec.service_account = Some("argo-workflow".into());
        RemoteOptions {
            namespace: NAMESPACE.into(),
            claim: self.claim.clone(),
            mount_path: "/data".into(),
            exec_root: exec_root(),
            pod: PodChoice::Helper(spec),
        }
    }

    fn options(&self, path: &str, to: &Path) -> FetchOptions {
        FetchOptions {
            remote: self.remote(),
            path: path.into(),
            to: to.to_path_buf(),
            compression: Compression::Off,
            verify_local: false,
            dry_run: false,
        }
    }

    async fn fetch(
        &self,
        options: &FetchOptions,
    ) -> (Result<fetch::FetchReport, FetchError>, Vec<FetchEvent>) {
        let mut events = Vec::new();
        let result = fetch::fetch(&self.client, options, |e| events.push(e)).await;
        (result, events)
    }

    /// Fails when a helper pod created by these events still exists.
    async fn assert_helpers_gone(&self, events: &[FetchEvent]) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), NAMESPACE);
        for e in events {
            if let FetchEvent::HelperCreated { pod } = e {
                assert!(
                    wait_gone(&api, pod).await,
                    "helper pod {pod} was left behind"
                );
            }
        }
    }
}

async fn wait_gone(api: &Api<Pod>, name: &str) -> bool {
    for _ in 0..100 {
        if api.get_opt(name).await.unwrap().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic bytes that do not compress to nothing.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every file under `dir` (relative) with its content, manifest excluded.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                if rel != fetch::MANIFEST_FILE {
                    out.insert(rel, fs::read(&p).unwrap());
                }
            }
        }
    }
    out
}

fn read_manifest(dir: &Path) -> Manifest {
    serde_json::from_slice(&fs::read(dir.join(fetch::MANIFEST_FILE)).unwrap()).unwrap()
}

fn sample_tree(remote: &RemoteDir) -> BTreeMap<String, Vec<u8>> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("metrics.csv", b"step,loss\n1,0.5\n2,0.25\n".to_vec()),
        ("empty", Vec::new()),
        ("with space/result file.json", b"{\"ok\":true}".to_vec()),
        ("deep/a/b/c/weights.bin", data(3 * 1024 * 1024 + 17, 1)),
        ("-starts-with-dash", b"dash".to_vec()),
    ];
    for (rel, d) in &files {
        remote.write(rel, d);
    }
    files.into_iter().map(|(p, d)| (p.to_string(), d)).collect()
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn fetches_a_tree_with_a_verified_manifest_and_no_pod_left() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "tree");
    let expected = sample_tree(&remote);
    let local = tempfile::tempdir().unwrap();
    let to = local.path().join("results");
    let (report, events) = stack.fetch(&stack.options(&remote.name, &to)).await;
    let report = report.unwrap();
    assert_eq!(tree(&to), expected);
    assert_eq!(report.files_fetched, expected.len());
    // Checked in the pod with cksum where it has a POSIX one (kwok's exec runs GNU's on
    // the host), else with sha256sum (Debian's busybox, the real node's helper image,
    // has no cksum); the manifest records SHA-256 all the same.
    let check = match exec_root() {
        ExecRoot::MountPath => "sha256sum",
        ExecRoot::WorkingDirectory => "cksum",
    };
    assert_eq!(report.transfer_check, Some(check));
    let total: u64 = expected.values().map(|d| d.len() as u64).sum();
    assert_eq!(report.bytes_fetched, total);
    let m = read_manifest(&to);
    assert!(m.complete);
    assert_eq!(m.source.path, remote.name);
    assert_eq!(m.files.len(), expected.len());
    for e in &m.files {
        assert_eq!(e.sha256, sha(&expected[&e.path]), "{}", e.path);
    }
    // Progress reached the total, and the helper pod was created and deleted.
    assert!(events.contains(&FetchEvent::Progress {
        done_bytes: total,
        total_bytes: total
    }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, FetchEvent::HelperDeleted { .. }))
    );
    stack.assert_helpers_gone(&events).await;
    println!("fetched {total} bytes in {:?}", report.elapsed);
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_second_fetch_transfers_nothing_and_a_changed_file_only_itself() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "refetch");
    let mut expected = sample_tree(&remote);
    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options(&remote.name, local.path());
    // Files written in the second of the listing are hashed again next time: their
    // time cannot tell a later write in the same second. (On a loaded machine the first
    // listing may come later than that second for some files: at most all are hashed.)
    stack.fetch(&options).await.0.unwrap();
    let (fresh, _) = stack.fetch(&options).await;
    let fresh = fresh.unwrap();
    assert_eq!(fresh.files_fetched, 0);
    assert!(fresh.files_hashed_remote <= expected.len());

    // Settled files are trusted by size and time: no hashing anywhere.
    let old = std::time::SystemTime::now() - Duration::from_secs(600);
    for rel in expected.keys() {
        remote.set_mtime(rel, old);
    }
    stack.fetch(&options).await.0.unwrap();
    let (again, events) = stack.fetch(&options).await;
    let again = again.unwrap();
    assert_eq!(again.files_fetched, 0);
    assert_eq!(again.transfer_check, None);
    assert_eq!(again.bytes_fetched, 0);
    assert_eq!(again.wire_bytes, 0);
    assert_eq!(again.files_hashed_remote, 0);
    assert_eq!(again.files_unchanged, expected.len());
    stack.assert_helpers_gone(&events).await;

    // Rewritten with the same size and its old time put back, a file fools the quick
    // check (as it fools rsync's); --verify hashes both sides and fetches it.
    let sneaky = b"step,loss\n1,0.5\n2,0.27\n".to_vec();
    remote.write("metrics.csv", &sneaky);
    remote.set_mtime("metrics.csv", old);
    assert_eq!(stack.fetch(&options).await.0.unwrap().files_fetched, 0);
    options.verify_local = true;
    let verified = stack.fetch(&options).await.0.unwrap();
    assert_eq!(verified.files_hashed_remote, expected.len());
    assert_eq!(verified.transfer_check, Some("sha256sum"));
    let fetched: Vec<&str> = verified.plan.to_fetch().map(|f| f.path.as_str()).collect();
    assert_eq!(fetched, vec!["metrics.csv"]);
    options.verify_local = false;

    // Same size, other content: only the hash tells.
    let changed = b"step,loss\n1,0.5\n2,0.26\n".to_vec();
    remote.write("metrics.csv", &changed);
    expected.insert("metrics.csv".into(), changed);
    let (third, _) = stack.fetch(&options).await;
    let third = third.unwrap();
    assert_eq!(third.files_fetched, 1);
    let fetched: Vec<&str> = third.plan.to_fetch().map(|f| f.path.as_str()).collect();
    assert_eq!(fetched, vec!["metrics.csv"]);
    assert_eq!(tree(local.path()), expected);

    // A local file edited by hand is noticed (its time changed) and fetched again.
    fs::write(local.path().join("empty"), b"oops").unwrap();
    let (fourth, _) = stack.fetch(&options).await;
    assert_eq!(fourth.unwrap().files_fetched, 1);
    assert_eq!(tree(local.path()), expected);
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn gzip_and_a_single_file_and_a_listing() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "gzip");
    let text: Vec<u8> = "the same line again and again\n"
        .repeat(20_000)
        .into_bytes();
    remote.write("log/run.txt", &text);
    remote.write("log/other.txt", b"x");
    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options(&remote.name, local.path());
    options.compression = Compression::Gzip;
    let report = stack.fetch(&options).await.0.unwrap();
    assert!(report.compressed);
    assert!(
        report.wire_bytes > 0 && report.wire_bytes * 10 < report.bytes_fetched,
        "{} on the wire for {}",
        report.wire_bytes,
        report.bytes_fetched
    );
    assert_eq!(fs::read(local.path().join("log/run.txt")).unwrap(), text);

    let single = tempfile::tempdir().unwrap();
    let options = stack.options(
        &format!("/data/{}/log/other.txt", remote.name),
        single.path(),
    );
    stack.fetch(&options).await.0.unwrap();
    assert_eq!(fs::read(single.path().join("other.txt")).unwrap(), b"x");

    let listing = fetch::list_remote(&stack.client, &stack.remote(), &remote.name, |_| {})
        .await
        .unwrap();
    let rows: Vec<(String, bool, u64)> = listing
        .tree()
        .into_iter()
        .map(|r| (r.path, r.is_dir, r.bytes))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("log".into(), true, text.len() as u64 + 1),
            ("log/other.txt".into(), false, 1),
            ("log/run.txt".into(), false, text.len() as u64),
        ]
    );
    assert!(listing.files.iter().all(|f| f.sha256.is_none()));
}

/// CityGML-like text: compresses about fifteen times, as the team's results do.
fn citygml(buildings: usize) -> Vec<u8> {
    let mut out = String::from("<core:CityModel>\n");
    for n in 0..buildings {
        let (x, y, h) = (1_840_000 + n * 37 % 9973, 5_170_000 + n * 91 % 9967, n % 29);
        out.push_str(&format!(
            " <bldg:Building gml:id=\"BU_69123_{n:07}\"><bldg:measuredHeight uom=\"m\">{h}</bldg:measuredHeight>\n  <gml:posList srsDimension=\"3\">{x}.0 {y}.0 170.0 {x}.5 {y}.0 170.0 {x}.5 {y}.5 {h}.0 {x}.0 {y}.0 170.0</gml:posList>\n </bldg:Building>\n"
        ));
    }
    out.push_str("</core:CityModel>\n");
    out.into_bytes()
}

fn with_image(mut options: FetchOptions, image: &str) -> FetchOptions {
    if let PodChoice::Helper(spec) = &mut options.remote.pod {
        spec.image = image.to_string();
    }
    options
}

/// zstd where the helper image has it; asked of a busybox-only pod, gzip instead, with
/// a warning that says so.
#[tokio::test]
#[ignore = "needs tests/stack"]
async fn zstd_where_the_pod_has_it_and_gzip_instead_where_not() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "zstd");
    let text = citygml(20_000);
    remote.write("tiles/lyon.gml", &text);
    let tools = common::stack_var("STACK_TOOLS_IMAGE");
    for (image, expected) in [(tools.as_str(), Codec::Zstd), (&stack.image, Codec::Gzip)] {
        let local = tempfile::tempdir().unwrap();
        let mut options = with_image(stack.options(&remote.name, local.path()), image);
        options.compression = Compression::Zstd;
        let (report, events) = stack.fetch(&options).await;
        let report = report.unwrap();
        assert_eq!(report.codec, expected, "{image}: {}", report.codec_reason);
        assert!(
            report.wire_bytes > 0 && report.wire_bytes * 8 < report.bytes_fetched,
            "{image}: {} on the wire for {}",
            report.wire_bytes,
            report.bytes_fetched
        );
        assert_eq!(fs::read(local.path().join("tiles/lyon.gml")).unwrap(), text);
        let warned = events.iter().any(|e| {
            matches!(e, FetchEvent::Warning(w) if w.contains("has no zstd: transferring with gzip instead"))
        });
        assert_eq!(warned, expected == Codec::Gzip, "{image}: {events:?}");
    }
}

/// `auto` times a sample of the files before it chooses, and chooses by the rule; a
/// small fetch is not worth the sample.
#[tokio::test]
#[ignore = "needs tests/stack"]
async fn auto_samples_the_link_then_chooses_and_skips_small_fetches() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "auto");
    let text = citygml(200_000);
    assert!(text.len() > 20_000_000, "{}", text.len());
    remote.write("big/lyon.gml", &text);
    remote.write("small/readme.txt", b"tiny");
    let tools = common::stack_var("STACK_TOOLS_IMAGE");
    let local = tempfile::tempdir().unwrap();
    let mut options = with_image(stack.options(&remote.name, local.path()), &tools);
    options.compression = Compression::Auto;
    let (report, events) = stack.fetch(&options).await;
    let report = report.unwrap();
    let sample = report.link_sample.expect("a sample was timed");
    assert!(
        sample.bytes > 1_000_000 && sample.seconds > 0.0,
        "{sample:?}"
    );
    assert!(sample.ratio > 5.0, "{sample:?}");
    let rule = fetch::choose_codec(
        Compression::Auto,
        fetch::PodTools {
            gzip: true,
            zstd: true,
        },
        Some(&sample),
        "",
    );
    assert_eq!(report.codec, rule.codec, "{}", report.codec_reason);
    assert!(events.iter().any(|e| matches!(
        e,
        FetchEvent::Compressing {
            sample: Some(_),
            ..
        }
    )));
    assert_eq!(fs::read(local.path().join("big/lyon.gml")).unwrap(), text);

    let small = tempfile::tempdir().unwrap();
    let mut options = with_image(
        stack.options(&format!("{}/small", remote.name), small.path()),
        &tools,
    );
    options.compression = Compression::Auto;
    let report = stack.fetch(&options).await.0.unwrap();
    assert_eq!(report.codec, Codec::None);
    assert!(report.link_sample.is_none());
    assert!(
        report.codec_reason.contains("not worth measuring"),
        "{}",
        report.codec_reason
    );
}

/// A tar with entries that try to leave the target, built with raw headers.
fn hostile_archive() -> Vec<u8> {
    fn header(name: &[u8], kind: tar::EntryType, size: u64, link: &[u8]) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }
    let mut b = tar::Builder::new(Vec::new());
    b.append(
        &header(b"./fine.txt", tar::EntryType::Regular, 2, b""),
        &b"ok"[..],
    )
    .unwrap();
    b.append(
        &header(b"./link", tar::EntryType::Symlink, 0, b"../../"),
        &b""[..],
    )
    .unwrap();
    b.append(
        &header(b"./link/escaped.txt", tar::EntryType::Regular, 5, b""),
        &b"pwned"[..],
    )
    .unwrap();
    b.append(
        &header(b"../escaped.txt", tar::EntryType::Regular, 5, b""),
        &b"pwned"[..],
    )
    .unwrap();
    b.into_inner().unwrap()
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_hostile_archive_served_by_exec_writes_nothing_outside_the_target() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "hostile");
    let archive = hostile_archive();
    remote.write("hostile.tar", &archive);
    let mut events = Vec::new();
    let session = Remote::open(&stack.client, &stack.remote(), &mut |e| events.push(e))
        .await
        .unwrap();
    let expected = |names: &[&str]| -> Vec<RemoteFile> {
        names
            .iter()
            .map(|n| RemoteFile {
                path: n.to_string(),
                size: if *n == "fine.txt" { 2 } else { 5 },
                mtime: None,
                sha256: None,
            })
            .collect()
    };
    let cat = vec![
        "cat".to_string(),
        stack.in_pod(&format!("{}/hostile.tar", remote.name)),
    ];
    let outer = tempfile::tempdir().unwrap();
    let to = outer.path().join("to");
    let err = session
        .receive_archive(
            cat.clone(),
            &expected(&["fine.txt", "link/escaped.txt", "escaped.txt"]),
            &to,
        )
        .await
        .unwrap_err();
    println!("error shown: {err}");
    assert!(matches!(err, FetchError::UnsafeEntry { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("./link"), "{text}");
    assert!(text.contains("outside the target"), "{text}");
    // The first, legitimate entry was kept; nothing else exists anywhere near.
    assert_eq!(
        tree(outer.path()).keys().collect::<Vec<_>>(),
        vec!["to/fine.txt"]
    );

    // Without the link, the `..` entry is refused the same way.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..15].copy_from_slice(b"../escaped2.txt");
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &b"pwned"[..]).unwrap();
    remote.write("dotdot.tar", &b.into_inner().unwrap());
    let cat = vec![
        "cat".to_string(),
        stack.in_pod(&format!("{}/dotdot.tar", remote.name)),
    ];
    let err = session
        .receive_archive(cat, &expected(&["escaped2.txt"]), &to)
        .await
        .unwrap_err();
    println!("error shown: {err}");
    assert!(err.to_string().contains("`..`"), "{err}");
    assert!(!outer.path().join("escaped2.txt").exists());
    session.close().await.unwrap();
    stack.assert_helpers_gone(&events).await;
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_stream_cut_mid_file_keeps_no_partial_file_and_a_rerun_completes() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "cut");
    let big = data(600_000, 7);
    remote.write("src/a.txt", b"first");
    remote.write("src/big.bin", &big);
    // A real tar of the folder, cut in the middle of big.bin, as a dropped
    // connection would leave it.
    let mut b = tar::Builder::new(Vec::new());
    b.append_path_with_name(remote.path.join("src/a.txt"), "a.txt")
        .unwrap();
    b.append_path_with_name(remote.path.join("src/big.bin"), "big.bin")
        .unwrap();
    let full = b.into_inner().unwrap();
    remote.write("cut.tar", &full[..300_000]);
    let local = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let session = Remote::open(&stack.client, &stack.remote(), &mut |e| events.push(e))
        .await
        .unwrap();
    let files = vec![
        RemoteFile {
            path: "a.txt".into(),
            size: 5,
            mtime: None,
            sha256: Some(sha(b"first")),
        },
        RemoteFile {
            path: "big.bin".into(),
            size: big.len() as u64,
            mtime: None,
            sha256: Some(sha(&big)),
        },
    ];
    let cat = vec![
        "cat".to_string(),
        stack.in_pod(&format!("{}/cut.tar", remote.name)),
    ];
    let err = session
        .receive_archive(cat, &files, local.path())
        .await
        .unwrap_err();
    println!("error shown: {err}");
    assert!(matches!(err, FetchError::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("no partial file"), "{err}");
    assert_eq!(tree(local.path()).keys().collect::<Vec<_>>(), vec!["a.txt"]);
    session.close().await.unwrap();
    stack.assert_helpers_gone(&events).await;

    // The normal fetch of the folder then brings only what is missing.
    let options = stack.options(&format!("{}/src", remote.name), local.path());
    let report = stack.fetch(&options).await.0.unwrap();
    assert_eq!(
        report.files_fetched, 1,
        "a.txt is hashed and kept, big.bin fetched"
    );
    assert_eq!(fs::read(local.path().join("big.bin")).unwrap(), big);
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn cancelling_mid_transfer_leaves_no_partial_file_and_deletes_the_pod() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "cancel");
    let big = data(400_000, 9);
    remote.write("big.bin", &big);
    let mut b = tar::Builder::new(Vec::new());
    b.append_path_with_name(remote.path.join("big.bin"), "big.bin")
        .unwrap();
    remote.write("big.tar", &b.into_inner().unwrap());
    let local = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let session = Remote::open(&stack.client, &stack.remote(), &mut |e| events.push(e))
        .await
        .unwrap();
    // Half the archive, then a stall: the caller gives up (Ctrl-C drops the future).
    let stall = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("head -c 200000 ./{}/big.tar; sleep 60", remote.name),
    ];
    let files = vec![RemoteFile {
        path: "big.bin".into(),
        size: big.len() as u64,
        mtime: None,
        sha256: Some(sha(&big)),
    }];
    let gave_up = tokio::time::timeout(
        Duration::from_secs(3),
        session.receive_archive(stall, &files, local.path()),
    )
    .await;
    assert!(gave_up.is_err(), "the stalled stream should not finish");
    drop(session);
    // The extractor sees the end of its input and removes its temporary file.
    let mut clean = false;
    for _ in 0..50 {
        if tree(local.path()).is_empty() {
            clean = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        clean,
        "left behind: {:?}",
        tree(local.path()).keys().collect::<Vec<_>>()
    );
    stack.assert_helpers_gone(&events).await;
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_missing_path_is_named() {
    let stack = stack().await;
    let local = tempfile::tempdir().unwrap();
    let (result, events) = stack
        .fetch(&stack.options("no/such/results-folder", local.path()))
        .await;
    let err = result.unwrap_err();
    println!("error shown: {err}");
    assert!(
        err.to_string()
            .contains("no/such/results-folder does not exist on the PVC"),
        "{err}"
    );
    stack.assert_helpers_gone(&events).await;
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_missing_claim_is_reported_with_the_doctors_words() {
    let stack = stack().await;
    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options("x", local.path());
    options.remote.claim = "no-such-claim".into();
    let (result, events) = stack.fetch(&options).await;
    let err = result.unwrap_err();
    println!("error shown: {err}");
    assert!(matches!(err, FetchError::PvcMissing { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("PersistentVolumeClaim no-such-claim does not exist in argo"),
        "{err}"
    );
    assert!(events.is_empty(), "no pod should be created: {events:?}");
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn an_unbound_claim_is_reported() {
    let stack = stack().await;
    let api: Api<PersistentVolumeClaim> = Api::namespaced(stack.admin.clone(), NAMESPACE);
    let name = format!("fetch-it-unbound-{}", std::process::id());
    let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"storageClassName": "xtask-no-such-class", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "1Gi"}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &pvc).await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options("x", local.path());
    options.remote.claim = name.clone();
    let (result, _) = stack.fetch(&options).await;
    let _ = api.delete(&name, &DeleteParams::default()).await;
    let err = result.unwrap_err();
    println!("error shown: {err}");
    assert!(matches!(err, FetchError::PvcUnbound { .. }), "{err}");
    assert!(err.to_string().contains("is Pending, not Bound"), "{err}");
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn an_image_that_cannot_be_pulled_is_diagnosed_and_the_pod_deleted() {
    let stack = stack().await;
    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options("x", local.path());
    let PodChoice::Helper(spec) = &mut options.remote.pod else {
        unreachable!()
    };
    spec.image = "127.0.0.1:5443/vcity/busybox:does-not-exist".into();
    // The stack's kwok stages play the pull failure for pods with this label.
    spec.extra_labels
        .insert("stack.test/fault".into(), "image-not-found".into());
    let (result, events) = stack.fetch(&options).await;
    let err = result.unwrap_err();
    println!("error shown: {err}");
    let FetchError::HelperNotStarted {
        findings, status, ..
    } = &err
    else {
        panic!("expected HelperNotStarted, got {err}");
    };
    assert!(status.contains("ImagePullBackOff"), "{status}");
    assert!(
        findings
            .iter()
            .any(|f| f.reason == kit_diagnose::Reason::ImageNotFound),
        "{findings:#?}"
    );
    assert!(err.to_string().contains("busybox:does-not-exist"), "{err}");
    stack.assert_helpers_gone(&events).await;
}

/// A client authenticated as a fresh service account with only these rules.
async fn limited_client(stack: &Stack, name: &str, rules: Vec<PolicyRule>) -> kube::Client {
    let admin = stack.admin.clone();
    let sa_api: Api<ServiceAccount> = Api::namespaced(admin.clone(), NAMESPACE);
    let role_api: Api<Role> = Api::namespaced(admin.clone(), NAMESPACE);
    let binding_api: Api<RoleBinding> = Api::namespaced(admin.clone(), NAMESPACE);
    let meta = |n: &str| kube::api::ObjectMeta {
        name: Some(n.into()),
        ..Default::default()
    };
    let sa = ServiceAccount {
        metadata: meta(name),
        ..Default::default()
    };
    let role = Role {
        metadata: meta(name),
        rules: Some(rules),
    };
    let binding = RoleBinding {
        metadata: meta(name),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        }]),
    };
    let pp = PostParams::default();
    let _ = sa_api.delete(name, &DeleteParams::default()).await;
    let _ = role_api.delete(name, &DeleteParams::default()).await;
    let _ = binding_api.delete(name, &DeleteParams::default()).await;
    sa_api
        .create(&pp, &sa)
        .await
        .expect("create the service account");
    role_api.create(&pp, &role).await.expect("create the role");
    binding_api
        .create(&pp, &binding)
        .await
        .expect("create the role binding");
    let request = k8s_openapi::api::authentication::v1::TokenRequest {
        spec: k8s_openapi::api::authentication::v1::TokenRequestSpec {
            expiration_seconds: Some(600),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = sa_api
        .create_token_request(name, &pp, &request)
        .await
        .expect("a token for the service account")
        .status
        .expect("a token request answered with a status")
        .token;
    let mut config = kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions::default())
        .await
        .expect("the stack's kubeconfig");
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.into()),
        ..Default::default()
    };
    // RBAC caches settle within a moment of the binding.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kube::Client::try_from(config).expect("a client with the token")
}

async fn remove_limited(stack: &Stack, name: &str) {
    let admin = stack.admin.clone();
    let dp = DeleteParams::default();
    let _ = Api::<ServiceAccount>::namespaced(admin.clone(), NAMESPACE)
        .delete(name, &dp)
        .await;
    let _ = Api::<Role>::namespaced(admin.clone(), NAMESPACE)
        .delete(name, &dp)
        .await;
    let _ = Api::<RoleBinding>::namespaced(admin, NAMESPACE)
        .delete(name, &dp)
        .await;
}

fn rule(resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(resources.iter().map(|s| s.to_string()).collect()),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn missing_rights_are_named() {
    let stack = stack().await;
    let name = format!("fetch-it-nopods-{}", std::process::id());
    let no_pods = limited_client(
        &stack,
        &name,
        vec![rule(
            &["persistentvolumeclaims", "events"],
            &["get", "list"],
        )],
    )
    .await;
    let local = tempfile::tempdir().unwrap();
    let options = stack.options("x", local.path());
    let err = fetch::fetch(&no_pods, &options, |_| {}).await.unwrap_err();
    println!("error shown: {err}");
    remove_limited(&stack, &name).await;
    assert!(
        err.to_string()
            .starts_with("you have no right to create pods in namespace argo"),
        "{err}"
    );

    let name = format!("fetch-it-noexec-{}", std::process::id());
    let no_exec = limited_client(
        &stack,
        &name,
        vec![
            rule(&["persistentvolumeclaims", "events"], &["get", "list"]),
            rule(&["pods"], &["get", "list", "watch", "create", "delete"]),
        ],
    )
    .await;
    let mut events = Vec::new();
    let err = fetch::fetch(&no_exec, &options, |e| events.push(e))
        .await
        .unwrap_err();
    println!("error shown: {err}");
    stack.assert_helpers_gone(&events).await;
    remove_limited(&stack, &name).await;
    assert!(
        err.to_string()
            .starts_with("you have no right to create pods/exec in namespace argo"),
        "{err}"
    );
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn an_existing_pod_is_used_and_kept_and_a_verified_copy_allows_deleting() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "existing");
    let expected = sample_tree(&remote);
    // The user's own pod, mounting the claim elsewhere than the helper would.
    let pods: Api<Pod> = Api::namespaced(stack.client.clone(), NAMESPACE);
    let pod_name = format!("fetch-it-mine-{}", std::process::id());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": pod_name},
        "spec": {
            "containers": [{"name": "work", "image": stack.image, "command": ["sleep", "600"],
                            "volumeMounts": [{"name": "results", "mountPath": "/mnt/results"}]}],
            "volumes": [{"name": "results", "persistentVolumeClaim": {"claimName": stack.claim}}]
        }
    }))
    .unwrap();
    let _ = pods.delete(&pod_name, &DeleteParams::default()).await;
    wait_gone(&pods, &pod_name).await;
    pods.create(&PostParams::default(), &pod).await.unwrap();
    kube::runtime::wait::await_condition(
        pods.clone(),
        &pod_name,
        kube::runtime::conditions::is_pod_running(),
    )
    .await
    .unwrap();

    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options(&format!("/mnt/results/{}", remote.name), local.path());
    options.remote.pod = PodChoice::Existing(pod_name.clone());
    let (report, events) = stack.fetch(&options).await;
    let report = report.unwrap();
    assert_eq!(report.pod, pod_name);
    assert_eq!(tree(local.path()), expected);
    assert!(events.contains(&FetchEvent::UsingPod {
        pod: pod_name.clone(),
        container: "work".into(),
        mount_path: "/mnt/results".into()
    }));
    assert!(
        pods.get_opt(&pod_name).await.unwrap().is_some(),
        "the user's pod must stay"
    );

    // Deleting refuses while the local copy differs...
    let original = fs::read(local.path().join("metrics.csv")).unwrap();
    fs::write(local.path().join("metrics.csv"), b"changed locally!!!!!!!!").unwrap();
    let err = fetch::delete_remote(
        &stack.client,
        &options.remote,
        &options.path,
        local.path(),
        |_| {},
    )
    .await
    .unwrap_err();
    println!("error shown: {err}");
    assert!(matches!(err, FetchError::NotVerified { .. }), "{err}");
    assert!(remote.path.join("metrics.csv").exists());
    // ...and removes the folder once it matches.
    fs::write(local.path().join("metrics.csv"), original).unwrap();
    let deleted = fetch::delete_remote(
        &stack.client,
        &options.remote,
        &options.path,
        local.path(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(deleted.files_deleted, expected.len());
    assert!(!deleted.folder_remains);
    assert!(!remote.path.exists());

    // A pod that does not mount the claim is refused with what it mounts.
    options.remote.claim = "other-claim".into();
    let err = stack.fetch(&options).await.0.unwrap_err();
    println!("error shown: {err}");
    assert!(
        err.to_string()
            .contains("does not mount PersistentVolumeClaim other-claim"),
        "{err}"
    );
    let _ = pods.delete(&pod_name, &DeleteParams::default()).await;
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn helper_pods_carry_the_cleanup_labels() {
    let stack = stack().await;
    let mut events = Vec::new();
    let session = Remote::open(&stack.client, &stack.remote(), &mut |e| events.push(e))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(stack.client.clone(), NAMESPACE);
    let listed = pods
        .list(&ListParams::default().labels(HELPER_SELECTOR))
        .await
        .unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|p| p.metadata.name.as_deref() == Some(session.pod())),
        "helper {} not found by {HELPER_SELECTOR}",
        session.pod()
    );
    assert!(session.close().await.unwrap().is_some());
    stack.assert_helpers_gone(&events).await;
}

/// Remote options whose helper runs on kwok's node, whatever the stack: kwok's exec runs
/// the commands on the host, with GNU tar (Debian's busybox, the real node's helper
/// image, writes a time before 1970 as 0; GNU tar writes it in base-256).
fn gnu_tar_remote(stack: &Stack) -> RemoteOptions {
    let mut remote = stack.remote();
    remote.exec_root = ExecRoot::WorkingDirectory;
    if let PodChoice::Helper(spec) = &mut remote.pod {
        spec.extra_labels
            .insert("stack.test/exec".into(), "host".into());
    }
    remote
}

/// Every manifest entry names a local file with that size and SHA-256: what the
/// manifest says is true, whatever happened to the run that wrote it.
fn assert_manifest_true(dir: &Path) -> Manifest {
    let m = read_manifest(dir);
    for e in &m.files {
        let data = fs::read(dir.join(&e.path))
            .unwrap_or_else(|err| panic!("manifest lists {} but: {err}", e.path));
        assert_eq!(data.len() as u64, e.size, "{}", e.path);
        assert_eq!(sha(&data), e.sha256, "{}", e.path);
    }
    m
}

/// Temporary files of the extractor left anywhere under `dir`.
fn partial_files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_keys()
        .filter(|p| p.contains(".xtask-") && p.ends_with(".part"))
        .collect()
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_file_dated_before_1970_is_fetched_through_gnu_tar() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "pre1970");
    remote.write("old/ancient.txt", b"written before the epoch\n");
    remote.write("new.txt", b"recent\n");
    let before_epoch = std::time::UNIX_EPOCH - Duration::from_secs(1);
    remote.set_mtime("old/ancient.txt", before_epoch);
    let local = tempfile::tempdir().unwrap();
    let mut options = stack.options(&remote.name, local.path());
    options.remote = gnu_tar_remote(&stack);
    let started = std::time::Instant::now();
    let (report, events) = stack.fetch(&options).await;
    let report = report.unwrap_or_else(|err| panic!("fetch failed: {err}"));
    assert_eq!(report.files_fetched, 2);
    assert_eq!(
        fs::read(local.path().join("old/ancient.txt")).unwrap(),
        b"written before the epoch\n"
    );
    // The PVC's time came through, and the manifest can vouch for the file with it.
    let meta = fs::metadata(local.path().join("old/ancient.txt")).unwrap();
    assert_eq!(meta.modified().unwrap(), before_epoch);
    let m = assert_manifest_true(local.path());
    assert!(m.complete);
    let entry = m.entry("old/ancient.txt").unwrap();
    assert_eq!(entry.mtime_ns, Some(-1_000_000_000));
    assert_eq!(entry.remote_mtime, Some(-1));
    assert!(partial_files(local.path()).is_empty());
    stack.assert_helpers_gone(&events).await;
    // Settled on both sides: the next run neither transfers nor hashes it.
    let (again, _) = stack.fetch(&options).await;
    let again = again.unwrap();
    assert_eq!(again.files_fetched, 0);
    assert!(again.files_unchanged >= 1, "{again:?}");
    println!("pre-1970 fetch and re-fetch: {:?}", started.elapsed());
}

/// An old-GNU sparse entry: one 512-byte block at the end of `real` bytes of holes.
fn sparse_archive(name: &[u8], real: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(512);
    h.set_mode(0o644);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(real - 512);
    gnu.sparse[0].set_length(512);
    gnu.set_real_size(real);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &[7u8; 512][..]).unwrap();
    b.into_inner().unwrap()
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_sparse_entry_served_by_exec_is_refused_before_writing() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "sparse");
    let real: u64 = 256 * 1024 * 1024;
    let archive = sparse_archive(b"./zeros.bin", real);
    assert!(archive.len() <= 2048);
    remote.write("sparse.tar", &archive);
    let mut events = Vec::new();
    let session = Remote::open(&stack.client, &stack.remote(), &mut |e| events.push(e))
        .await
        .unwrap();
    // The listing agrees with the header's size: that must not be enough.
    let listed = vec![RemoteFile {
        path: "zeros.bin".into(),
        size: real,
        mtime: None,
        sha256: None,
    }];
    let cat = vec![
        "cat".to_string(),
        stack.in_pod(&format!("{}/sparse.tar", remote.name)),
    ];
    let outer = tempfile::tempdir().unwrap();
    let to = outer.path().join("to");
    let err = session
        .receive_archive(cat, &listed, &to)
        .await
        .unwrap_err();
    println!("error shown: {err}");
    assert!(matches!(err, FetchError::UnsafeEntry { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("./zeros.bin") && text.contains("sparse"),
        "{text}"
    );
    let written: u64 = walk_sizes(outer.path());
    assert_eq!(written, 0, "bytes written for a refused entry");
    assert!(tree(outer.path()).is_empty());
    session.close().await.unwrap();
    stack.assert_helpers_gone(&events).await;
}

/// Bytes in regular files under `dir`.
fn walk_sizes(dir: &Path) -> u64 {
    tree(dir).values().map(|d| d.len() as u64).sum()
}

/// A tree of `count` files of `size` bytes each on the PVC, returned as it should arrive.
fn big_tree(remote: &RemoteDir, count: usize, size: usize) -> BTreeMap<String, Vec<u8>> {
    (0..count)
        .map(|i| {
            let rel = format!("part-{i:03}.bin");
            let d = data(size, 100 + i as u64);
            remote.write(&rel, &d);
            (rel, d)
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn the_helper_pod_deleted_mid_fetch_keeps_the_manifest_true_and_a_rerun_completes() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "podgone");
    // More files than one tar command takes (2,000 names in the exec URL, or 64 MiB
    // when the names go on stdin): the transfer runs in two batches.
    let expected = big_tree(&remote, 2100, 32 * 1024);
    let local = tempfile::tempdir().unwrap();
    let options = stack.options(&remote.name, local.path());
    let admin: Api<Pod> = Api::namespaced(stack.admin.clone(), NAMESPACE);
    // At the first verified file the pod is deleted at once (grace 0, as an admin
    // cleaning up would): the running tar may finish (on the real node, an exec
    // outlives its killed container), the next command finds no pod.
    let mut helper = None;
    let mut deleter = None;
    let mut events = Vec::new();
    let started = std::time::Instant::now();
    let result = fetch::fetch(&stack.client, &options, |e| {
        match &e {
            FetchEvent::HelperCreated { pod } => helper = Some(pod.clone()),
            FetchEvent::FileDone { .. } if deleter.is_none() => {
                let (api, pod) = (admin.clone(), helper.clone().unwrap());
                deleter = Some(tokio::spawn(async move {
                    let now = DeleteParams::default().grace_period(0);
                    api.delete(&pod, &now).await.map(|_| ())
                }));
            }
            _ => {}
        }
        events.push(e);
    })
    .await;
    let cut_after = started.elapsed();
    deleter
        .expect("the transfer should reach a first file")
        .await
        .unwrap()
        .expect("delete the helper pod");
    let err = result.expect_err("the fetch cannot complete without its pod");
    println!("error shown after {cut_after:?}: {err}");
    assert!(matches!(err, FetchError::Interrupted { .. }), "{err}");
    let text = err.to_string();
    let pod = helper.unwrap();
    assert!(text.contains(&format!("pod {pod} was deleted")), "{text}");
    assert!(text.contains("Run the same command again"), "{text}");
    // What is there is verified, the manifest says no more than that, nothing partial.
    let m = assert_manifest_true(local.path());
    assert!(!m.complete);
    assert!(m.files.len() < expected.len(), "{} files", m.files.len());
    assert_eq!(tree(local.path()).len(), m.files.len());
    assert!(partial_files(local.path()).is_empty());
    stack.assert_helpers_gone(&events).await;

    let rerun = std::time::Instant::now();
    let (report, events) = stack.fetch(&options).await;
    let report = report.unwrap_or_else(|err| panic!("rerun failed: {err}"));
    assert_eq!(report.files_fetched, expected.len() - m.files.len());
    assert_eq!(tree(local.path()), expected);
    assert!(assert_manifest_true(local.path()).complete);
    stack.assert_helpers_gone(&events).await;
    println!(
        "cut after {cut_after:?} with {} file(s) kept, rerun {:?}",
        m.files.len(),
        rerun.elapsed()
    );
}

/// A tmpfs of `size` mounted on a new folder, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// More room, the files kept.
    fn grow(&self, size: &str) {
        let out = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.path())
                .status();
        }
    }
}

#[tokio::test]
#[ignore = "needs tests/stack"]
async fn a_full_local_disk_is_named_keeps_the_manifest_true_and_a_rerun_completes() {
    let stack = stack().await;
    let remote = RemoteDir::new(&stack, "diskfull");
    let disk = SmallDisk::mount("5m");
    let to = disk.path().join("results");
    let options = stack.options(&remote.name, &to);
    // A first fetch leaves a manifest; then the results grow beyond the disk.
    remote.write("first.txt", b"first results\n");
    stack.fetch(&options).await.0.unwrap();
    let first = read_manifest(&to);
    let mut expected = big_tree(&remote, 12, 1024 * 1024);
    expected.insert("first.txt".into(), b"first results\n".to_vec());
    let started = std::time::Instant::now();
    let (result, events) = stack.fetch(&options).await;
    let err = result.expect_err("12 MiB cannot fit in 5 MiB");
    println!("error shown after {:?}: {err}", started.elapsed());
    assert!(matches!(err, FetchError::LocalWrite { .. }), "{err}");
    let text = err.to_string();
    let shown_dir = to.canonicalize().unwrap();
    assert!(
        text.contains(&format!("the disk holding {} is full", shown_dir.display())),
        "{text}"
    );
    assert!(text.contains("a re-run fetches only the rest"), "{text}");
    stack.assert_helpers_gone(&events).await;
    // What the manifest lists is there and verified (the disk may be too full to
    // update it: then it is the first run's); no partial file takes room.
    let m = assert_manifest_true(&to);
    println!(
        "manifest after the failure: {} file(s), {}",
        m.files.len(),
        if m == first {
            "the first run's"
        } else {
            "updated"
        }
    );
    assert!(m == first || !m.complete, "{m:?}");
    assert!(partial_files(&to).is_empty());
    let kept = tree(&to).len();
    assert!(kept > 1 && kept < expected.len(), "{kept} files kept");

    disk.grow("64m");
    let rerun = std::time::Instant::now();
    let (report, events) = stack.fetch(&options).await;
    let report = report.unwrap_or_else(|err| panic!("rerun failed: {err}"));
    assert_eq!(report.files_fetched, expected.len() - kept);
    assert_eq!(tree(&to), expected);
    assert!(assert_manifest_true(&to).complete);
    stack.assert_helpers_gone(&events).await;
    println!("rerun after making room: {:?}", rerun.elapsed());
}

//! Against the real Docker engine and real docker-registry processes: ignored by default,
//! run with `cargo test -- --include-ignored` (tests/run-all does).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::*;
use kit_images::*;

struct Setup {
    _dir: tempfile::TempDir,
    ws: Workspace,
    images: Images,
    events: Arc<Mutex<Vec<ImageEvent>>>,
    refs: Vec<String>,
}

impl Setup {
    async fn plan(
        &self,
        registry: Option<&RegistryConfig>,
        mirrors: &[MirrorConfig],
    ) -> Vec<ImagePlan> {
        let specs = self.ws.discover(registry, mirrors).unwrap();
        let lock = Lock::load(&self.ws.lock_path).unwrap();
        self.images.plan(&specs, &lock).await.unwrap()
    }

    fn events(&self) -> Vec<ImageEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Plans, builds what must be built (every build must succeed) and pushes.
    async fn build_and_push(
        &self,
        registry: &RegistryConfig,
        mirrors: &[MirrorConfig],
        lock: &mut Lock,
    ) -> PushReport {
        let mut plans = self.plan(Some(registry), mirrors).await;
        let built = self
            .images
            .build_all(&mut plans, &BuildOptions::default())
            .await;
        assert!(built.is_success(), "{:?}", built.failed);
        self.images
            .push_all(&mut plans, lock, &PushOptions::default())
            .await
            .unwrap()
    }
}

/// A workspace with `files` under its root, Images wired to `registry`.
async fn setup(
    engine: DockerEngine,
    files: &[(&str, &str)],
    registry: Option<&RegistryConfig>,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let ws = Workspace::new(dir.path());
    let (events, seen) = recorder();
    let client = Images::registry_from(registry).unwrap();
    let images = Images::new(ws.clone(), engine, client, events);
    Setup {
        _dir: dir,
        ws,
        images,
        events: seen,
        refs: Vec::new(),
    }
}

fn reasons(p: &ImagePlan) -> Vec<String> {
    match &p.state {
        PlanState::MustBuild { reasons } => reasons.clone(),
        other => panic!("{} expected must-build, is {other:?}", p.name),
    }
}

fn dockerfile(extra: &str) -> String {
    format!(
        "FROM {BASE}\nCOPY entrypoint.py /app/entrypoint.py\nCOPY data/ /app/data/\n{extra}CMD [\"cat\", \"/app/entrypoint.py\"]\n"
    )
}

#[tokio::test]
#[ignore = "needs docker"]
async fn build_skip_and_rebuild_with_reasons() {
    let engine = docker().await;
    let name = format!("kt-build-{}", std::process::id());
    let n = nonce("build");
    let s = setup(
        engine.clone(),
        &[
            (
                &format!("containers/{name}/Dockerfile"),
                &dockerfile("ARG X\nRUN echo built $X > /app/x\n"),
            ),
            (
                &format!("containers/{name}/entrypoint.py"),
                &format!("print('{n}')\n"),
            ),
            (&format!("containers/{name}/data/a.txt"), "a"),
            (&format!("containers/{name}/notes.log"), "ignored"),
            (&format!("containers/{name}/.dockerignore"), "*.log\n"),
            (
                &format!("containers/{name}/image.toml"),
                "[args]\nX = \"1\"\n",
            ),
        ],
        None,
    )
    .await;
    let dir = s.ws.containers.join(&name);

    // 1. never built
    let mut plans = s.plan(None, &[]).await;
    assert_eq!(plans.len(), 1);
    assert_eq!(reasons(&plans[0]), vec!["never built".to_string()]);
    let t = std::time::Instant::now();
    let report = s
        .images
        .build_all(&mut plans, &BuildOptions::default())
        .await;
    let first_build = t.elapsed();
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(report.built.len(), 1);
    let built = &report.built[0];
    let log = std::fs::read_to_string(&built.log).unwrap();
    assert!(log.contains("Step 1/"), "{log}");
    let events = s.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ImageEvent::BuildStep { step: 1, .. }))
    );
    assert!(
        events.iter().any(
            |e| matches!(e, ImageEvent::Rebuild { reasons, .. } if reasons == &["never built"])
        )
    );
    // the .log file was not sent, the key label is on the image
    let inspect = engine.client().inspect_image(&built.id).await.unwrap();
    let labels = inspect.config.unwrap().labels.unwrap();
    assert_eq!(labels[KEY_LABEL], built.key);
    assert_eq!(
        plans[0].state,
        PlanState::UpToDate,
        "no registry: a local build is all there is"
    );

    // 2. rerun: nothing to do
    let mark = s.events().len();
    let t = std::time::Instant::now();
    let mut plans = s.plan(None, &[]).await;
    assert_eq!(plans[0].state, PlanState::UpToDate);
    assert_eq!(plans[0].local_image.as_deref(), Some(built.id.as_str()));
    let report = s
        .images
        .build_all(&mut plans, &BuildOptions::default())
        .await;
    let noop = t.elapsed();
    assert!(report.built.is_empty());
    assert!(
        s.events()[mark..]
            .iter()
            .any(|e| matches!(e, ImageEvent::Skipped { .. }))
    );
    eprintln!("TIMING first build {first_build:?}, no-op rerun (plan+skip) {noop:?}");

    // an ignored file changing changes nothing
    std::fs::write(dir.join("notes.log"), "changed").unwrap();
    assert_eq!(s.plan(None, &[]).await[0].state, PlanState::UpToDate);

    // 3. a file changes: rebuilt, and the reason names it
    std::fs::write(dir.join("entrypoint.py"), format!("print('{n} v2')\n")).unwrap();
    let mut plans = s.plan(None, &[]).await;
    let r = reasons(&plans[0]);
    assert_eq!(r, vec![format!("containers/{name}/entrypoint.py changed")]);
    let report = s
        .images
        .build_all(&mut plans, &BuildOptions::default())
        .await;
    assert!(report.is_success(), "{:?}", report.failed);
    let second = report.built[0].clone();

    // 4. a build arg changes, a file is added
    write_files(
        &dir,
        &[("image.toml", "[args]\nX = \"2\"\n"), ("data/b.txt", "b")],
    );
    let plans = s.plan(None, &[]).await;
    let r = reasons(&plans[0]);
    assert!(r.contains(&"build arg X changed".to_string()), "{r:?}");
    assert!(
        r.contains(&format!("containers/{name}/data/b.txt added")),
        "{r:?}"
    );

    // 5. back to the state of build 2: that image still exists, no build needed
    write_files(&dir, &[("image.toml", "[args]\nX = \"1\"\n")]);
    std::fs::remove_file(dir.join("data/b.txt")).unwrap();
    let plans = s.plan(None, &[]).await;
    assert_eq!(plans[0].state, PlanState::UpToDate);
    assert_eq!(plans[0].local_image.as_deref(), Some(second.id.as_str()));

    let _ = (built, second);
    remove_built(&engine, &s.events()).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn push_with_password_and_ca_then_only_changed_layer() {
    let engine = docker().await;
    let reg = TestRegistry::tls_with_password();
    let cfg = reg.config("vcity");
    let n = nonce("push");
    // 1 MiB of incompressible data in its own layer, then a small layer that changes.
    let big: String = (0..(1 << 20) / 64)
        .map(|i| {
            format!(
                "{:064x}",
                (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xABCD_EF01_2345_6789
            )
        })
        .collect();
    let s = setup(
        engine.clone(),
        &[
            (
                "containers/app/Dockerfile",
                &format!("FROM {BASE}\nCOPY big.bin /big.bin\nCOPY small.txt /small.txt\n"),
            ),
            ("containers/app/big.bin", &format!("{n}{big}")),
            ("containers/app/small.txt", "v1"),
        ],
        Some(&cfg),
    )
    .await;

    let mut lock = Lock::load(&s.ws.lock_path).unwrap();
    let mut plans = s.plan(Some(&cfg), &[]).await;
    assert!(matches!(plans[0].state, PlanState::MustBuild { .. }));
    assert!(
        s.images
            .build_all(&mut plans, &BuildOptions::default())
            .await
            .is_success()
    );
    assert!(matches!(plans[0].state, PlanState::MustPush { .. }));
    let t = std::time::Instant::now();
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &PushOptions::default())
        .await
        .unwrap();
    eprintln!("TIMING first push (1 MiB layer + base) {:?}", t.elapsed());
    assert!(report.is_success(), "{:?}", report.failed);
    let first = report.pushed[0].clone();
    // base layer + big + small + config
    assert_eq!(first.uploaded_blobs, 4, "{first:?}");
    assert!(first.uploaded_bytes > 1 << 20);
    assert!(
        s.events()
            .iter()
            .any(|e| matches!(e, ImageEvent::LayerProgress { .. }))
    );

    // the lock pins it, and resolves the names a workflow uses
    let on_disk = Lock::load(&s.ws.lock_path).unwrap();
    let entry = on_disk.get("app").unwrap();
    assert_eq!(entry.reference, format!("{}/vcity/app:latest", reg.host));
    assert_eq!(entry.digest, first.digest);
    assert_eq!(entry.key, plans[0].key);
    let pinned = format!("{}/vcity/app:latest@{}", reg.host, first.digest);
    assert_eq!(on_disk.resolve("app").as_deref(), Some(pinned.as_str()));
    assert_eq!(
        on_disk
            .resolve(&format!("{}/vcity/app", reg.host))
            .as_deref(),
        Some(pinned.as_str())
    );

    // rerun: up to date, nothing built or pushed
    let mut plans = s.plan(Some(&cfg), &[]).await;
    assert_eq!(plans[0].state, PlanState::UpToDate);
    assert_eq!(plans[0].pinned.as_deref(), Some(pinned.as_str()));
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &PushOptions::default())
        .await
        .unwrap();
    assert!(report.pushed.is_empty());

    // change the small file: one new layer and a config go up, the big layer does not
    std::fs::write(s.ws.containers.join("app/small.txt"), "v2").unwrap();
    let (blobs_before, bytes_before) = reg.blob_stats();
    let mut plans = s.plan(Some(&cfg), &[]).await;
    assert_eq!(
        reasons(&plans[0]),
        vec!["containers/app/small.txt changed".to_string()]
    );
    assert!(
        s.images
            .build_all(&mut plans, &BuildOptions::default())
            .await
            .is_success()
    );
    let t = std::time::Instant::now();
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &PushOptions::default())
        .await
        .unwrap();
    eprintln!("TIMING push of one changed layer {:?}", t.elapsed());
    let second = &report.pushed[0];
    assert_eq!(second.uploaded_blobs, 2, "{second:?}");
    assert!(second.uploaded_bytes < 64 * 1024, "{second:?}");
    assert_eq!(second.existing_blobs, 2, "base and big layers were there");
    let (blobs_after, bytes_after) = reg.blob_stats();
    // registry side: two new layer/config blobs plus the manifest
    assert_eq!(blobs_after - blobs_before, 3);
    assert!(bytes_after - bytes_before < 64 * 1024);
    assert_ne!(second.digest, first.digest);

    remove_built(&engine, &s.events()).await;
    let _ = s.refs;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn an_image_on_a_workspace_base_mounts_its_layers_with_basic_auth() {
    let engine = docker().await;
    let reg = TestRegistry::tls_with_password();
    let cfg = reg.config("vcity");
    let n = nonce("mount");
    // 256 KiB of incompressible data in the base's own layer
    let noise: String = (0..4096u64)
        .map(|i| format!("{:064x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED))
        .collect();
    let base_ref = format!("{}/vcity/mountbase:latest", reg.host);
    let s = setup(
        engine.clone(),
        &[
            (
                "containers/mountbase/Dockerfile",
                &format!("FROM {BASE}\nCOPY noise /noise\n"),
            ),
            ("containers/mountbase/noise", &format!("{n}{noise}")),
            (
                "containers/mountapp/Dockerfile",
                &format!("FROM {base_ref}\nRUN echo {n} > /app-id\n"),
            ),
        ],
        Some(&cfg),
    )
    .await;
    let mut lock = Lock::load(&s.ws.lock_path).unwrap();
    let report = s.build_and_push(&cfg, &[], &mut lock).await;
    assert!(report.is_success(), "{:?}", report.failed);
    let pushed = |name: &str| report.pushed.iter().find(|p| p.name == name).unwrap();
    let (base, app) = (pushed("mountbase"), pushed("mountapp"));
    // the base went first and uploaded its layers; app, pushed after it, had the
    // registry link them in (htpasswd: the user's own credentials on the mount)
    assert_eq!(base.mounted_blobs, 0, "{base:?}");
    assert_eq!(app.mounted_blobs, 2, "busybox and noise layers: {app:?}");
    assert!(app.mounted_bytes > 256 * 1024, "{app:?}");
    assert_eq!(app.uploaded_blobs, 2, "its own layer and config: {app:?}");
    assert!(app.uploaded_bytes < 16 * 1024, "{app:?}");
    let told: Vec<String> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ImageEvent::LayerMounted { image, from, .. } if image == "mountapp" => Some(from),
            _ => None,
        })
        .collect();
    assert_eq!(told, ["vcity/mountbase", "vcity/mountbase"]);
    // the registry serves app whole: every layer readable from app's own repository
    let client = Images::registry_from(Some(&cfg)).unwrap().unwrap();
    let target: oci_client::Reference = format!("{}/vcity/mountapp:latest", reg.host)
        .parse()
        .unwrap();
    let (manifest, _, _) = client.pull_manifest(&target).await.unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3);
    for layer in layers {
        let digest = layer["digest"].as_str().unwrap();
        assert!(
            client.blob_exists(&target, digest).await.unwrap(),
            "{digest}"
        );
    }
    remove_built(&engine, &s.events()).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn interrupted_push_resumes_without_reuploading() {
    let engine = docker().await;
    let reg = TestRegistry::tls_with_password();
    let cfg = reg.config("vcity");
    let n = nonce("resume");
    let layer = |i: u32| format!("{n}-{i}-{}", "x".repeat(200_000));
    let s = setup(
        engine.clone(),
        &[
            (
                "containers/res/Dockerfile",
                &format!("FROM {BASE}\nCOPY a /a\nCOPY b /b\nCOPY c /c\n"),
            ),
            ("containers/res/a", &layer(1)),
            ("containers/res/b", &layer(2)),
            ("containers/res/c", &layer(3)),
        ],
        Some(&cfg),
    )
    .await;
    let mut plans = s.plan(Some(&cfg), &[]).await;
    assert!(
        s.images
            .build_all(&mut plans, &BuildOptions::default())
            .await
            .is_success()
    );

    // Stop the push as soon as the first blob is in the registry.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let (events, _) = recorder();
    let counting = Events::from_fn(move |e| {
        if matches!(e, ImageEvent::LayerPushed { .. })
            && let Some(tx) = stop_tx.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
        events.emit(e);
    });
    let images = Images::new(
        s.ws.clone(),
        engine.clone(),
        Images::registry_from(Some(&cfg)).unwrap(),
        counting,
    );
    let mut lock = Lock::new();
    let opts = PushOptions {
        layer_parallelism: 1,
        image_parallelism: 1,
        temp_dir: None,
    };
    let mut interrupted = plans.clone();
    tokio::select! {
        _ = images.push_all(&mut interrupted, &mut lock, &opts) => panic!("the push should have been interrupted"),
        _ = stop_rx => {}
    }
    drop(images);
    assert!(
        !s.ws.lock_path.exists(),
        "no lock entry for an interrupted push"
    );
    let (blobs_mid, _) = reg.blob_stats();
    assert!(blobs_mid >= 1);

    let report = s
        .images
        .push_all(&mut plans, &mut lock, &opts)
        .await
        .unwrap();
    let pushed = &report.pushed[0];
    assert!(pushed.existing_blobs >= 1, "{pushed:?}");
    assert_eq!(
        pushed.existing_blobs + pushed.uploaded_blobs,
        5,
        "base, a, b, c, config: {pushed:?}"
    );
    assert!(s.ws.lock_path.exists());

    remove_built(&engine, &s.events()).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn mirror_from_registry_and_from_daemon() {
    let engine = docker().await;
    let upstream = TestRegistry::plain();
    let reg = TestRegistry::tls_with_password();
    let cfg = reg.config("vcity");

    // Seed the upstream with an image (pushed with this crate, plain HTTP).
    let n = nonce("mirror");
    let seed = setup(
        engine.clone(),
        &[
            (
                "containers/tool/Dockerfile",
                &format!("FROM {BASE}\nRUN echo {n} > /id\n"),
            ),
            ("containers/tool/image.toml", "tag = \"1.0\"\n"),
        ],
        Some(&upstream.config("library")),
    )
    .await;
    let mut up_lock = Lock::new();
    let mut plans = seed.plan(Some(&upstream.config("library")), &[]).await;
    assert!(
        seed.images
            .build_all(&mut plans, &BuildOptions::default())
            .await
            .is_success()
    );
    let seeded = seed
        .images
        .push_all(&mut plans, &mut up_lock, &PushOptions::default())
        .await
        .unwrap();
    let source_digest = seeded.pushed[0].digest.clone();
    let local_id = plans[0].local_image.clone().unwrap();

    // 1. registry to registry: same digest in our registry
    let mirror = MirrorConfig {
        source: format!("{}/library/tool:1.0", upstream.host),
        target_name: None,
        origin: "xtask.toml mirrors".into(),
    };
    let s = setup(engine.clone(), &[], Some(&cfg)).await;
    let mut lock = Lock::new();
    let mut plans = s.plan(Some(&cfg), std::slice::from_ref(&mirror)).await;
    assert_eq!(
        plans[0].state,
        PlanState::MustPush {
            reason: "never mirrored".into()
        }
    );
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &PushOptions::default())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.failed);
    let pushed = &report.pushed[0];
    assert_eq!(pushed.via, "registry");
    assert_eq!(pushed.digest, source_digest, "copied byte for byte");
    let entry = lock.get("tool").unwrap();
    assert_eq!(entry.source.as_deref(), Some(mirror.source.as_str()));
    assert_eq!(entry.source_digest.as_deref(), Some(source_digest.as_str()));
    assert_eq!(lock.resolve(&mirror.source), Some(entry.pinned()));
    let plans = s.plan(Some(&cfg), std::slice::from_ref(&mirror)).await;
    assert_eq!(plans[0].state, PlanState::UpToDate);

    // 2. source unreachable: from the local engine
    let offline = "127.0.0.1:9/thirdparty/tool:2.0".to_string();
    engine.tag(&local_id, &offline).await.unwrap();
    let mirror2 = MirrorConfig {
        source: offline.clone(),
        target_name: Some("tool2".into()),
        origin: "xtask.toml mirrors".into(),
    };
    let mut plans = s.plan(Some(&cfg), std::slice::from_ref(&mirror2)).await;
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &PushOptions::default())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.failed);
    assert_eq!(report.pushed[0].via, "daemon");
    assert!(
        s.events()
            .iter()
            .any(|e| matches!(e, ImageEvent::MirrorSource { via, .. } if via == "daemon"))
    );
    assert!(lock.get("tool2").unwrap().source_digest.is_none());

    // 3. neither: the error says both
    let mirror3 = MirrorConfig {
        source: "127.0.0.1:9/thirdparty/absent:1".into(),
        target_name: None,
        origin: "xtask.toml mirrors".into(),
    };
    let mut plans = s.plan(Some(&cfg), std::slice::from_ref(&mirror3)).await;
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &PushOptions::default())
        .await
        .unwrap();
    let err = report.failed[0].1.to_string();
    eprintln!("FAULT MESSAGE: {err}");
    assert!(
        err.contains("127.0.0.1:9") && err.contains("has no image"),
        "{err}"
    );

    remove_images(&engine, &[offline]).await;
    let _ = local_id;
    remove_built(&engine, &seed.events()).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn build_failures_name_the_step() {
    let engine = docker().await;
    let n = nonce("fail");
    let s = setup(
        engine.clone(),
        &[
            (
                "containers/syntax/Dockerfile",
                &format!("FROM {BASE}\nRUN echo {n}\nFROBNICATE now\n"),
            ),
            (
                "containers/runfail/Dockerfile",
                &format!(
                    "FROM {BASE}\nRUN echo {n}\nRUN echo about to fail && exit 3\nRUN echo never\n"
                ),
            ),
            (
                "containers/wontstart/Dockerfile",
                &format!("FROM {BASE}\nRUN echo {n} wont\n"),
            ),
        ],
        None,
    )
    .await;
    let mut plans = s.plan(None, &[]).await;
    let opts = BuildOptions {
        parallelism: 1,
        keep_going: true,
        no_cache: false,
    };
    let report = s.images.build_all(&mut plans, &opts).await;
    assert_eq!(report.failed.len(), 2, "{:?}", report.failed);
    assert_eq!(report.built.len(), 1, "keep_going builds the others");
    for (name, err) in &report.failed {
        let text = err.to_string();
        match name.as_str() {
            "runfail" => {
                assert!(
                    text.contains("step 3/")
                        && text.contains("(RUN echo about to fail && exit 3)")
                        && text.contains("non-zero code: 3"),
                    "{text}"
                );
                assert!(
                    text.contains("about to fail"),
                    "the log tail is shown: {text}"
                );
                assert!(text.contains("runfail.log"), "{text}");
            }
            "syntax" => {
                assert!(text.to_lowercase().contains("frobnicate"), "{text}");
                assert!(text.contains("build of syntax failed"), "{text}");
                eprintln!("SYNTAX ERROR MESSAGE: {text}");
            }
            other => panic!("unexpected failure {other}: {text}"),
        }
    }

    // Without keep_going, the first failure stops the rest.
    let mut plans = s.plan(None, &[]).await;
    let report = s
        .images
        .build_all(
            &mut plans,
            &BuildOptions {
                parallelism: 1,
                keep_going: false,
                no_cache: false,
            },
        )
        .await;
    assert_eq!(report.failed.len(), 1);
    assert!(!report.not_started.is_empty() || report.built.is_empty());
    remove_built(&engine, &s.events()).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn dockerignore_excluding_the_dockerfile_still_builds_with_a_warning() {
    let engine = docker().await;
    let n = nonce("ign");
    let s = setup(
        engine.clone(),
        &[
            (
                "containers/ign/Dockerfile",
                &format!("FROM {BASE}\nCOPY . /ctx/\nRUN echo {n} && ls -a /ctx > /listing\n"),
            ),
            ("containers/ign/.dockerignore", "*\n!keep.txt\n"),
            ("containers/ign/keep.txt", "k"),
            ("containers/ign/drop.txt", "d"),
        ],
        None,
    )
    .await;
    let mut plans = s.plan(None, &[]).await;
    assert!(
        plans[0]
            .warnings
            .iter()
            .any(|w| w.contains("excludes the Dockerfile")),
        "{:?}",
        plans[0].warnings
    );
    assert!(s.events().iter().any(
        |e| matches!(e, ImageEvent::Warning { message, .. } if message.contains("Dockerfile"))
    ));
    let report = s
        .images
        .build_all(&mut plans, &BuildOptions::default())
        .await;
    assert!(report.is_success(), "{:?}", report.failed);
    let log = std::fs::read_to_string(&report.built[0].log).unwrap();
    assert!(log.contains("Step 1/"), "{log}");
    remove_built(&engine, &s.events()).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn workspace_base_images_are_built_first() {
    let engine = docker().await;
    let reg_cfg = RegistryConfig::new("kit-images-test.local", Some("p"));
    let n = nonce("deps");
    let base_ref = "kit-images-test.local/p/basedep:1";
    let s = setup(
        engine.clone(),
        &[
            (
                "containers/app2/Dockerfile",
                &format!("FROM {base_ref}\nRUN cat /base-id\n"),
            ),
            (
                "containers/basedep/Dockerfile",
                &format!("FROM {BASE}\nRUN echo {n} > /base-id\n"),
            ),
            ("containers/basedep/image.toml", "tag = \"1\"\n"),
        ],
        None,
    )
    .await;
    // A registry that is never contacted: planning only names images with it.
    let specs = s.ws.discover(Some(&reg_cfg), &[]).unwrap();
    let images = Images::new(s.ws.clone(), engine.clone(), None, Events::none());
    let mut plans = images.plan(&specs, &Lock::new()).await.unwrap();
    let app = plans.iter().find(|p| p.name == "app2").unwrap();
    assert_eq!(app.deps, vec!["basedep".to_string()]);
    let report = images
        .build_all(
            &mut plans,
            &BuildOptions {
                parallelism: 2,
                ..Default::default()
            },
        )
        .await;
    assert!(report.is_success(), "{:?}", report.failed);
    let order: Vec<&str> = report.built.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(order, vec!["basedep", "app2"]);
    // app2's key follows basedep's inputs
    let app_key = plans.iter().find(|p| p.name == "app2").unwrap().key.clone();
    std::fs::write(s.ws.containers.join("basedep/extra"), "x").unwrap();
    let plans2 = images.plan(&specs, &Lock::new()).await.unwrap();
    let app2 = plans2.iter().find(|p| p.name == "app2").unwrap();
    assert_ne!(app2.key, app_key);
    assert!(
        reasons(app2)
            .iter()
            .any(|r| r == &format!("base image {base_ref} changed")),
        "{:?}",
        app2.state
    );
    let ids: Vec<String> = report.built.iter().rev().map(|b| b.id.clone()).collect();
    remove_images(&engine, &ids).await;
}

#[tokio::test]
#[ignore = "needs docker"]
async fn registry_faults_are_explained() {
    let engine = docker().await;
    let reg = TestRegistry::tls_with_password();
    let n = nonce("faults");
    let files = [(
        "containers/flt/Dockerfile",
        format!("FROM {BASE}\nRUN echo {n}\n"),
    )];
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();

    // Build once (no registry needed).
    let good = reg.config("vcity");
    let s = setup(engine.clone(), &files, Some(&good)).await;
    let mut plans = s.plan(Some(&good), &[]).await;
    assert!(
        s.images
            .build_all(&mut plans, &BuildOptions::default())
            .await
            .is_success()
    );
    let built = plans.clone();

    let attempt = |cfg: RegistryConfig| {
        let ws = s.ws.clone();
        let engine = engine.clone();
        let mut plans = built.clone();
        async move {
            let images = Images::new(
                ws,
                engine,
                Images::registry_from(Some(&cfg)).unwrap(),
                Events::none(),
            );
            let mut lock = Lock::new();
            let err = images
                .push_all(&mut plans, &mut lock, &PushOptions::default())
                .await
                .expect_err("must fail")
                .to_string();
            eprintln!("FAULT MESSAGE: {err}\n");
            err
        }
    };

    // wrong password
    let mut wrong = good.clone();
    wrong.password = Some(kit_config::Secret::new("not-the-password"));
    let err = attempt(wrong).await;
    assert!(
        err.contains(&reg.host) && err.contains("XTASK_REGISTRY_PASSWORD") && err.contains("401"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "never print a password: {err}"
    );

    // no password at all
    let mut anon = good.clone();
    anon.user = None;
    anon.password = None;
    let err = attempt(anon).await;
    assert!(
        err.contains(&reg.host) && err.contains("credentials used: none"),
        "{err}"
    );

    // unknown CA
    let mut no_ca = good.clone();
    no_ca.ca_file = None;
    let err = attempt(no_ca).await;
    assert!(
        err.contains("XTASK_REGISTRY_CA")
            && err.contains("registry.ca_file")
            && err.contains(&reg.host),
        "{err}"
    );

    // registry down
    let mut down = good.clone();
    down.host = format!("127.0.0.1:{}", free_port());
    let err = attempt(down.clone()).await;
    assert!(
        err.contains(&down.host) && err.contains("not reachable"),
        "{err}"
    );

    // TLS client against a plain-HTTP registry
    let plain = TestRegistry::plain();
    let mut https_to_plain = RegistryConfig::new(&plain.host, Some("vcity"));
    https_to_plain.plain_http = false;
    let err = attempt(https_to_plain).await;
    assert!(err.contains(&plain.host), "{err}");

    // plan survives a registry that is down
    let client = Images::registry_from(Some(&down)).unwrap();
    let images = Images::new(s.ws.clone(), engine.clone(), client, Events::none());
    let specs = s.ws.discover(Some(&down), &[]).unwrap();
    let mut lock = Lock::new();
    lock.insert(
        "flt",
        LockEntry {
            reference: specs[0].reference.clone(),
            digest: format!("sha256:{}", "0".repeat(64)),
            key: built[0].key.clone(),
            source: None,
            source_digest: None,
            pushed_at: "2026-01-01T00:00:00Z".into(),
        },
    );
    let plans = images.plan(&specs, &lock).await.unwrap();
    assert!(
        plans[0]
            .registry_error
            .as_deref()
            .is_some_and(|e| e.contains("not reachable")),
        "{:?}",
        plans[0]
    );
    assert!(matches!(plans[0].state, PlanState::MustPush { .. }));

    assert!(!s.ws.lock_path.exists(), "failed pushes write no lock");
    remove_built(&engine, &s.events()).await;
}

#[tokio::test]
#[ignore = "needs docker and root"]
async fn disk_full_during_export_fails_cleanly() {
    let engine = docker().await;
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "this test mounts a small tmpfs to fill the disk: run it as root"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&small);

    let reg = TestRegistry::tls_with_password();
    let cfg = reg.config("vcity");
    let n = nonce("full");
    let s = setup(
        engine.clone(),
        &[(
            "containers/full/Dockerfile",
            &format!("FROM {BASE}\nRUN echo {n} && dd if=/dev/zero of=/blob bs=1k count=1024\n"),
        )],
        Some(&cfg),
    )
    .await;
    let mut plans = s.plan(Some(&cfg), &[]).await;
    assert!(
        s.images
            .build_all(&mut plans, &BuildOptions::default())
            .await
            .is_success()
    );
    let mut lock = Lock::new();
    let opts = PushOptions {
        layer_parallelism: 2,
        image_parallelism: 2,
        temp_dir: Some(small.clone()),
    };
    let report = s
        .images
        .push_all(&mut plans, &mut lock, &opts)
        .await
        .unwrap();
    assert_eq!(report.failed.len(), 1);
    let err = report.failed[0].1.to_string();
    eprintln!("FAULT MESSAGE: {err}");
    assert!(
        err.contains("export") && err.contains(&small.display().to_string()),
        "{err}"
    );
    assert!(err.to_lowercase().contains("space"), "{err}");
    assert!(!s.ws.lock_path.exists(), "no partial lock file");
    assert!(lock.images.is_empty());
    remove_built(&engine, &s.events()).await;
}

/// The local stack's registry (tests/stack/up), configured the way users configure it:
/// through kit-config from the XTASK_* environment. Run after `eval "$(tests/stack/env)"`.
#[tokio::test]
#[ignore = "needs tests/stack"]
async fn stack_registry_through_settings_when_up() {
    let engine = docker().await;
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    for name in ["XTASK_REGISTRY", "STACK_UPSTREAM_REGISTRY"] {
        assert!(
            env.contains_key(name),
            "{name} is not set: this test needs the local stack: tests/stack/up && eval \"$(tests/stack/env)\""
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = kit_config::Inputs::new(dir.path());
    inputs.env = env.clone();
    let settings = kit_config::resolve(&inputs).unwrap().settings;
    let cfg = RegistryConfig::from_settings(&settings).expect("XTASK_REGISTRY is set");
    let mirror = MirrorConfig {
        source: format!("{}/library/busybox:1", env["STACK_UPSTREAM_REGISTRY"]),
        target_name: Some("kit-images-test-busybox".into()),
        origin: "test".into(),
    };
    let n = nonce("stack");
    let s = setup(
        engine.clone(),
        &[(
            "containers/kit-images-test/Dockerfile",
            &format!("FROM {BASE}\nRUN echo {n} > /id\n"),
        )],
        Some(&cfg),
    )
    .await;
    let mut lock = Lock::new();
    let report = s
        .build_and_push(&cfg, std::slice::from_ref(&mirror), &mut lock)
        .await;
    assert!(report.is_success(), "{:?}", report.failed);
    assert!(lock.resolve("kit-images-test").is_some());
    assert!(lock.resolve(&mirror.source).is_some());
    let plans = s.plan(Some(&cfg), std::slice::from_ref(&mirror)).await;
    assert!(
        plans.iter().all(|p| p.state == PlanState::UpToDate),
        "{plans:?}"
    );
    remove_built(&engine, &s.events()).await;
}

//! Hashing a 10k-file context: cold (every file read) and warm (cache hits).

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

use kit_images::{BuildSpec, HashCache, KeyInputs, scan_context};

#[test]
fn ten_thousand_files_warm_scan_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    let old = SystemTime::now() - Duration::from_secs(3600);
    for d in 0..100 {
        let sub = ctx.join(format!("d{d:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..100 {
            let p = sub.join(format!("f{f:03}.py"));
            std::fs::write(&p, format!("# file {d} {f}\n{}", "x".repeat(1000))).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "d00*/f00*\n").unwrap();
    let spec = BuildSpec {
        dir: ctx.clone(),
        dockerfile: ctx.join("Dockerfile"),
        context: ctx.clone(),
        args: Default::default(),
        target: None,
        image_toml: None,
    };
    let cache_path = dir.path().join("hash-cache.json");

    let t = Instant::now();
    let cache = HashCache::load(&cache_path);
    let cold = scan_context(&spec, &cache).unwrap();
    let cold_key = KeyInputs::new(&cold, &spec.args, None, Default::default()).key();
    cache.save().unwrap();
    let cold_time = t.elapsed();

    let t = Instant::now();
    let cache = HashCache::load(&cache_path);
    let warm = scan_context(&spec, &cache).unwrap();
    let warm_key = KeyInputs::new(&warm, &spec.args, None, Default::default()).key();
    let warm_time = t.elapsed();

    assert_eq!(cold_key, warm_key);
    // 10 files of each of the 10 d00* folders are ignored
    assert_eq!(warm.file_count(), 10_000 - 100 + 2);
    eprintln!(
        "TIMING 10k-file context: cold scan+hash+save {cold_time:?}, warm scan {warm_time:?}"
    );
    // Every file came from the cache: a miss would have hashed it and marked the cache
    // for saving, and the save would replace the file.
    let stamp = || {
        let meta = std::fs::metadata(&cache_path).unwrap();
        (meta.ino(), meta.modified().unwrap())
    };
    let saved = stamp();
    cache.save().unwrap();
    assert_eq!(
        stamp(),
        saved,
        "the warm scan hashed files again instead of using the cache"
    );
    // The warm scan is the whole cost of an `up` where nothing changed: tens of
    // milliseconds here; the bound leaves room for a loaded machine.
    assert!(
        warm_time < WARM_BOUND,
        "warm scan of 10k files took {warm_time:?}, more than {WARM_BOUND:?} (cold: {cold_time:?})"
    );
}

const WARM_BOUND: Duration = Duration::from_secs(2);

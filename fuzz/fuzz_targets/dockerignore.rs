//! .dockerignore: the input up to the first NUL is the file, the rest holds paths, one
//! a line. Never a panic; a refused pattern is named by file and line; a path is judged
//! the same however it is spelled (`./a`, `a/`); and `force_include` (how the Dockerfile
//! and .dockerignore are always sent) really includes any plain relative path, and
//! makes the context walk enter the excluded folders above it.
#![no_main]

use std::path::Path;

use kit_images::DockerIgnore;
use libfuzzer_sys::fuzz_target;

/// A path as the context walk produces it: relative, no empty, `.` or `..` part.
fn is_plain(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (patterns, paths) = text.split_once('\0').unwrap_or((&text, ""));
    let ignore = match DockerIgnore::parse(patterns, Path::new(".dockerignore")) {
        Ok(ignore) => ignore,
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains(".dockerignore") && m.contains("line "),
                "unlocated error: {m}"
            );
            return;
        }
    };
    for (i, path) in paths.split('\n').take(64).enumerate() {
        let excluded = ignore.is_excluded(path);
        let _ = ignore.walks_into_excluded_dir(path);
        if !is_plain(path) {
            continue;
        }
        assert_eq!(
            excluded,
            ignore.is_excluded(&format!("./{path}")),
            "./{path}"
        );
        assert_eq!(excluded, ignore.is_excluded(&format!("{path}/")), "{path}/");
        // Each call compiles a pattern: the first few paths are enough.
        if i >= 8 {
            continue;
        }
        let mut forced = ignore.clone();
        assert_eq!(forced.force_include(path), excluded);
        assert!(
            !forced.is_excluded(path),
            "force_include({path:?}) left it excluded"
        );
        // The context walk must enter every excluded folder on the way to it.
        for (end, _) in path.match_indices('/') {
            let dir = &path[..end];
            if forced.is_excluded(dir) {
                assert!(
                    forced.walks_into_excluded_dir(dir),
                    "force_include({path:?}), but {dir:?} is not walked into"
                );
            }
        }
    }
});

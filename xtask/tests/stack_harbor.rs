//! `cargo xtask up` and `doctor` against the stack's Harbor-like registry (token auth
//! through tests/stack/harbor): robot accounts with a `$` from `docker login`, the
//! environment and a credential helper; Harbor's refusals (missing project, no push
//! right, quota) each told with its fix; a token refused mid-push renewed; and the
//! number of token requests one `up` makes.

mod common;

use std::path::Path;
use std::process::Output;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use common::{BuiltImages, image_workspace, stack_var, text};

/// Tests that use the push robot take turns: one of them counts its token requests.
static PUSH_ROBOT: Mutex<()> = Mutex::new(());

fn push_robot() -> MutexGuard<'static, ()> {
    PUSH_ROBOT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The registry's test-support statistics (see tests/stack/harbor/README.md).
fn stats() -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-sf", "--cacert", &stack_var("STACK_REGISTRY_CA")])
        .arg(format!(
            "https://{}/stack/stats",
            stack_var("STACK_REGISTRY")
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "stats: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tokens_of(stats: &serde_json::Value, user: &str) -> u64 {
    stats["token_requests"]["by_user"][user]
        .as_u64()
        .unwrap_or(0)
}

fn refusals_of(stats: &serde_json::Value, kind: &str) -> u64 {
    stats["refusals"]["by_kind"][kind].as_u64().unwrap_or(0)
}

/// A workspace of `count` images named after the test, and the cleanup of their
/// local copies.
fn images(dir: &Path, tag: &str, count: usize, project: &str) -> (Vec<String>, BuiltImages) {
    let id = std::process::id();
    let names: Vec<String> = (0..count)
        .map(|i| format!("harbor-{tag}-{id}-{i}"))
        .collect();
    // Content of its own per test: tests run side by side, and two images with the same
    // inputs share one local image, which the other test's cleanup would remove.
    let version = tag
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    image_workspace(dir, &names, version);
    std::fs::write(
        dir.join("xtask.toml"),
        format!("[registry]\nproject = \"{project}\"\n"),
    )
    .unwrap();
    let registry = stack_var("STACK_REGISTRY");
    let built = BuiltImages(
        names
            .iter()
            .map(|n| format!("{registry}/{project}/{n}:latest"))
            .collect(),
    );
    (names, built)
}

/// `up --images-only` in `dir` with `user`/`password` from the environment (or none,
/// then the docker configuration at `docker_config` is used).
fn up(dir: &Path, project: &str, user: Option<(&str, &str)>, docker_config: &Path) -> Output {
    let mut cmd = common::xtask_process();
    cmd.current_dir(dir)
        .env(
            "XTASK_REGISTRY",
            format!("{}/{project}", stack_var("STACK_REGISTRY")),
        )
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("XTASK_PROFILE")
        .env_remove("XTASK_REGISTRY_USER")
        .env_remove("XTASK_REGISTRY_PASSWORD")
        .args(["up", "--images-only"]);
    if let Some((u, p)) = user {
        cmd.env("XTASK_REGISTRY_USER", u)
            .env("XTASK_REGISTRY_PASSWORD", p);
    }
    cmd.output().unwrap()
}

fn lock_len(dir: &Path) -> usize {
    kit_images::Lock::load(&dir.join("containers/images.lock"))
        .map(|l| l.images.len())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs tests/stack"]
fn docker_login_with_a_robot_then_up_pushes_and_pins_with_few_tokens() {
    let _turn = push_robot();
    let dir = tempfile::tempdir().unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let (names, _built) = images(dir.path(), "login", 2, "vcity");
    let user = stack_var("STACK_REGISTRY_USER");
    assert!(user.starts_with("robot$"), "{user}");
    let password = stack_var("STACK_REGISTRY_PASSWORD");
    let login = std::process::Command::new("sh")
        .args([
            "-c",
            "printf %s \"$P\" | docker login -u \"$U\" --password-stdin \"$R\"",
        ])
        .env("DOCKER_CONFIG", docker_config.path())
        .env("U", &user)
        .env("P", &password)
        .env("R", stack_var("STACK_REGISTRY"))
        .output()
        .unwrap();
    assert!(login.status.success(), "docker login: {}", text(&login));

    let before = stats();
    let started = Instant::now();
    let out = up(dir.path(), "vcity", None, docker_config.path());
    let took = started.elapsed();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(!shown.contains(&password), "never print a password");
    assert_eq!(lock_len(dir.path()), names.len(), "{shown}");
    let after = stats();
    let tokens = tokens_of(&after, &user) - tokens_of(&before, &user);
    println!(
        "up pushed {} images (3 layers of 3 MiB each) in {took:?} with {tokens} token request(s)",
        names.len()
    );
    // One token per scope (pull, push) per repository at most: never one per blob.
    assert!(
        tokens >= 1 && tokens <= 2 * names.len() as u64 + 1,
        "{tokens} token requests for {} repositories",
        names.len()
    );

    // The peer: `docker push` of one more image of the same shape, same registry.
    let (peer, _peer_built) = images(dir.path(), "peer", 1, "vcity");
    let reference = format!("{}/vcity/{}:latest", stack_var("STACK_REGISTRY"), peer[0]);
    let build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &reference])
        .arg(dir.path().join("containers").join(&peer[0]))
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build));
    let started = Instant::now();
    let push = std::process::Command::new("docker")
        .args(["push", "-q", &reference])
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", text(&push));
    println!(
        "docker push of 1 image of the same shape: {:?} (xtask up, {} images, build included: {took:?})",
        started.elapsed(),
        names.len()
    );
}

/// One `up` in a workspace of its own, as an account of tests/stack/env.
struct Attempt {
    out: Output,
    shown: String,
    user: String,
    names: Vec<String>,
    dir: tempfile::TempDir,
    _built: BuiltImages,
}

/// `up` of one image named after `tag` into `project`, as the account whose variables
/// are `STACK_REGISTRY_{account}_USER` / `_PASSWORD` (`None`: the push robot).
fn up_as(tag: &str, project: &str, account: Option<&str>) -> Attempt {
    let dir = tempfile::tempdir().unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let (names, built) = images(dir.path(), tag, 1, project);
    let var = |what: &str| match account {
        Some(a) => stack_var(&format!("STACK_REGISTRY_{a}_{what}")),
        None => stack_var(&format!("STACK_REGISTRY_{what}")),
    };
    let (user, password) = (var("USER"), var("PASSWORD"));
    let out = up(
        dir.path(),
        project,
        Some((&user, &password)),
        docker_config.path(),
    );
    let shown = text(&out);
    assert!(!shown.contains(&password), "never print a password");
    Attempt {
        out,
        shown,
        user,
        names,
        dir,
        _built: built,
    }
}

impl Attempt {
    /// Asserts that `up` failed with all of `texts` in its output, nothing pinned.
    fn refused_with(&self, texts: &[&str]) {
        assert_eq!(self.out.status.code(), Some(1), "{}", self.shown);
        for t in texts {
            assert!(self.shown.contains(t), "no {t:?} in:\n{}", self.shown);
        }
        assert_eq!(lock_len(self.dir.path()), 0, "nothing pinned");
    }
}

#[test]
#[ignore = "needs tests/stack"]
fn the_pull_only_robot_is_told_it_lacks_the_push_right() {
    let a = up_as("pullonly", "vcity", Some("PULL"));
    a.refused_with(&[
        "the credentials have no push right on this repository (granted: pull",
        &format!("give `{}` the push right on project `vcity`", a.user),
    ]);
    assert!(
        !a.shown.contains("authentication required\n"),
        "{}",
        a.shown
    );
    // Reading is its right: `images` looks the image up through the same token flow.
    let listed = common::xtask_process()
        .current_dir(a.dir.path())
        .env(
            "XTASK_REGISTRY",
            format!("{}/vcity", stack_var("STACK_REGISTRY")),
        )
        .env("XTASK_REGISTRY_USER", &a.user)
        .env(
            "XTASK_REGISTRY_PASSWORD",
            stack_var("STACK_REGISTRY_PULL_PASSWORD"),
        )
        .env_remove("XTASK_PROFILE")
        .args(["images", "--output", "json"])
        .output()
        .unwrap();
    let shown = text(&listed);
    assert!(listed.status.success(), "{shown}");
    assert!(shown.contains(&a.names[0]), "{shown}");
    assert!(!shown.contains("refused"), "{shown}");
}

#[test]
#[ignore = "needs tests/stack"]
fn a_user_without_rights_on_the_project_is_told_so() {
    let a = up_as("outsider", "vcity", Some("OUTSIDER"));
    a.refused_with(&[
        "the credentials have no push right on this repository (granted: nothing",
        "give `outsider` the push right on project `vcity`",
    ]);
}

#[test]
#[ignore = "needs tests/stack"]
fn a_missing_project_is_named_with_its_fix() {
    let _turn = push_robot();
    let a = up_as("noproject", "nope", None);
    a.refused_with(&[
        "the project `nope` does not exist (401: UNAUTHORIZED: project nope not found",
        "create the project `nope`",
    ]);
}

#[test]
#[ignore = "needs tests/stack"]
fn a_full_quota_is_explained() {
    let before = stats();
    let a = up_as("quota", "small", Some("QUOTA"));
    a.refused_with(&[
        "the project's storage quota is full",
        "will exceed the configured upper limit of 1.0 MiB",
        "ask the admins of project `small` to raise its quota",
    ]);
    assert!(refusals_of(&stats(), "quota_exceeded") > refusals_of(&before, "quota_exceeded"));
}

#[test]
#[ignore = "needs tests/stack"]
fn a_token_refused_mid_push_is_renewed_and_the_push_completes() {
    let before = stats();
    let a = up_as("expiry", "vcity", Some("SHORT"));
    assert!(a.out.status.success(), "{}", a.shown);
    assert_eq!(lock_len(a.dir.path()), a.names.len());
    let after = stats();
    let used_up = refusals_of(&after, "token_used_up") - refusals_of(&before, "token_used_up");
    let tokens = tokens_of(&after, &a.user) - tokens_of(&before, &a.user);
    println!("{used_up} token(s) refused as used up; {tokens} token requests");
    assert!(
        used_up >= 1,
        "no token expired during the push: the test proves nothing"
    );
    assert!(tokens > used_up, "{tokens} tokens for {used_up} refusals");
}

#[test]
#[ignore = "needs tests/stack"]
fn an_image_on_a_workspace_base_mounts_the_bases_layers_instead_of_uploading_them() {
    let _turn = push_robot();
    let dir = tempfile::tempdir().unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    // `base`: three 3 MiB layers of noise over the stack's base image; `app` FROM it,
    // plus a small file. Both go to `shared`, a project only this test pushes to.
    let (names, mut built) = images(dir.path(), "mount", 1, "shared");
    let registry = stack_var("STACK_REGISTRY");
    let base = format!("{registry}/shared/{}:latest", names[0]);
    let app = format!("{}-app", names[0]);
    let folder = dir.path().join("containers").join(&app);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("Dockerfile"),
        format!("FROM {base}\nCOPY own.txt /own.txt\n"),
    )
    .unwrap();
    std::fs::write(folder.join("own.txt"), format!("{app}\n")).unwrap();
    built.0.push(format!("{registry}/shared/{app}:latest"));
    let user = stack_var("STACK_REGISTRY_USER");
    let password = stack_var("STACK_REGISTRY_PASSWORD");

    let before = stats();
    let out = up(
        dir.path(),
        "shared",
        Some((&user, &password)),
        docker_config.path(),
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(lock_len(dir.path()), 2, "{shown}");
    let after = stats();
    let uploaded = after["uploads"]["bytes_by_project"]["shared"]
        .as_u64()
        .unwrap_or(0)
        - before["uploads"]["bytes_by_project"]["shared"]
            .as_u64()
            .unwrap_or(0);
    let mounted = after["mounts"]["mounted"].as_u64().unwrap_or(0)
        - before["mounts"]["mounted"].as_u64().unwrap_or(0);
    println!("two images on one 9 MiB base: {uploaded} bytes uploaded, {mounted} layers mounted");
    // the base's four layers (the stack's base image and a, b, c) are mounted into
    // app's repository: linked by the registry, not sent again
    assert!(mounted >= 4, "{mounted} mounts\n{shown}");
    let noise = 9u64 << 20;
    assert!(
        uploaded > noise && uploaded < noise + (2 << 20),
        "{uploaded} bytes uploaded: the base's layers once, app's own layer and configs \
         (uploading the base twice would be more than 18 MiB)\n{shown}"
    );
    let lines = shown
        .lines()
        .filter(|l| l.contains(&format!("mounted from shared/{}, not uploaded", names[0])))
        .count();
    assert!(lines >= 4, "each mount is told:\n{shown}");
}

#[test]
#[ignore = "needs tests/stack"]
fn a_robot_from_a_credential_helper_pushes() {
    let _turn = push_robot();
    let dir = tempfile::tempdir().unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let (names, _built) = images(dir.path(), "helper", 1, "vcity");
    let user = stack_var("STACK_REGISTRY_USER");
    let password = stack_var("STACK_REGISTRY_PASSWORD");
    // A credential helper, as `docker-credential-pass` or `-secretservice` would answer.
    let bin = tempfile::tempdir().unwrap();
    let secret = serde_json::json!({"ServerURL": stack_var("STACK_REGISTRY"), "Username": user, "Secret": password});
    std::fs::write(bin.path().join("answer.json"), secret.to_string()).unwrap();
    let helper = bin.path().join("docker-credential-xtasktest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat >/dev/null\ncat '{}'\n",
            bin.path().join("answer.json").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        docker_config.path().join("config.json"),
        serde_json::json!({"credHelpers": {stack_var("STACK_REGISTRY"): "xtasktest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = common::xtask_process()
        .current_dir(dir.path())
        .env("PATH", path)
        .env(
            "XTASK_REGISTRY",
            format!("{}/vcity", stack_var("STACK_REGISTRY")),
        )
        .env("DOCKER_CONFIG", docker_config.path())
        .env_remove("XTASK_PROFILE")
        .env_remove("XTASK_REGISTRY_USER")
        .env_remove("XTASK_REGISTRY_PASSWORD")
        .args(["up", "--images-only"])
        .output()
        .unwrap();
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(!shown.contains(&password), "never print a password");
    assert_eq!(lock_len(dir.path()), names.len());
}

#[test]
#[ignore = "needs tests/stack"]
fn doctor_checks_the_service_accounts_pull_secret() {
    let _turn = push_robot();
    let check = |sa: &str| -> serde_json::Value {
        let out = common::xtask_process()
            .env("ARGO_SERVICE_ACCOUNT", sa)
            .args(["doctor", "--output", "json"])
            .output()
            .unwrap();
        let all = text(&out);
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {all}"));
        report["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == "pull-secret"))
            .cloned()
            .unwrap_or_else(|| panic!("no pull-secret check: {all}"))
    };
    // The stack's workflow account pulls with the push robot's pull secret.
    let good = check(&stack_var("ARGO_SERVICE_ACCOUNT"));
    assert_eq!(good["outcome"], "pass", "{good}");
    // `default` has none.
    let bad = check("default");
    assert_eq!(bad["outcome"], "fail", "{bad}");
    assert!(
        bad["summary"]
            .as_str()
            .unwrap_or("")
            .contains("service account default has no image pull secret"),
        "{bad}"
    );
    assert!(
        bad["fix"]
            .as_str()
            .unwrap_or("")
            .contains("create secret docker-registry"),
        "{bad}"
    );
}

//! `cargo xtask doctor` against the local stack, as the namespaced user: green on the
//! healthy stack, and each thing broken on purpose is reported with its level and fix.

mod common;

use std::sync::Mutex;

use common::{admin_apply, admin_kubectl, stack_var, text, xtask};
use tempfile::TempDir;

/// Tests that stop the controller (or delete CRDs, images) and tests that expect a zero
/// exit must not overlap.
static CLUSTER_STATE: Mutex<()> = Mutex::new(());

/// Runs doctor with `--output json`, returning the exit code and the checks by id.
fn doctor(args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
    let mut cmd = xtask();
    cmd.args(["doctor", "-o", "json"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run doctor");
    let all = text(&out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code().unwrap_or(-1), json, all)
}

fn check<'a>(json: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    json["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {json:#}"))
}

fn assert_failed(json: &serde_json::Value, id: &str, level: &str, all: &str) {
    let c = check(json, id);
    assert_eq!(c["outcome"], "fail", "{id} should fail: {c:#}\n{all}");
    assert_eq!(c["level"], level, "{id} level: {c:#}");
    assert!(
        c["fix"].as_str().is_some_and(|f| !f.is_empty()),
        "{id} has no fix: {c:#}"
    );
}

#[test]
#[ignore = "needs tests/stack"]
fn healthy_stack_is_green() {
    let _guard = CLUSTER_STATE.lock().unwrap_or_else(|e| e.into_inner());
    let (code, json, all) = doctor(&["--canary"], &[]);
    assert_eq!(code, 0, "{all}");
    for id in [
        "api-server",
        "namespace",
        "argo-installed",
        "argo-controller",
        "user-rights",
        "service-account",
        "pvc",
        "configmap",
    ] {
        assert_eq!(check(&json, id)["outcome"], "pass", "{id}: {all}");
    }
    // The namespaced user may not list nodes: reported as such, not as a failure.
    assert_eq!(check(&json, "nodes")["outcome"], "could-not-check");
}

#[test]
#[ignore = "needs tests/stack"]
fn missing_pvc_configmap_and_service_account() {
    let (code, json, all) = doctor(
        &[
            "--volume-claim",
            "e2e-no-such-pvc",
            "--configmap",
            "e2e-no-such-cm",
            "--service-account",
            "e2e-no-such-sa",
        ],
        &[],
    );
    assert_eq!(code, 1, "{all}");
    assert_failed(&json, "pvc", "user", &all);
    assert_failed(&json, "configmap", "user", &all);
    assert_failed(&json, "service-account", "user", &all);
    assert!(
        check(&json, "pvc")["summary"]
            .as_str()
            .unwrap()
            .contains("e2e-no-such-pvc")
    );
}

#[test]
#[ignore = "needs tests/stack"]
fn pending_pvc_and_configmap_missing_a_key() {
    admin_apply(
        "apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: e2e-pending-pvc, namespace: argo}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: e2e-no-such-class
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: e2e-partial-proxy, namespace: argo}
data: {HTTP_PROXY: 'http://proxy:3128'}
",
    );
    let (code, json, all) = doctor(
        &[
            "--volume-claim",
            "e2e-pending-pvc",
            "--configmap",
            "e2e-partial-proxy",
        ],
        &[],
    );
    assert_eq!(code, 1, "{all}");
    assert_failed(&json, "pvc", "user", &all);
    assert!(
        check(&json, "pvc")["summary"]
            .as_str()
            .unwrap()
            .contains("Pending"),
        "{all}"
    );
    assert_failed(&json, "configmap", "user", &all);
    assert!(
        check(&json, "configmap")["summary"]
            .as_str()
            .unwrap()
            .contains("https_proxy"),
        "{all}"
    );
}

#[test]
#[ignore = "needs tests/stack"]
fn fix_creates_the_missing_pvc_and_configmap() {
    let _ = admin_kubectl(&[
        "-n",
        "argo",
        "delete",
        "pvc,configmap",
        "e2e-fix-pvc",
        "e2e-fix-cm",
        "--ignore-not-found",
    ]);
    let (_, json, all) = doctor(
        &[
            "--fix",
            "--volume-claim",
            "e2e-fix-pvc",
            "--configmap",
            "e2e-fix-cm",
        ],
        &[],
    );
    assert_eq!(check(&json, "configmap")["outcome"], "pass", "{all}");
    let pvc = check(&json, "pvc")["summary"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        pvc.contains("e2e-fix-pvc") && !pvc.contains("does not exist"),
        "{all}"
    );
    // Idempotent: a second --fix changes nothing and says so.
    let (_, json2, _) = doctor(
        &[
            "--fix",
            "--volume-claim",
            "e2e-fix-pvc",
            "--configmap",
            "e2e-fix-cm",
        ],
        &[],
    );
    assert_eq!(check(&json2, "configmap")["outcome"], "pass");
    let _ = admin_kubectl(&[
        "-n",
        "argo",
        "delete",
        "pvc,configmap",
        "e2e-fix-pvc",
        "e2e-fix-cm",
        "--ignore-not-found",
        "--wait=false",
    ]);
}

/// A kubeconfig for the stack's API server with a bearer token instead of the user's
/// certificate.
fn token_kubeconfig(dir: &TempDir, token: &str, server_override: Option<&str>) -> String {
    let user = std::fs::read_to_string(stack_var("KUBECONFIG")).unwrap();
    let field = |name: &str| {
        user.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{name} not in the user kubeconfig"))
    };
    let server = server_override
        .map(str::to_string)
        .unwrap_or_else(|| field("server:"));
    let ca = field("certificate-authority-data:");
    let yaml = format!(
        "apiVersion: v1
kind: Config
clusters: [{{name: stack, cluster: {{server: '{server}', certificate-authority-data: {ca}}}}}]
users: [{{name: e2e, user: {{token: '{token}'}}}}]
contexts: [{{name: e2e, context: {{cluster: stack, user: e2e, namespace: argo}}}}]
current-context: e2e
"
    );
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

#[test]
#[ignore = "needs tests/stack"]
fn wrong_token_is_refused_at_user_level() {
    let dir = TempDir::new().unwrap();
    let kubeconfig = token_kubeconfig(&dir, "not-a-valid-token", None);
    let (code, json, all) = doctor(&[], &[("KUBECONFIG", &kubeconfig)]);
    assert_eq!(code, 1, "{all}");
    assert_failed(&json, "api-server", "user", &all);
    assert!(!all.contains("not-a-valid-token"), "the token was printed");
}

#[test]
#[ignore = "needs tests/stack"]
fn closed_port_is_reported_as_unreachable() {
    let dir = TempDir::new().unwrap();
    let kubeconfig = token_kubeconfig(&dir, "x", Some("https://127.0.0.1:1"));
    let (code, json, all) = doctor(&[], &[("KUBECONFIG", &kubeconfig)]);
    assert_eq!(code, 1, "{all}");
    assert_failed(&json, "api-server", "kubernetes", &all);
    assert!(
        check(&json, "api-server")["evidence"]
            .to_string()
            .contains("127.0.0.1:1")
            || all.contains("refused"),
        "{all}"
    );
}

#[test]
#[ignore = "needs tests/stack"]
fn user_without_rights_is_told_which_ones() {
    admin_apply(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: e2e-no-rights, namespace: argo}\n",
    );
    let out = admin_kubectl(&[
        "-n",
        "argo",
        "create",
        "token",
        "e2e-no-rights",
        "--duration",
        "10m",
    ]);
    assert!(
        out.status.success(),
        "create token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let dir = TempDir::new().unwrap();
    let kubeconfig = token_kubeconfig(&dir, &token, None);
    let (code, json, all) = doctor(&[], &[("KUBECONFIG", &kubeconfig)]);
    assert_eq!(code, 1, "{all}");
    assert_failed(&json, "user-rights", "user", &all);
    assert!(
        check(&json, "user-rights")["evidence"]
            .to_string()
            .contains("create workflows.argoproj.io"),
        "{all}"
    );
    assert!(!all.contains(&token), "the token was printed");
}

#[test]
#[ignore = "needs tests/stack"]
fn stopped_controller_fails_the_canary() {
    let _guard = CLUSTER_STATE.lock().unwrap_or_else(|e| e.into_inner());
    let script = common::workspace_root().join("tests/stack/cluster/controller");
    let state = stack_var("STACK_DIR");
    let control = |verb: &str| {
        let status = std::process::Command::new(&script)
            .args([state.as_str(), verb])
            .status()
            .unwrap();
        assert!(status.success(), "controller {verb}");
    };
    control("stop");
    let result = std::panic::catch_unwind(|| {
        let (code, json, all) = doctor(&["--canary"], &[("XTASK_CONTROLLER_GRACE_SECS", "3")]);
        assert_eq!(code, 1, "{all}");
        assert_failed(&json, "argo-controller", "argo-server", &all);
    });
    control("start");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
#[ignore = "needs tests/stack"]
fn image_deleted_from_the_registry_is_reported_and_up_restores_it() {
    let _guard = CLUSTER_STATE.lock().unwrap_or_else(|e| e.into_inner());
    let up = xtask()
        .args(["up", "--images-only", "demo-collect"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", text(&up));
    let lock =
        std::fs::read_to_string(common::workspace_root().join("containers/images.lock")).unwrap();
    let digest = lock
        .split("[images.demo-collect]")
        .nth(1)
        .and_then(|rest| {
            rest.lines()
                .find_map(|l| l.trim().strip_prefix("digest = "))
        })
        .map(|d| d.trim_matches('"').to_string())
        .expect("demo-collect in the lock file");
    // Delete the manifest behind the lock's back, as a registry clean-up would: with a
    // token for the delete right, as Harbor wants it.
    let registry = stack_var("STACK_REGISTRY");
    let ca = stack_var("STACK_REGISTRY_CA");
    let token = std::process::Command::new("curl")
        .args(["-sf", "--cacert", &ca, "-G"])
        .args([
            "-u",
            &format!(
                "{}:{}",
                stack_var("STACK_REGISTRY_USER"),
                stack_var("STACK_REGISTRY_PASSWORD")
            ),
        ])
        .args([
            "--data-urlencode",
            "service=harbor-registry",
            "--data-urlencode",
            "scope=repository:vcity/demo-collect:delete",
        ])
        .arg(format!("https://{registry}/service/token"))
        .output()
        .unwrap();
    assert!(token.status.success(), "no token for the delete");
    let token: serde_json::Value = serde_json::from_slice(&token.stdout).unwrap();
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "DELETE", "--cacert", &ca])
        .args([
            "-H",
            &format!(
                "Authorization: Bearer {}",
                token["token"].as_str().unwrap_or("")
            ),
        ])
        .arg(format!(
            "https://{registry}/v2/vcity/demo-collect/manifests/{digest}"
        ))
        .status()
        .unwrap();
    assert!(status.success(), "registry refused the delete");

    let (code, json, all) = doctor(&[], &[]);
    assert_eq!(code, 1, "{all}");
    assert_failed(&json, "workflow-images", "user", &all);
    assert!(
        check(&json, "workflow-images")["evidence"]
            .to_string()
            .contains("demo-collect"),
        "{all}"
    );

    let up = xtask()
        .args(["up", "--images-only", "demo-collect"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", text(&up));
    let (_, json, all) = doctor(&[], &[]);
    assert_ne!(check(&json, "workflow-images")["outcome"], "fail", "{all}");
}

#[test]
#[ignore = "needs tests/stack"]
fn missing_argo_crds_are_an_argo_server_problem() {
    let _guard = CLUSTER_STATE.lock().unwrap_or_else(|e| e.into_inner());
    let deleted = admin_kubectl(&["delete", "crd", "workflows.argoproj.io", "--wait=true"]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let result = std::panic::catch_unwind(|| {
        let (code, json, all) = doctor(&[], &[]);
        assert_eq!(code, 1, "{all}");
        assert_failed(&json, "argo-installed", "argo-server", &all);
    });
    // Put Argo back as `tests/stack/up` leaves it: CRDs, then a controller that sees them.
    let cluster_up = common::workspace_root().join("tests/stack/cluster/up");
    let state = stack_var("STACK_DIR");
    let status = std::process::Command::new(&cluster_up)
        .arg(&state)
        .status()
        .unwrap();
    assert!(status.success(), "restoring the stack");
    let restart = common::workspace_root().join("tests/stack/cluster/controller");
    let status = std::process::Command::new(&restart)
        .args([state.as_str(), "restart"])
        .status()
        .unwrap();
    assert!(status.success(), "restarting the controller");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
#[ignore = "needs tests/stack"]
fn read_write_once_claim_warns_when_workflows_run_parallel_steps() {
    // Asserts a zero exit, so the controller must not be stopped by another test meanwhile.
    let _guard = CLUSTER_STATE.lock().unwrap_or_else(|e| e.into_inner());
    admin_apply(
        "apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-rwo-pv}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: e2e-rwo
  hostPath: {path: /tmp/e2e-rwo}
  claimRef: {namespace: argo, name: e2e-rwo-pvc}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: e2e-rwo-pvc, namespace: argo}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: e2e-rwo
  volumeName: e2e-rwo-pv
  resources: {requests: {storage: 1Gi}}
",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let phase = admin_kubectl(&[
            "-n",
            "argo",
            "get",
            "pvc",
            "e2e-rwo-pvc",
            "-o",
            "jsonpath={.status.phase}",
        ]);
        if String::from_utf8_lossy(&phase.stdout) == "Bound" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "e2e-rwo-pvc never bound"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // workflows/demo.yaml loops over boroughs on the claim.
    let (code, json, all) = doctor(&["--volume-claim", "e2e-rwo-pvc"], &[]);
    assert_eq!(code, 0, "a warning is not a failure: {all}");
    let pvc = check(&json, "pvc");
    assert_eq!(pvc["outcome"], "warn", "{all}");
    assert!(
        pvc["fix"].as_str().unwrap_or("").contains("ReadWriteMany"),
        "{all}"
    );
}

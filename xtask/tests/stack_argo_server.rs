//! The Argo Server as the only way in, against the stack's own (tests/stack/ARGO-SERVER.md):
//! every wrong setting gets its own message, `doctor` is honest about what it cannot
//! see, commands that need the Kubernetes API say so, and a follow survives a server
//! restart. The run, watch and diagnose scenarios themselves run through the server in
//! the second pass of tests/run-all (XTASK_TEST_VIA=argo-server).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{argo_server_only, json_lines, stack_var, text, xtask_process};
use tempfile::TempDir;

/// A variable set (`Some`) or removed (`None`).
type Change<'a> = (&'a str, Option<&'a str>);

/// `cargo xtask` with the Argo Server as its only way in, then `changes` applied.
fn through_server(changes: &[Change<'_>]) -> std::process::Command {
    let mut cmd = xtask_process();
    argo_server_only(&mut cmd);
    for (name, value) in changes {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd
}

/// A server that answers anything with a plain-HTTP 400, as a non-TLS service would.
fn plain_http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

#[test]
#[ignore = "needs tests/stack"]
fn each_wrong_setting_gets_its_own_message_and_the_token_is_never_printed() {
    let token = stack_var("STACK_ARGO_TOKEN");
    let plain = format!("127.0.0.1:{}", plain_http_server());
    // (what is wrong, the settings changed, words the message must hold, exit code: 2 for
    // a setting to change, 1 for a server that may come back)
    let cases: Vec<(&str, Vec<Change>, &[&str], i32)> = vec![
        (
            "a token the API server refuses",
            vec![(
                "ARGO_TOKEN",
                Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"),
            )],
            &["refused the token", "Using your login with the CLI"],
            2,
        ),
        (
            "a namespace the token may not use",
            vec![("ARGO_NAMESPACE", Some("default"))],
            &["namespace default", "system:serviceaccount:argo:vcity-cli"],
            2,
        ),
        (
            "a base href the server does not have",
            vec![("ARGO_BASE_HREF", Some("/argo/"))],
            &["is not the Argo Server's API", "ARGO_BASE_HREF"],
            2,
        ),
        (
            "plain HTTP to the TLS server",
            vec![("ARGO_SECURE", Some("false"))],
            &["expects TLS", "ARGO_SECURE=true"],
            2,
        ),
        (
            "a name the certificate does not carry",
            vec![("ARGO_SERVER", Some("127.0.0.2:2746"))],
            &[
                "not issued for 127.0.0.2",
                "use the name the certificate carries",
            ],
            2,
        ),
        (
            "a CA that is not given",
            vec![("XTASK_ARGO_SERVER_CA", None)],
            &["is not trusted", "--argo-server-ca"],
            2,
        ),
        (
            "a port where nothing listens",
            vec![("ARGO_SERVER", Some("127.0.0.1:1"))],
            &["nothing answers", "2746"],
            1,
        ),
        (
            "TLS to a plain-HTTP server",
            vec![("ARGO_SERVER", Some(plain.as_str()))],
            &["answers plain HTTP", "ARGO_SECURE=false"],
            2,
        ),
    ];
    for (label, changes, words, code) in cases {
        let out = through_server(&changes)
            .args(["watch", "no-such-workflow"])
            .output()
            .unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "{label}: {all}");
        for word in words {
            assert!(all.contains(word), "{label}: no {word:?} in {all}");
        }
        assert!(!all.contains(&token), "{label}: the token was printed");
        assert!(!all.contains("panicked"), "{label}: {all}");
    }
}

#[test]
#[ignore = "needs tests/stack"]
fn tokens_work_with_or_without_their_bearer_prefix() {
    let token = stack_var("STACK_ARGO_TOKEN");
    for given in [token.clone(), format!("Bearer {token}")] {
        let out = through_server(&[("ARGO_TOKEN", Some(given.as_str()))])
            .args(["doctor", "-o", "json"])
            .output()
            .unwrap();
        let all = text(&out);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect(&all);
        let token_check = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "token")
            .cloned()
            .unwrap_or_default();
        assert_eq!(token_check["outcome"], "pass", "{all}");
    }
}

#[test]
#[ignore = "needs tests/stack"]
fn doctor_checks_what_the_server_shows_and_never_passes_what_it_cannot_see() {
    let out = through_server(&[])
        .args(["doctor", "-o", "json"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect(&all);
    assert_eq!(doc["via"], "argo-server", "{all}");
    assert!(
        doc["via_reason"].as_str().unwrap().contains("ARGO_SERVER"),
        "{all}"
    );
    let outcome = |id: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["outcome"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(outcome("argo-server").as_deref(), Some("pass"), "{all}");
    assert_eq!(outcome("token").as_deref(), Some("pass"), "{all}");
    for unseen in [
        "service-account",
        "pvc",
        "configmap",
        "nodes",
        "executor-rights",
    ] {
        assert_eq!(
            outcome(unseen).as_deref(),
            Some("could-not-check"),
            "{unseen}: {all}"
        );
    }
    // The canary goes through the server too.
    let out = through_server(&[])
        .args(["doctor", "--canary"])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(
        all.contains("the workflow-controller acted on canary"),
        "{all}"
    );
}

#[test]
#[ignore = "needs tests/stack"]
fn commands_that_need_the_kubernetes_api_say_so_and_how_to_get_it() {
    for args in [vec!["fetch-results"], vec!["up"], vec!["doctor", "--fix"]] {
        let out = through_server(&[]).args(&args).output().unwrap();
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(
            all.contains("needs the Kubernetes API") || all.contains("only the Kubernetes API"),
            "{args:?}: {all}"
        );
        assert!(all.contains("Rancher"), "{args:?}: {all}");
        assert!(!all.contains("panicked"), "{args:?}: {all}");
    }
}

#[test]
#[ignore = "needs tests/stack"]
fn the_follow_resumes_when_the_server_restarts_mid_run() {
    let dir = TempDir::new().unwrap();
    let file = common::one_step_workflow(
        dir.path(),
        "e2e-server-restart",
        "",
        &common::pod_image(),
        "sleep 12; echo done",
        "",
    );
    let mut child = through_server(&[])
        .args(["run", "--no-pin", "-o", "json", "--timeout", "120"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = vec![];
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"type\":\"step\"") && line.contains("Running") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    // Restart once the step runs: the streams break mid-run.
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the step never ran");
    let restart = std::process::Command::new(stack_var("STACK_ARGO_SERVER_RESTART"))
        .output()
        .unwrap();
    assert!(restart.status.success(), "{}", text(&restart));
    let restarted = Instant::now();
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let all = format!("{}\n--- stderr\n{stderr}", lines.join("\n"));
    assert_eq!(status.code(), Some(0), "{all}");
    let output = std::process::Output {
        status,
        stdout: lines.join("\n").into_bytes(),
        stderr: vec![],
    };
    let events = json_lines(&output);
    assert!(
        events
            .iter()
            .any(|l| l["type"] == "end" && l["phase"] == "Succeeded"),
        "{all}"
    );
    assert!(
        events.iter().any(|l| l["type"] == "note"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("resuming"))),
        "the broken stream was not noticed: {all}"
    );
    assert!(restarted.elapsed() < Duration::from_secs(60), "{all}");
}

#[test]
#[ignore = "needs tests/stack"]
fn lint_asks_the_servers_own_lint_after_ours() {
    let dir = TempDir::new().unwrap();
    // Ours cannot know the cluster's WorkflowTemplates; the server's lint does.
    let file = dir.path().join("missing-ref.yaml");
    std::fs::write(
        &file,
        "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: lint-ref-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: call
        templateRef: {name: no-such-template, template: greet}
",
    )
    .unwrap();
    let out = through_server(&[]).arg("lint").arg(&file).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("the Argo Server's lint refused it")
            && all.contains("no-such-template.greet not found"),
        "{all}"
    );
    // A workflow both lints accept passes.
    let out = through_server(&[]).args(["lint", "demo"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
#[ignore = "needs tests/stack"]
fn insecure_skip_verify_trusts_the_server_without_its_ca() {
    let out = through_server(&[
        ("XTASK_ARGO_SERVER_CA", None),
        ("ARGO_INSECURE_SKIP_VERIFY", Some("true")),
    ])
    .args(["doctor", "-o", "json"])
    .output()
    .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
}

/// A token that stops working mid-run (an SSO token expires after about 10 hours; here
/// its service account is deleted): the follow stops with one line saying so, exit 1,
/// instead of retrying forever.
#[test]
#[ignore = "needs tests/stack"]
fn a_token_revoked_mid_run_stops_the_follow_with_how_to_get_a_fresh_one() {
    let sa = format!("e2e-revoked-{}", std::process::id());
    common::admin_apply(&format!(
        "apiVersion: v1
kind: ServiceAccount
metadata: {{name: {sa}, namespace: argo}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {sa}, namespace: argo}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: vcity-user}}
subjects:
- {{kind: ServiceAccount, name: {sa}, namespace: argo}}
"
    ));
    let minted = common::admin_kubectl(&["-n", "argo", "create", "token", &sa]);
    assert!(minted.status.success(), "{}", text(&minted));
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_string();
    let dir = TempDir::new().unwrap();
    let file = common::one_step_workflow(
        dir.path(),
        "e2e-revoked",
        "",
        &common::pod_image(),
        "sleep 45",
        "",
    );
    let mut child = through_server(&[("ARGO_TOKEN", Some(token.as_str()))])
        .args(["run", "--no-pin", "-o", "json", "--timeout", "120"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = vec![];
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"type\":\"submitted\"") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("nothing was submitted");
    // The identity behind the token goes away; the next request is refused.
    let deleted = common::admin_kubectl(&["-n", "argo", "delete", "serviceaccount", &sa]);
    assert!(deleted.status.success(), "{}", text(&deleted));
    // The API server keeps a token's verdict for 10 s; the open stream lives on until
    // the server's watch ends: past that cache, a restart ends it now.
    std::thread::sleep(Duration::from_secs(12));
    let restart = std::process::Command::new(stack_var("STACK_ARGO_SERVER_RESTART"))
        .output()
        .unwrap();
    assert!(restart.status.success(), "{}", text(&restart));
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let all = format!("{}\n--- stderr\n{stderr}", lines.join("\n"));
    let _ = common::admin_kubectl(&["-n", "argo", "delete", "rolebinding", &sa]);
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(
        stderr.contains("refused the token") && stderr.contains("Using your login with the CLI"),
        "{all}"
    );
    assert!(!all.contains(&token), "the token was printed");
    // The workflow itself was left alone.
    if let Some(name) = json_lines(&std::process::Output {
        status,
        stdout: lines.join("\n").into_bytes(),
        stderr: vec![],
    })
    .iter()
    .find(|l| l["type"] == "submitted")
    .and_then(|l| l["name"].as_str())
    {
        let _ = common::admin_kubectl(&["-n", "argo", "delete", "workflow", name, "--wait=false"]);
    }
}

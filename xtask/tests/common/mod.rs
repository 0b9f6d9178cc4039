//! Shared by the end-to-end tests that run against the local stack (tests/stack).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The documented contract of the JSON lines (`docs/json-output.md`).
#[path = "../../src/events.rs"]
mod events;
pub use events::Event;

/// The stack's environment, as `eval "$(tests/stack/env)"` exports it. The tests need
/// the real stack: a missing one is a failure with the command that fixes it.
pub fn stack_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: bring the stack up and export its settings first: tests/stack/up && eval \"$(tests/stack/env)\"")
    })
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Whether the commands under test go through the Argo Server: `tests/run-all` runs the
/// run/watch/diagnose tests a second time with `XTASK_TEST_VIA=argo-server`.
pub fn via_argo_server() -> bool {
    std::env::var("XTASK_TEST_VIA").is_ok_and(|v| v == "argo-server")
}

/// `cargo xtask` in the workspace, with short grace periods so faults show in seconds,
/// as a std command (for tests that need the process while it runs). Under
/// [`via_argo_server`], the command has no kubeconfig, only the stack's Argo Server and
/// its token, as a user without Kubernetes access.
pub fn xtask_process() -> std::process::Command {
    stack_var("KUBECONFIG");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(workspace_root())
        .env("XTASK_STALL_GRACE_SECS", "4")
        .env("XTASK_CONTROLLER_GRACE_SECS", "4")
        .env_remove("NO_COLOR");
    if via_argo_server() {
        argo_server_only(&mut cmd);
    }
    cmd
}

/// Gives a command the Argo Server as its only way in: no KUBECONFIG, a home without
/// `.kube`, the server's address, CA and token.
pub fn argo_server_only(cmd: &mut std::process::Command) {
    let home = std::env::temp_dir().join("xtask-test-home-without-kube");
    std::fs::create_dir_all(&home).expect("a temporary home");
    cmd.env_remove("KUBECONFIG")
        .env("HOME", &home)
        .env("ARGO_SERVER", stack_var("STACK_ARGO_SERVER"))
        .env("ARGO_TOKEN", stack_var("STACK_ARGO_TOKEN"))
        .env("XTASK_ARGO_SERVER_CA", stack_var("STACK_ARGO_SERVER_CA"));
}

/// The same, run to completion with assert_cmd.
pub fn xtask() -> Command {
    Command::from(xtask_process())
}

/// The JSON lines a command printed on stdout. Every event line (one with a `type`) must
/// be one of the documented [`Event`]s with exactly its fields: a test that reads a
/// command's lines also checks them against the contract.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for line in lines.iter().filter(|l| l.get("type").is_some()) {
        if let Err(err) = serde_json::from_value::<Event>(line.clone()) {
            panic!("a JSON line does not follow docs/json-output.md ({err}): {line}");
        }
    }
    lines
}

/// The top-level keys of a command's JSON document, sorted: each command's set is its
/// contract (docs/json-output.md), so a test compares it whole.
pub fn document_keys(document: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = document
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

pub fn text(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// kubectl as the stack's admin, for setting up faults the user could not cause.
pub fn admin_kubectl(args: &[&str]) -> Output {
    std::process::Command::new("kubectl")
        .env("KUBECONFIG", stack_var("STACK_ADMIN_KUBECONFIG"))
        .args(args)
        .output()
        .expect("kubectl on PATH (tests/stack/env puts it there)")
}

pub fn admin_apply(yaml: &str) {
    let mut child = std::process::Command::new("kubectl")
        .env("KUBECONFIG", stack_var("STACK_ADMIN_KUBECONFIG"))
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "kubectl apply failed:\n{yaml}"
    );
}

/// The base image as pods pull it from the stack registry (the real node pulls it;
/// kwok never does).
pub fn pod_image() -> String {
    std::env::var("STACK_POD_IMAGE").unwrap_or_else(|_| "127.0.0.1:5443/stack/busybox:1".into())
}

/// A one-step workflow whose step carries a stack fault label (or none), written to a
/// temporary file.
pub fn fault_workflow(dir: &Path, fault: Option<&str>, container_extra: &str) -> PathBuf {
    let label = fault
        .map(|f| format!("    metadata:\n      labels:\n        stack.test/fault: {f}\n"))
        .unwrap_or_default();
    one_step_workflow(
        dir,
        &format!("e2e-{}", fault.unwrap_or("plain")),
        &label,
        &pod_image(),
        "echo working",
        container_extra,
    )
}

/// A workflow of one step `work`, written to DIR/NAME.yaml: TEMPLATE_METADATA (YAML lines
/// of the template, e.g. its labels) and CONTAINER_EXTRA (lines under `container:`, or
/// spec-level lines at two spaces) are inserted as given.
pub fn one_step_workflow(
    dir: &Path,
    name: &str,
    template_metadata: &str,
    image: &str,
    command: &str,
    container_extra: &str,
) -> PathBuf {
    let yaml = format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: {name}-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: work
        template: work
  - name: work
{template_metadata}    container:
      image: {image}
      command: [sh, -c, '{command}']
{container_extra}"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("write workflow");
    path
}

/// `cargo xtask` run in DIR with a clean environment and HOME there: no stack, no user
/// files, for the tests of the command line alone.
pub fn offline_xtask(dir: &tempfile::TempDir) -> Command {
    let mut cmd = Command::cargo_bin("xtask").expect("xtask binary");
    cmd.current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path());
    cmd
}

/// Writes DIR/NAME.
pub fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) {
    std::fs::write(dir.path().join(name), text).expect("write fixture");
}
/// Incompressible bytes, different for each seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A workspace of its own (the repository's lock file is left alone) with `names`,
/// each an image of three 3 MiB layers over the stack's base image.
pub fn image_workspace(dir: &Path, names: &[String], version: u64) {
    std::fs::write(dir.join("xtask.toml"), "[registry]\nproject = \"vcity\"\n").unwrap();
    for (i, name) in names.iter().enumerate() {
        let folder = dir.join("containers").join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("Dockerfile"),
            format!(
                "FROM {}\nCOPY a /a\nCOPY b /b\nCOPY c /c\n",
                stack_var("STACK_BASE_IMAGE")
            ),
        )
        .unwrap();
        for (j, layer) in ["a", "b", "c"].iter().enumerate() {
            let seed = (u64::from(std::process::id()) << 20)
                .wrapping_add(version.wrapping_mul(1000))
                .wrapping_add(i as u64 * 10 + j as u64);
            std::fs::write(folder.join(layer), noise(3 << 20, seed)).unwrap();
        }
    }
}

/// Removes the test's images from the local engine, also when the test fails.
pub struct BuiltImages(pub Vec<String>);

impl Drop for BuiltImages {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .arg("rmi")
            .args(&self.0)
            .output();
    }
}

/// The headless browser the report tests read pages with (Debian's
/// `chromium-headless-shell`, or a full `chromium`).
pub fn browser() -> PathBuf {
    ["chromium-headless-shell", "chromium"]
        .iter()
        .filter_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .next()
        .expect("no chromium-headless-shell or chromium on PATH: tests/stack/up installs it")
}

/// Loads a report page in the headless browser, as a person would open it, and reads
/// what it rendered through the browser's DOM and layout: the page is framed by a probe
/// page whose script measures it. Also keeps a screenshot at `screenshot`.
pub fn inspect_in_browser(page: &Path, screenshot: &Path) -> serde_json::Value {
    let dir = page.parent().expect("the page is in a folder");
    let name = page.file_name().unwrap().to_string_lossy();
    let probe = dir.join("browser-probe.html");
    std::fs::write(
        &probe,
        format!(
            r#"<!doctype html><html><body><iframe id="f" src="{name}" width="1300" height="900"></iframe>
<pre id="result"></pre><script>
document.getElementById('f').addEventListener('load', () => {{
  const d = document.getElementById('f').contentDocument;
  const all = (q) => [...d.querySelectorAll(q)];
  const wide = (e) => e.getBoundingClientRect().width > 0;
  document.getElementById('result').textContent = JSON.stringify({{
    title: d.title,
    phase: (d.querySelector('h1 .phase') || {{}}).textContent,
    bars: all('g.bar').length,
    visible_bars: all('g.bar').filter(wide).length,
    bar_labels: all('g.bar text.label').map(t => t.textContent),
    bands: all('g.band').length,
    critical: all('g.bar.critical').length,
    findings: all('article.finding h3').map(h => h.textContent),
    finding_links: all('article.finding h3 a').map(a => a.getAttribute('href')),
    marks: all('.finding-mark').length,
    time_shares: (d.getElementById('time-shares') || {{}}).textContent || null,
    images: all('table.images tr').length - 1,
    parameters: all('table.params tr').length - 1,
    rerun: (d.querySelector('code.rerun') || {{}}).textContent || null,
    results: (d.getElementById('results') || {{}}).textContent || null,
    external: all('[src],link[href],script').length,
    svg_height: (d.querySelector('svg.gantt') || {{getBoundingClientRect: () => ({{height: 0}})}}).getBoundingClientRect().height,
  }});
}});
</script></body></html>"#
        ),
    )
    .expect("write the probe page");
    let url = |p: &Path| format!("file://{}", std::fs::canonicalize(p).unwrap().display());
    let dom = std::process::Command::new(browser())
        .args([
            "--no-sandbox",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(url(&probe))
        .output()
        .expect("run the headless browser");
    let html = String::from_utf8_lossy(&dom.stdout);
    let json = html
        .split("<pre id=\"result\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe page did not report: {}", text(&dom)));
    // The DOM dump escapes the text it holds.
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let shot = std::process::Command::new(browser())
        .args([
            "--no-sandbox",
            "--hide-scrollbars",
            "--window-size=1300,1100",
        ])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(url(page))
        .output()
        .expect("run the headless browser");
    assert!(
        screenshot.is_file(),
        "no screenshot of {}: {}",
        page.display(),
        text(&shot)
    );
    let _ = std::fs::remove_file(&probe);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

//! Human and machine reports of resolved settings. Secrets show as `***`.

use std::path::Path;

use serde_json::{Value, json};

use crate::origin::{Origin, Sourced};
use crate::settings::{Resolved, Settings};

pub(crate) struct Row<'a> {
    pub name: &'static str,
    /// `None`: unset.
    pub value: Option<(String, Value)>,
    pub origin: Option<&'a Origin>,
}

fn path_text(p: &Path) -> String {
    p.display().to_string()
}

fn some<'a, T>(
    name: &'static str,
    v: &'a Option<Sourced<T>>,
    show: impl Fn(&T) -> (String, Value),
) -> Row<'a> {
    Row {
        name,
        value: v.as_ref().map(|s| show(&s.value)),
        origin: v.as_ref().map(|s| &s.origin),
    }
}

fn set<'a, T>(
    name: &'static str,
    v: &'a Sourced<T>,
    show: impl Fn(&T) -> (String, Value),
) -> Row<'a> {
    Row {
        name,
        value: Some(show(&v.value)),
        origin: Some(&v.origin),
    }
}

fn string<S: AsRef<str>>(s: &S) -> (String, Value) {
    let s = s.as_ref().to_owned();
    (s.clone(), Value::String(s))
}

fn masked<T>(_: &T) -> (String, Value) {
    ("***".into(), Value::String("***".into()))
}

fn boolean(b: &bool) -> (String, Value) {
    (b.to_string(), Value::Bool(*b))
}

fn number<T: Copy + Into<u64>>(n: &T) -> (String, Value) {
    let n: u64 = (*n).into();
    (n.to_string(), json!(n))
}

/// Every setting, in report order.
pub(crate) fn rows(s: &Settings) -> Vec<Row<'_>> {
    vec![
        some("profile", &s.profile, string),
        some("kubeconfig", &s.kubeconfig, |v| {
            let texts: Vec<String> = v.iter().map(|p| path_text(p)).collect();
            (texts.join(":"), json!(texts))
        }),
        some("kube_context", &s.kube_context, string),
        some("configmap_name", &s.configmap_name, string),
        some("volume_claim_name", &s.volume_claim_name, string),
        some("argo_server", &s.argo_server, string),
        set("argo_namespace", &s.argo_namespace, string),
        some("argo_service_account", &s.argo_service_account, string),
        some("argo_token", &s.argo_token, masked),
        set(
            "argo_insecure_skip_verify",
            &s.argo_insecure_skip_verify,
            boolean,
        ),
        set("argo_secure", &s.argo_secure, boolean),
        some("argo_base_href", &s.argo_base_href, string),
        some("argo_server_ca", &s.argo_server_ca, |p| {
            (path_text(p), Value::String(path_text(p)))
        }),
        set("via", &s.via, |v| (v.to_string(), json!(v.to_string()))),
        some("registry", &s.registry, |r| {
            (r.to_string(), json!({"host": r.host, "project": r.project}))
        }),
        some("registry_user", &s.registry_user, string),
        some("registry_password", &s.registry_password, masked),
        some("registry_ca_file", &s.registry_ca_file, |p| {
            (path_text(p), Value::String(path_text(p)))
        }),
        set("registry_plain_http", &s.registry_plain_http, boolean),
        set("results_dir", &s.results_dir, |p| {
            (path_text(p), Value::String(path_text(p)))
        }),
        set("pvc_mount_path", &s.pvc_mount_path, string),
        set("build_parallelism", &s.build_parallelism, |n| {
            (n.to_string(), json!(n))
        }),
        set("pull_base_images", &s.pull_base_images, boolean),
        set("hera_version", &s.hera_version, string),
        set(
            "timeouts.stall_grace_secs",
            &s.timeouts.stall_grace_secs,
            number,
        ),
        set(
            "timeouts.controller_grace_secs",
            &s.timeouts.controller_grace_secs,
            number,
        ),
        some(
            "timeouts.run_timeout_secs",
            &s.timeouts.run_timeout_secs,
            number,
        ),
        set("mirrors", &s.mirrors, |m| {
            let text = if m.is_empty() {
                "(none)".to_owned()
            } else {
                m.iter()
                    .map(|x| match &x.target_name {
                        Some(n) => format!("{} as {n}", x.source),
                        None => x.source.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            (text, json!(m))
        }),
    ]
}

/// A text table (setting, value, origin), then warnings and the sources looked at.
pub fn render_table(resolved: &Resolved) -> String {
    let rows = rows(&resolved.settings);
    let cells: Vec<[String; 3]> = rows
        .iter()
        .map(|r| {
            [
                r.name.to_owned(),
                r.value
                    .as_ref()
                    .map_or_else(|| "(unset)".to_owned(), |(t, _)| t.clone()),
                r.origin.map_or_else(|| "-".to_owned(), ToString::to_string),
            ]
        })
        .collect();
    let header = ["SETTING", "VALUE", "ORIGIN"].map(str::to_owned);
    let width = |i: usize| {
        cells
            .iter()
            .chain(std::iter::once(&header))
            .map(|c| c[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut out = String::new();
    for c in std::iter::once(&header).chain(cells.iter()) {
        out.push_str(&format!("{:<w0$}  {:<w1$}  {}\n", c[0], c[1], c[2]));
    }
    if let Some(root) = &resolved.settings.workspace_root {
        out.push_str(&format!("\nworkspace root: {}\n", root.display()));
    }
    if !resolved.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for w in &resolved.warnings {
            out.push_str(&format!("  {w}\n"));
        }
    }
    out.push_str("\nsources looked at:\n");
    for s in &resolved.sources {
        out.push_str(&format!("  {s}\n"));
    }
    out
}

fn origin_json(o: &Origin) -> Value {
    let mut v = match o {
        Origin::Flag(f) => json!({ "flag": f }),
        Origin::Env(var) => json!({ "var": var }),
        Origin::EnvFile { path, line } | Origin::HeraConfig { path, line } => {
            json!({ "path": path_text(path), "line": line })
        }
        Origin::WorkspaceToml { path, key } => json!({ "path": path_text(path), "key": key }),
        Origin::Default => json!({}),
    };
    v["kind"] = Value::String(o.kind().into());
    v["display"] = Value::String(o.to_string());
    v
}

/// `{ settings: { name: { value, origin } }, warnings, sources, workspace_root }`;
/// secrets are `"***"`, unset values `null`.
pub fn to_json(resolved: &Resolved) -> Value {
    let mut settings = serde_json::Map::new();
    for r in rows(&resolved.settings) {
        settings.insert(
            r.name.to_owned(),
            json!({
                "value": r.value.map_or(Value::Null, |(_, v)| v),
                "origin": r.origin.map_or(Value::Null, origin_json),
            }),
        );
    }
    let warnings: Vec<Value> = resolved
        .warnings
        .iter()
        .map(|w| {
            json!({
                "path": w.path.as_deref().map(path_text),
                "line": w.line,
                "message": w.message,
            })
        })
        .collect();
    json!({
        "settings": settings,
        "warnings": warnings,
        "sources": resolved.sources,
        "workspace_root": resolved.settings.workspace_root.as_deref().map(path_text),
    })
}

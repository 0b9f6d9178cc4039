//! Resolution: pick each setting from the highest source that has it, then check it.

use crate::settings::Via;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::error::{ConfigError, Warning, closest, shown_value, unknown_profile_detail};
use crate::keys::{ARGOCONFIG, Key, MAX_DURATION_SECS, SETTINGS, XTASK_PROFILE, env_vars};
use crate::origin::{Origin, Sourced};
use crate::secret::Secret;
use crate::settings::{
    FlagOverrides, Inputs, RegistryRef, Resolved, Settings, SourceKind, SourceReport, SourceStatus,
    Timeouts,
};
use crate::text::ParsedFile;
use crate::workspace::{self, WorkspaceToml};
use crate::{env_file, hera_config};

/// A value before it is checked against its setting.
#[derive(Clone)]
pub(crate) enum Raw {
    Text(String),
    Path(PathBuf),
    Bool(bool),
    Count(u64),
    Secret(Secret),
    /// A combination that cannot be valid; the message says why.
    Invalid(String),
}

impl Raw {
    pub(crate) fn is_blank(&self) -> bool {
        match self {
            Raw::Text(s) => s.trim().is_empty(),
            Raw::Path(p) => p.as_os_str().is_empty(),
            Raw::Secret(s) => s.expose().trim().is_empty(),
            Raw::Bool(_) | Raw::Count(_) | Raw::Invalid(_) => false,
        }
    }

    pub(crate) fn as_text(&self) -> Cow<'_, str> {
        match self {
            Raw::Text(s) => Cow::Borrowed(s),
            Raw::Path(p) => p.to_string_lossy(),
            Raw::Bool(b) => Cow::Owned(b.to_string()),
            Raw::Count(n) => Cow::Owned(n.to_string()),
            Raw::Secret(s) => Cow::Borrowed(s.expose()),
            Raw::Invalid(_) => Cow::Borrowed(""),
        }
    }
}

/// One source's value for a setting, with the folder relative paths start from.
#[derive(Clone)]
pub(crate) struct Candidate {
    pub raw: Raw,
    pub origin: Origin,
    pub base: PathBuf,
}

struct LoadedFile {
    shown: PathBuf,
    dir: PathBuf,
    parsed: ParsedFile,
}

/// A non-blank environment value.
fn env_value<'a>(env: &'a BTreeMap<String, String>, var: &str) -> Option<&'a str> {
    env.get(var)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// How a path is shown: relative to `cwd` when inside it.
fn shown(cwd: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix(cwd) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => path.to_path_buf(),
    }
}

/// Removes `.` and folds `..` without touching the file system.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn flag_raw(flags: &FlagOverrides, key: Key) -> Option<Raw> {
    let text = |v: &Option<String>| v.clone().map(Raw::Text);
    let path = |v: &Option<PathBuf>| v.clone().map(Raw::Path);
    let count = |v: Option<u64>| v.map(Raw::Count);
    match key {
        Key::Kubeconfig => path(&flags.kubeconfig),
        Key::KubeContext => text(&flags.kube_context),
        Key::ConfigMap => text(&flags.configmap_name),
        Key::VolumeClaim => text(&flags.volume_claim_name),
        Key::ArgoServer => text(&flags.argo_server),
        Key::ArgoNamespace => text(&flags.argo_namespace),
        Key::ArgoServiceAccount => text(&flags.argo_service_account),
        Key::ArgoToken => flags.argo_token.clone().map(Raw::Secret),
        Key::ArgoInsecure => flags.argo_insecure_skip_verify.map(Raw::Bool),
        Key::ArgoSecure => flags.argo_secure.map(Raw::Bool),
        Key::ArgoBaseHref => text(&flags.argo_base_href),
        Key::ArgoServerCa => path(&flags.argo_server_ca),
        Key::Via => text(&flags.via),
        Key::Registry => text(&flags.registry),
        Key::RegistryUser => text(&flags.registry_user),
        Key::RegistryPassword => flags.registry_password.clone().map(Raw::Secret),
        Key::RegistryCa => path(&flags.registry_ca_file),
        Key::RegistryPlainHttp => flags.registry_plain_http.map(Raw::Bool),
        Key::ResultsDir => path(&flags.results_dir),
        Key::PvcMountPath => text(&flags.pvc_mount_path),
        Key::BuildParallelism => count(flags.build_parallelism.map(|n| n as u64)),
        Key::PullBaseImages => flags.pull_base_images.map(Raw::Bool),
        Key::StallGrace => count(flags.stall_grace_secs),
        Key::ControllerGrace => count(flags.controller_grace_secs),
        Key::RunTimeout => count(flags.run_timeout_secs),
        Key::HeraVersion => text(&flags.hera_version),
    }
}

/// The sources in precedence order.
struct Layers<'a> {
    inputs: &'a Inputs,
    env_file: Option<&'a LoadedFile>,
    hera: Option<&'a LoadedFile>,
    toml: Option<&'a WorkspaceToml>,
    profile: Option<&'a str>,
}

impl Layers<'_> {
    fn pick(&self, key: Key) -> Option<Candidate> {
        let info = key.info();
        let cwd = &self.inputs.cwd;
        if let Some(raw) = flag_raw(&self.inputs.flags, key).filter(|r| !r.is_blank()) {
            return Some(Candidate {
                raw,
                origin: Origin::Flag(info.flag.to_owned()),
                base: cwd.clone(),
            });
        }
        if let Some(var) = info.env {
            if let Some(v) = env_value(&self.inputs.env, var) {
                return Some(Candidate {
                    raw: Raw::Text(v.to_owned()),
                    origin: Origin::Env(var.to_owned()),
                    base: cwd.clone(),
                });
            }
            if let Some(c) = self.env_file.and_then(|f| file_candidate(f, var, true)) {
                return Some(c);
            }
        }
        if let Some(c) = info
            .hera
            .and_then(|k| self.hera.and_then(|f| file_candidate(f, k, false)))
        {
            return Some(c);
        }
        self.toml.and_then(|t| t.pick(key, self.profile))
    }
}

fn file_candidate(file: &LoadedFile, key: &str, env_file: bool) -> Option<Candidate> {
    let entry = file.parsed.get(key)?;
    let path = file.shown.clone();
    let line = entry.line;
    Some(Candidate {
        raw: Raw::Text(entry.value.clone()),
        origin: if env_file {
            Origin::EnvFile { path, line }
        } else {
            Origin::HeraConfig { path, line }
        },
        base: file.dir.clone(),
    })
}

fn invalid(key: Key, origin: &Origin, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        setting: key.info().name,
        origin: origin.clone(),
        message: message.into(),
    }
}

fn text(key: Key, c: &Candidate) -> Result<String, ConfigError> {
    match &c.raw {
        Raw::Invalid(m) => Err(invalid(key, &c.origin, m.clone())),
        raw => Ok(raw.as_text().trim().to_owned()),
    }
}

/// A Hera version as pip takes it after `hera==`: digits and dots (`5.16.3`, `7.1.0`).
fn hera_version(key: Key, c: &Candidate) -> Result<String, ConfigError> {
    let v = text(key, c)?;
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() < 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid(
            key,
            &c.origin,
            format!(
                "`{}`: a release number such as 5.16.3 or 7.1.0 is expected (the `hera` package on PyPI)",
                crate::error::cut(&v)
            ),
        ));
    }
    Ok(v)
}

fn expand_tilde(text: &str, home: Option<&Path>) -> Result<PathBuf, String> {
    let rest = if text == "~" {
        ""
    } else if let Some(rest) = text.strip_prefix("~/") {
        rest
    } else {
        return Ok(PathBuf::from(text));
    };
    match home {
        Some(h) => Ok(h.join(rest)),
        None => Err(format!(
            "{} starts with `~`, but no home directory is known",
            shown_value(text)
        )),
    }
}

fn path_from_text(
    key: Key,
    c: &Candidate,
    text: &str,
    home: Option<&Path>,
) -> Result<PathBuf, ConfigError> {
    let p = expand_tilde(text.trim(), home).map_err(|m| invalid(key, &c.origin, m))?;
    Ok(clean(&c.base.join(p)))
}

/// The path named by ARGOCONFIG, which is not a setting of its own.
fn argoconfig_path(c: &Candidate, home: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let text = c.raw.as_text();
    let p = expand_tilde(text.trim(), home).map_err(|message| ConfigError::InvalidValue {
        setting: ARGOCONFIG,
        origin: c.origin.clone(),
        message,
    })?;
    Ok(clean(&c.base.join(p)))
}

fn path(key: Key, c: &Candidate, home: Option<&Path>) -> Result<PathBuf, ConfigError> {
    match &c.raw {
        Raw::Path(p) => Ok(clean(&c.base.join(p))),
        _ => path_from_text(key, c, &text(key, c)?, home),
    }
}

fn kubeconfig(c: &Candidate, home: Option<&Path>) -> Result<Vec<PathBuf>, ConfigError> {
    let key = Key::Kubeconfig;
    let is_list = matches!(c.origin, Origin::Env(_) | Origin::EnvFile { .. })
        && matches!(c.raw, Raw::Text(_));
    if !is_list {
        return Ok(vec![path(key, c, home)?]);
    }
    let all = text(key, c)?;
    let paths = all
        .split(':')
        .filter(|p| !p.trim().is_empty())
        .map(|p| path_from_text(key, c, p, home))
        .collect::<Result<Vec<_>, _>>()?;
    if paths.is_empty() {
        return Err(invalid(
            key,
            &c.origin,
            format!("{} holds no path", shown_value(&all)),
        ));
    }
    Ok(paths)
}

/// `true/false`, `1/0`, `yes/no`, in any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn boolean(key: Key, c: &Candidate) -> Result<bool, ConfigError> {
    if let Raw::Bool(b) = c.raw {
        return Ok(b);
    }
    let s = text(key, c)?;
    parse_bool(&s).ok_or_else(|| {
        invalid(
            key,
            &c.origin,
            format!(
                "{} is not a boolean; use true/false, 1/0 or yes/no",
                shown_value(&s)
            ),
        )
    })
}

fn count(key: Key, c: &Candidate) -> Result<u64, ConfigError> {
    if let Raw::Count(n) = c.raw {
        return Ok(n);
    }
    let s = text(key, c)?;
    s.parse::<u64>().map_err(|_| {
        let problem = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            "is too large"
        } else {
            "is not a non-negative whole number"
        };
        invalid(key, &c.origin, format!("{} {problem}", shown_value(&s)))
    })
}

/// A duration in seconds, at most [`MAX_DURATION_SECS`]: larger ones are typos, and
/// they would overflow the clock arithmetic of the commands that wait.
fn seconds(key: Key, c: &Candidate) -> Result<u64, ConfigError> {
    let n = count(key, c)?;
    if n > MAX_DURATION_SECS {
        return Err(invalid(
            key,
            &c.origin,
            format!(
                "`{n}` seconds is more than 30 days ({MAX_DURATION_SECS} s), the longest duration accepted; use a smaller number"
            ),
        ));
    }
    Ok(n)
}

fn secret(key: Key, c: &Candidate) -> Result<Secret, ConfigError> {
    match &c.raw {
        Raw::Secret(s) => Ok(s.clone()),
        Raw::Invalid(m) => Err(invalid(key, &c.origin, m.clone())),
        raw => Ok(Secret::new(raw.as_text().into_owned())),
    }
}

/// Strips an optional `Bearer ` prefix. Messages never include the token.
fn argo_token(c: &Candidate) -> Result<Secret, ConfigError> {
    let key = Key::ArgoToken;
    let s = secret(key, c)?;
    let t = s.expose().trim();
    let t = match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim_start(),
        _ if t.eq_ignore_ascii_case("bearer") => "",
        _ => t,
    };
    if t.is_empty() {
        return Err(invalid(
            key,
            &c.origin,
            "the token is empty once `Bearer ` is removed",
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid(
            key,
            &c.origin,
            "the token contains a control character (a line break?)",
        ));
    }
    Ok(Secret::new(t))
}

/// Checks `host`, `host:port` or `[v6]:port`.
fn check_authority(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("no host name".into());
    }
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("{}: `[` without `]`", shown_value(a)));
        };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("{} is not a valid IPv6 address", shown_value(a)));
        }
        match after {
            "" => (a, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (&a[..a.len() - after.len()], Some(p)),
                None => return Err(format!("{}: unexpected text after `]`", shown_value(a))),
            },
        }
    } else {
        match a.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (a, None),
        }
    };
    if !host.starts_with('[')
        && (host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!("{} is not a valid host name", shown_value(host)));
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("{} is not a port number", shown_value(p))),
        }
    }
    Ok(())
}

/// `ARGO_BASE_HREF` as a path: `/argo/`, `argo` and `/argo` all give `/argo`; `/` and
/// the empty string give none.
pub(crate) fn base_href(s: &str) -> Result<String, String> {
    let path = s.trim().trim_matches('/');
    if path
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(format!(
            "{}: a base href is a URL path like /argo/",
            shown_value(s)
        ));
    }
    if path.contains("://") {
        return Err(format!(
            "{}: give only the path (e.g. /argo/); the host goes in ARGO_SERVER",
            shown_value(s)
        ));
    }
    Ok(if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    })
}

/// See [`Settings::argo_server`] for the rules; `secure` is `ARGO_SECURE`, which picks
/// the scheme when none is written.
pub(crate) fn normalize_server(s: &str, secure: bool) -> Result<String, String> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        ("https", &s["https://".len()..])
    } else if lower.starts_with("http://") {
        ("http", &s["http://".len()..])
    } else if s.contains("://") {
        return Err(format!(
            "{}: only http:// and https:// are supported",
            shown_value(s)
        ));
    } else if secure {
        ("https", s)
    } else {
        ("http", s)
    };
    let rest = rest.trim_end_matches('/');
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    check_authority(authority).map_err(|m| format!("{}: {m}", shown_value(s)))?;
    if tail.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{}: the URL contains spaces", shown_value(s)));
    }
    Ok(format!("{scheme}://{authority}{tail}"))
}

/// Parses `host[:port][/project]`.
pub(crate) fn parse_registry(s: &str) -> Result<RegistryRef, String> {
    let s = s.trim();
    if s.contains("://") {
        return Err(format!(
            "{}: write host[:port][/project] without a scheme (for a plain-HTTP registry set XTASK_REGISTRY_PLAIN_HTTP=true)",
            shown_value(s)
        ));
    }
    let trimmed = s.trim_end_matches('/');
    let (host, project) = match trimmed.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (trimmed, None),
    };
    check_authority(host).map_err(|m| format!("{}: {m}", shown_value(s)))?;
    if let Some(p) = project {
        let ok = p.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
        if !ok {
            return Err(format!(
                "{}: the project {} must be lowercase letters, digits, `.`, `_`, `-` (segments separated by `/`)",
                shown_value(s),
                shown_value(p)
            ));
        }
    }
    Ok(RegistryRef {
        host: host.to_owned(),
        project: project.map(str::to_owned),
    })
}

/// RFC 1123 label (namespaces) or subdomain (other object names).
pub(crate) fn check_k8s_name(s: &str, label: bool) -> Result<(), String> {
    let problem = if label {
        crate::k8s_name::dns_label_problem(s)
    } else {
        crate::k8s_name::dns_subdomain_problem(s)
    };
    match problem {
        None => Ok(()),
        Some(why) => Err(format!(
            "{} is not a valid Kubernetes name: it {why}",
            shown_value(s)
        )),
    }
}

fn k8s_name(key: Key, c: &Candidate, label: bool) -> Result<String, ConfigError> {
    let s = text(key, c)?;
    check_k8s_name(&s, label).map_err(|m| invalid(key, &c.origin, m))?;
    Ok(s)
}

fn opt<T>(
    layers: &Layers<'_>,
    key: Key,
    convert: impl FnOnce(&Candidate) -> Result<T, ConfigError>,
) -> Result<Option<Sourced<T>>, ConfigError> {
    match layers.pick(key) {
        Some(c) => Ok(Some(Sourced::new(convert(&c)?, c.origin))),
        None => Ok(None),
    }
}

fn or_default<T>(
    layers: &Layers<'_>,
    key: Key,
    convert: impl FnOnce(&Candidate) -> Result<T, ConfigError>,
    default: T,
) -> Result<Sourced<T>, ConfigError> {
    Ok(opt(layers, key, convert)?.unwrap_or_else(|| Sourced::default_value(default)))
}

/// Resolves every setting from `inputs`. See the crate documentation for the order.
pub fn resolve(inputs: &Inputs) -> Result<Resolved, ConfigError> {
    let cwd = &inputs.cwd;
    let home = inputs.home.as_deref();
    let mut warnings: Vec<Warning> = Vec::new();
    let mut file_rows: Vec<SourceReport> = Vec::new();
    let mut used: Vec<Origin> = Vec::new();

    // The env file first: it may name ARGOCONFIG and XTASK_PROFILE.
    let env_file_path = match &inputs.env_file {
        Some(p) => {
            let abs = clean(&cwd.join(p));
            if !abs.exists() {
                return Err(ConfigError::EnvFileMissing { path: abs });
            }
            Some(abs)
        }
        None => {
            let abs = cwd.join("hera.bash");
            if abs.exists() {
                Some(abs)
            } else {
                file_rows.push(row(
                    SourceKind::EnvFile,
                    &shown(cwd, &abs),
                    SourceStatus::Absent,
                    None,
                ));
                None
            }
        }
    };
    let env_file = match env_file_path {
        Some(abs) => {
            let shown_path = shown(cwd, &abs);
            let parsed = env_file::parse(&shown_path, &read(&abs)?, &inputs.env)?;
            warnings.extend(parsed.warnings.iter().cloned());
            file_rows.push(row(
                SourceKind::EnvFile,
                &shown_path,
                SourceStatus::Found,
                inputs.env_file.as_ref().map(|_| "--env-file".to_owned()),
            ));
            Some(LoadedFile {
                dir: abs.parent().map(Path::to_path_buf).unwrap_or_default(),
                shown: shown_path,
                parsed,
            })
        }
        None => None,
    };

    let hera = load_hera(inputs, env_file.as_ref(), &mut file_rows, &mut used)?;
    if let Some(h) = &hera {
        warnings.extend(h.parsed.warnings.iter().cloned());
    }

    let toml = match workspace::find(cwd) {
        Some(abs) => {
            let shown_path = shown(cwd, &abs);
            let text = crate::text::decode(&shown_path, &read(&abs)?)?;
            let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
            let (parsed, toml_warnings) = workspace::parse(&text, &shown_path, &dir)?;
            warnings.extend(toml_warnings);
            file_rows.push(row(
                SourceKind::WorkspaceToml,
                &shown_path,
                SourceStatus::Found,
                None,
            ));
            Some(parsed)
        }
        None => {
            file_rows.push(row(
                SourceKind::WorkspaceToml,
                Path::new(workspace::FILE_NAME),
                SourceStatus::Absent,
                Some(format!("looked in {} and its parents", cwd.display())),
            ));
            None
        }
    };

    let profile = pick_profile(inputs, env_file.as_ref(), toml.as_ref())?;
    if let Some(p) = &profile {
        used.push(p.origin.clone());
    }

    let layers = Layers {
        inputs,
        env_file: env_file.as_ref(),
        hera: hera.as_ref(),
        toml: toml.as_ref(),
        profile: profile.as_ref().map(|p| p.value.as_str()),
    };
    let settings = build(&layers, home, profile.clone())?;

    used.extend(
        crate::report::rows(&settings)
            .into_iter()
            .filter_map(|r| r.origin.cloned()),
    );
    let sources = source_report(inputs, file_rows, &used);
    Ok(Resolved {
        settings,
        warnings,
        sources,
    })
}

fn row(kind: SourceKind, path: &Path, status: SourceStatus, note: Option<String>) -> SourceReport {
    SourceReport {
        kind,
        location: path.display().to_string(),
        status,
        note,
    }
}

/// Finds hera.config: `ARGOCONFIG` (environment, then env file), else `<cwd>`, else
/// `<home>`.
fn load_hera(
    inputs: &Inputs,
    env_file: Option<&LoadedFile>,
    rows: &mut Vec<SourceReport>,
    used: &mut Vec<Origin>,
) -> Result<Option<LoadedFile>, ConfigError> {
    let cwd = &inputs.cwd;
    let home = inputs.home.as_deref();
    let named = env_value(&inputs.env, ARGOCONFIG)
        .map(|v| Candidate {
            raw: Raw::Text(v.to_owned()),
            origin: Origin::Env(ARGOCONFIG.to_owned()),
            base: cwd.clone(),
        })
        .or_else(|| env_file.and_then(|f| file_candidate(f, ARGOCONFIG, true)))
        .map(|c| argoconfig_path(&c, home).map(|p| (p, c.origin)))
        .transpose()?;

    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some((p, origin)) = &named {
        if !p.exists() {
            return Err(ConfigError::ArgoconfigMissing {
                path: p.clone(),
                origin: origin.clone(),
            });
        }
        used.push(origin.clone());
        candidates.push(p.clone());
    }
    candidates.push(cwd.join("hera.config"));
    if let Some(h) = home {
        candidates.push(h.join("hera.config"));
    }
    candidates.dedup();

    let mut loaded = None;
    for (i, p) in candidates.iter().enumerate() {
        let shown_path = shown(cwd, p);
        if loaded.is_some() {
            rows.push(row(
                SourceKind::HeraConfig,
                &shown_path,
                SourceStatus::Skipped,
                Some("an earlier hera.config was found".into()),
            ));
        } else if p.exists() {
            let parsed = hera_config::parse(&shown_path, &read(p)?)?;
            let note = (i == 0 && named.is_some()).then(|| "named by ARGOCONFIG".to_owned());
            rows.push(row(
                SourceKind::HeraConfig,
                &shown_path,
                SourceStatus::Found,
                note,
            ));
            loaded = Some(LoadedFile {
                dir: p.parent().map(Path::to_path_buf).unwrap_or_default(),
                shown: shown_path,
                parsed,
            });
        } else {
            rows.push(row(
                SourceKind::HeraConfig,
                &shown_path,
                SourceStatus::Absent,
                None,
            ));
        }
    }
    Ok(loaded)
}

fn pick_profile(
    inputs: &Inputs,
    env_file: Option<&LoadedFile>,
    toml: Option<&WorkspaceToml>,
) -> Result<Option<Sourced<String>>, ConfigError> {
    let chosen = if let Some(p) = inputs.profile.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(Sourced::new(
            p.trim().to_owned(),
            Origin::Flag("--profile".into()),
        ))
    } else if let Some(p) = env_value(&inputs.env, XTASK_PROFILE) {
        Some(Sourced::new(
            p.trim().to_owned(),
            Origin::Env(XTASK_PROFILE.into()),
        ))
    } else if let Some(c) = env_file.and_then(|f| file_candidate(f, XTASK_PROFILE, true)) {
        Some(Sourced::new(c.raw.as_text().trim().to_owned(), c.origin))
    } else {
        toml.and_then(|t| t.default_profile.clone())
            .filter(|p| !p.value.trim().is_empty())
    };
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    match toml {
        Some(t) if t.has_profile(&chosen.value) => Ok(Some(chosen)),
        _ => {
            let available = toml.map(WorkspaceToml::profile_names).unwrap_or_default();
            let suggestion = closest(&chosen.value, available.iter().map(String::as_str), 0.5)
                .map(str::to_owned);
            Err(ConfigError::UnknownProfile {
                name: chosen.value,
                origin: chosen.origin,
                detail: unknown_profile_detail(
                    toml.map(|t| t.shown.as_path()),
                    &available,
                    suggestion.as_deref(),
                ),
            })
        }
    }
}

fn build(
    layers: &Layers<'_>,
    home: Option<&Path>,
    profile: Option<Sourced<String>>,
) -> Result<Settings, ConfigError> {
    let cwd = &layers.inputs.cwd;
    let kubeconfig = match opt(layers, Key::Kubeconfig, |c| kubeconfig(c, home))? {
        Some(k) => Some(k),
        None => home
            .map(|h| h.join(".kube").join("config"))
            .filter(|p| p.is_file())
            .map(|p| Sourced::default_value(vec![p])),
    };
    let workspace_root = layers.toml.map(|t| t.dir.clone());
    let results_default = workspace_root.as_deref().unwrap_or(cwd).join("results");

    let build_parallelism = or_default(
        layers,
        Key::BuildParallelism,
        |c| {
            let n = count(Key::BuildParallelism, c)?;
            match usize::try_from(n) {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(invalid(
                    Key::BuildParallelism,
                    &c.origin,
                    format!("`{n}`: must be at least 1"),
                )),
            }
        },
        2,
    )?;

    // Read first: it decides the scheme of an ARGO_SERVER written without one.
    let argo_secure = or_default(
        layers,
        Key::ArgoSecure,
        |c| boolean(Key::ArgoSecure, c),
        true,
    )?;

    Ok(Settings {
        kubeconfig,
        kube_context: opt(layers, Key::KubeContext, |c| text(Key::KubeContext, c))?,
        configmap_name: opt(layers, Key::ConfigMap, |c| {
            k8s_name(Key::ConfigMap, c, false)
        })?,
        volume_claim_name: opt(layers, Key::VolumeClaim, |c| {
            k8s_name(Key::VolumeClaim, c, false)
        })?,
        argo_server: opt(layers, Key::ArgoServer, |c| {
            normalize_server(&text(Key::ArgoServer, c)?, argo_secure.value)
                .map_err(|m| invalid(Key::ArgoServer, &c.origin, m))
        })?,
        argo_secure,
        argo_base_href: opt(layers, Key::ArgoBaseHref, |c| {
            base_href(&text(Key::ArgoBaseHref, c)?)
                .map_err(|m| invalid(Key::ArgoBaseHref, &c.origin, m))
        })?
        .filter(|h| !h.value.is_empty()),
        argo_server_ca: opt(layers, Key::ArgoServerCa, |c| {
            path(Key::ArgoServerCa, c, home)
        })?,
        via: or_default(
            layers,
            Key::Via,
            |c| {
                text(Key::Via, c)?
                    .parse::<Via>()
                    .map_err(|m| invalid(Key::Via, &c.origin, m))
            },
            Via::Auto,
        )?,
        argo_namespace: or_default(
            layers,
            Key::ArgoNamespace,
            |c| k8s_name(Key::ArgoNamespace, c, true),
            "argo".to_owned(),
        )?,
        argo_service_account: opt(layers, Key::ArgoServiceAccount, |c| {
            k8s_name(Key::ArgoServiceAccount, c, false)
        })?,
        argo_token: opt(layers, Key::ArgoToken, argo_token)?,
        argo_insecure_skip_verify: or_default(
            layers,
            Key::ArgoInsecure,
            |c| boolean(Key::ArgoInsecure, c),
            false,
        )?,
        registry: opt(layers, Key::Registry, |c| {
            parse_registry(&text(Key::Registry, c)?)
                .map_err(|m| invalid(Key::Registry, &c.origin, m))
        })?,
        registry_user: opt(layers, Key::RegistryUser, |c| text(Key::RegistryUser, c))?,
        registry_password: opt(layers, Key::RegistryPassword, |c| {
            secret(Key::RegistryPassword, c)
        })?,
        registry_ca_file: opt(layers, Key::RegistryCa, |c| path(Key::RegistryCa, c, home))?,
        registry_plain_http: or_default(
            layers,
            Key::RegistryPlainHttp,
            |c| boolean(Key::RegistryPlainHttp, c),
            false,
        )?,
        pull_base_images: or_default(
            layers,
            Key::PullBaseImages,
            |c| boolean(Key::PullBaseImages, c),
            true,
        )?,
        hera_version: or_default(
            layers,
            Key::HeraVersion,
            |c| hera_version(Key::HeraVersion, c),
            crate::settings::DEFAULT_HERA_VERSION.to_string(),
        )?,
        results_dir: or_default(
            layers,
            Key::ResultsDir,
            |c| path(Key::ResultsDir, c, home),
            results_default,
        )?,
        pvc_mount_path: or_default(
            layers,
            Key::PvcMountPath,
            |c| {
                let s = text(Key::PvcMountPath, c)?;
                if !s.starts_with('/') || s.chars().any(char::is_control) {
                    return Err(invalid(
                        Key::PvcMountPath,
                        &c.origin,
                        format!(
                            "{} must be an absolute path inside the container, like /data",
                            shown_value(&s)
                        ),
                    ));
                }
                let trimmed = s.trim_end_matches('/');
                Ok(if trimmed.is_empty() {
                    "/".to_owned()
                } else {
                    trimmed.to_owned()
                })
            },
            "/data".to_owned(),
        )?,
        build_parallelism,
        timeouts: Timeouts {
            stall_grace_secs: or_default(
                layers,
                Key::StallGrace,
                |c| seconds(Key::StallGrace, c),
                60,
            )?,
            controller_grace_secs: or_default(
                layers,
                Key::ControllerGrace,
                |c| seconds(Key::ControllerGrace, c),
                20,
            )?,
            run_timeout_secs: opt(layers, Key::RunTimeout, |c| {
                let n = seconds(Key::RunTimeout, c)?;
                if n == 0 {
                    return Err(invalid(
                        Key::RunTimeout,
                        &c.origin,
                        "`0`: must be at least 1 (leave it unset for no limit)",
                    ));
                }
                Ok(n)
            })?,
        },
        mirrors: layers
            .toml
            .and_then(|t| t.mirrors(layers.profile))
            .unwrap_or_else(|| Sourced::default_value(Vec::new())),
        profile,
        workspace_root,
    })
}

fn source_report(
    inputs: &Inputs,
    file_rows: Vec<SourceReport>,
    used: &[Origin],
) -> Vec<SourceReport> {
    let mut out = Vec::new();
    if inputs
        .profile
        .as_deref()
        .is_some_and(|p| !p.trim().is_empty())
    {
        out.push(SourceReport {
            kind: SourceKind::Flag,
            location: "--profile".into(),
            status: SourceStatus::Used,
            note: None,
        });
    }
    for info in &SETTINGS {
        if flag_raw(&inputs.flags, info.key).is_some_and(|r| !r.is_blank()) {
            out.push(SourceReport {
                kind: SourceKind::Flag,
                location: info.flag.into(),
                status: SourceStatus::Used,
                note: None,
            });
        }
    }
    for var in env_vars() {
        let (status, note) = match inputs.env.get(var) {
            None => (SourceStatus::Absent, None),
            Some(v) if v.trim().is_empty() => (
                SourceStatus::Absent,
                Some("set but empty: treated as unset".to_owned()),
            ),
            Some(_) if used.contains(&Origin::Env(var.to_owned())) => (SourceStatus::Used, None),
            Some(_) => (SourceStatus::Found, Some("overridden by a flag".to_owned())),
        };
        out.push(SourceReport {
            kind: SourceKind::Env,
            location: var.into(),
            status,
            note,
        });
    }
    for mut r in file_rows {
        if r.status == SourceStatus::Found {
            let hit = used.iter().any(|o| {
                o.path()
                    .is_some_and(|p| p.display().to_string() == r.location)
                    && matches!(
                        (o, r.kind),
                        (Origin::EnvFile { .. }, SourceKind::EnvFile)
                            | (Origin::HeraConfig { .. }, SourceKind::HeraConfig)
                            | (Origin::WorkspaceToml { .. }, SourceKind::WorkspaceToml)
                    )
            });
            if hit {
                r.status = SourceStatus::Used;
            }
        }
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers() {
        assert_eq!(normalize_server("h:2746", true).unwrap(), "https://h:2746");
        assert_eq!(normalize_server("h", true).unwrap(), "https://h");
        assert_eq!(
            normalize_server("http://h:80/", true).unwrap(),
            "http://h:80"
        );
        assert_eq!(
            normalize_server("HTTPS://h/argo", true).unwrap(),
            "https://h/argo"
        );
        assert_eq!(
            normalize_server("[::1]:2746", true).unwrap(),
            "https://[::1]:2746"
        );
        assert!(normalize_server("ftp://h", true).is_err());
        // ARGO_SECURE=false picks plain HTTP only when no scheme is written.
        assert_eq!(normalize_server("h:2746", false).unwrap(), "http://h:2746");
        assert_eq!(
            normalize_server("https://h:2746", false).unwrap(),
            "https://h:2746"
        );
    }

    #[test]
    fn base_hrefs_become_one_leading_slash_paths() {
        assert_eq!(base_href("/argo/").unwrap(), "/argo");
        assert_eq!(base_href("argo").unwrap(), "/argo");
        assert_eq!(base_href("/").unwrap(), "");
        assert_eq!(base_href("").unwrap(), "");
        assert_eq!(base_href("/a/b/").unwrap(), "/a/b");
        assert!(base_href("https://h/argo").is_err());
        assert!(base_href("/ar go").is_err());
        assert!(normalize_server("h:port", true).is_err());
        assert!(normalize_server("h:0", true).is_err());
        assert!(normalize_server("https://", true).is_err());
        assert!(normalize_server("a b:1", true).is_err());
    }

    #[test]
    fn registries() {
        let r = parse_registry("harbor.pagoda.os.univ-lyon1.fr/vcity").unwrap();
        assert_eq!(r.host, "harbor.pagoda.os.univ-lyon1.fr");
        assert_eq!(r.project.as_deref(), Some("vcity"));
        assert_eq!(
            r.image("app", "1.0"),
            "harbor.pagoda.os.univ-lyon1.fr/vcity/app:1.0"
        );
        let r = parse_registry("127.0.0.1:5443/vcity/").unwrap();
        assert_eq!(r.host, "127.0.0.1:5443");
        assert_eq!(r.project.as_deref(), Some("vcity"));
        let r = parse_registry("localhost:5000").unwrap();
        assert_eq!(r.project, None);
        assert_eq!(r.image("x", "t"), "localhost:5000/x:t");
        assert!(parse_registry("https://h/p").is_err());
        assert!(parse_registry("h/Upper").is_err());
        assert!(parse_registry("h:99999/p").is_err());
        assert!(parse_registry("/p").is_err());
    }

    #[test]
    fn names() {
        assert!(check_k8s_name("vcity", true).is_ok());
        assert!(check_k8s_name("a.b", true).is_err());
        assert!(check_k8s_name("a.b", false).is_ok());
        assert!(check_k8s_name("-a", false).is_err());
        assert!(check_k8s_name("Argo", true).is_err());
        assert!(check_k8s_name(&"a".repeat(64), true).is_err());
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "1", "yes", " Yes "] {
            assert_eq!(parse_bool(t), Some(true));
        }
        for f in ["false", "0", "no", "NO"] {
            assert_eq!(parse_bool(f), Some(false));
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(clean(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(clean(Path::new("a/../../b")), PathBuf::from("../b"));
    }
}

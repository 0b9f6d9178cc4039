//! The configuration file: TOML, read once at start. Every error names the file and,
//! when it comes from one place in it, the line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use toml::Spanned;

use crate::scope::Action;

pub const DEFAULT_SERVICE: &str = "harbor-registry";
pub const DEFAULT_ISSUER: &str = "harbor-token-issuer";
/// Harbor's default token lifetime (30 minutes).
pub const DEFAULT_LIFETIME_SECS: u64 = 1800;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Spanned<String>,
    public_url: Option<Spanned<String>>,
    backend: Spanned<String>,
    state_file: Option<String>,
    tls: RawTls,
    token: RawToken,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    projects: Vec<RawProject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    realm: Option<Spanned<String>>,
    service: Option<String>,
    issuer: Option<String>,
    signing_key: String,
    signing_cert: String,
    lifetime_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    password_file: String,
    #[serde(default)]
    projects: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    token_lifetime_secs: Option<Spanned<u64>>,
    token_uses: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Spanned<String>,
    quota_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub listen: SocketAddr,
    /// Base URL clients reach the proxy at, without a trailing slash.
    pub public_url: String,
    /// Base URL of distribution, without a trailing slash.
    pub backend: String,
    pub state_file: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub signing_key: PathBuf,
    pub signing_cert: PathBuf,
    /// Lifetime of tokens for users without their own (and for anonymous ones).
    pub token_lifetime_secs: u64,
    pub users: Vec<User>,
    pub projects: Vec<Project>,
}

#[derive(Clone)]
pub struct User {
    pub name: String,
    pub password_file: PathBuf,
    /// Read at start; never printed (the Debug impl hides it).
    pub password: String,
    pub rights: BTreeMap<String, Vec<Action>>,
    pub token_lifetime_secs: u64,
    pub token_uses: Option<u64>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password_file", &self.password_file)
            .field("rights", &self.rights)
            .field("token_lifetime_secs", &self.token_lifetime_secs)
            .field("token_uses", &self.token_uses)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub quota_bytes: Option<u64>,
}

impl Config {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }

    /// Reads and checks the file, and reads the users' password files.
    pub fn load(path: &Path) -> Result<Config> {
        // absolute, so the paths it names stay right for distribution's own config
        let path = &std::path::absolute(path)
            .with_context(|| format!("cannot resolve the path {}", path.display()))?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("/"));
        let mut config = parse(&text, path, dir)?;
        for user in &mut config.users {
            user.password = read_password(&user.password_file)
                .with_context(|| format!("{}: user {:?}", path.display(), user.name))?;
        }
        Ok(config)
    }
}

/// Parses and checks the text; paths are resolved against `dir`. Passwords are not read.
pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Config> {
    let at = |span: Range<usize>| format!("{}:{}", path.display(), line_of(text, span.start));
    let raw: RawConfig = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => anyhow::anyhow!("{}: {}", at(span), e.message().trim_end()),
        None => anyhow::anyhow!("{}: {}", path.display(), e.message().trim_end()),
    })?;
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    };

    let listen: SocketAddr = raw.listen.get_ref().parse().map_err(|_| {
        anyhow::anyhow!(
            "{}: listen {:?} is not an address with a port, like 127.0.0.1:5443",
            at(raw.listen.span()),
            raw.listen.get_ref()
        )
    })?;
    let public_url = match &raw.public_url {
        Some(u) => {
            check_url(u.get_ref(), &["https://"])
                .map_err(|e| anyhow::anyhow!("{}: public_url: {e}", at(u.span())))?;
            u.get_ref().trim_end_matches('/').to_string()
        }
        None => format!("https://{listen}"),
    };
    check_url(raw.backend.get_ref(), &["http://"])
        .map_err(|e| anyhow::anyhow!("{}: backend: {e}", at(raw.backend.span())))?;
    let backend = raw.backend.get_ref().trim_end_matches('/').to_string();
    let realm = match &raw.token.realm {
        Some(r) => {
            check_url(r.get_ref(), &["https://", "http://"])
                .map_err(|e| anyhow::anyhow!("{}: token.realm: {e}", at(r.span())))?;
            r.get_ref().clone()
        }
        None => format!("{public_url}/service/token"),
    };
    let default_lifetime = match &raw.token.lifetime_secs {
        Some(l) if *l.get_ref() == 0 => {
            bail!("{}: token.lifetime_secs must be above 0", at(l.span()))
        }
        Some(l) => *l.get_ref(),
        None => DEFAULT_LIFETIME_SECS,
    };

    let mut projects: Vec<Project> = Vec::new();
    for p in &raw.projects {
        let name = p.name.get_ref();
        if !valid_project_name(name) {
            bail!(
                "{}: project name {name:?} must be lowercase letters, digits, '.', '_' or '-'",
                at(p.name.span())
            );
        }
        if projects.iter().any(|q| q.name == *name) {
            bail!("{}: project {name:?} is listed twice", at(p.name.span()));
        }
        projects.push(Project {
            name: name.clone(),
            quota_bytes: p.quota_bytes,
        });
    }

    let mut users: Vec<User> = Vec::new();
    for u in raw.users {
        let name = u.name.get_ref().clone();
        if name.is_empty() || name.contains(':') {
            bail!(
                "{}: user name {name:?} must be non-empty and without ':' (Basic credentials split on it)",
                at(u.name.span())
            );
        }
        if users.iter().any(|v| v.name == name) {
            bail!("{}: user {name:?} is listed twice", at(u.name.span()));
        }
        let mut rights = BTreeMap::new();
        for (project, actions) in &u.projects {
            if !projects.iter().any(|p| p.name == *project) {
                let known: Vec<&str> = projects.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "{}: user {name:?} has rights on project {project:?}, which is not in [[projects]] (known: {})",
                    at(actions.span()),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
            let mut list = Vec::new();
            for a in actions.get_ref() {
                let action = Action::parse(a.get_ref()).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: user {name:?}, project {project:?}: unknown action {:?} (use pull, push, delete or *)",
                        at(a.span()),
                        a.get_ref()
                    )
                })?;
                if !list.contains(&action) {
                    list.push(action);
                }
            }
            rights.insert(project.clone(), list);
        }
        let token_lifetime_secs = match &u.token_lifetime_secs {
            Some(l) if *l.get_ref() == 0 => {
                bail!("{}: token_lifetime_secs must be above 0", at(l.span()))
            }
            Some(l) => *l.get_ref(),
            None => default_lifetime,
        };
        let token_uses = match &u.token_uses {
            Some(n) if *n.get_ref() == 0 => {
                bail!(
                    "{}: token_uses must be above 0 (leave it out for no limit)",
                    at(n.span())
                )
            }
            Some(n) => Some(*n.get_ref()),
            None => None,
        };
        users.push(User {
            name,
            password_file: resolve(&u.password_file),
            password: String::new(),
            rights,
            token_lifetime_secs,
            token_uses,
        });
    }

    let state_file = match &raw.state_file {
        Some(s) => resolve(s),
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "stack-harbor".to_string());
            dir.join(format!("{stem}.state.json"))
        }
    };

    Ok(Config {
        path: path.to_path_buf(),
        listen,
        public_url,
        backend,
        state_file,
        tls_cert: resolve(&raw.tls.cert),
        tls_key: resolve(&raw.tls.key),
        realm,
        service: raw
            .token
            .service
            .unwrap_or_else(|| DEFAULT_SERVICE.to_string()),
        issuer: raw
            .token
            .issuer
            .unwrap_or_else(|| DEFAULT_ISSUER.to_string()),
        signing_key: resolve(&raw.token.signing_key),
        signing_cert: resolve(&raw.token.signing_cert),
        token_lifetime_secs: default_lifetime,
        users,
        projects,
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    // A lone CR counts as a line end, as the other configuration parsers here do.
    let bytes = &text.as_bytes()[..end];
    let mut lines = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => lines += 1,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => lines += 1,
            _ => {}
        }
        i += 1;
    }
    lines
}

fn check_url(url: &str, schemes: &[&str]) -> std::result::Result<(), String> {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        return Err(format!("{url:?} must start with {}", schemes.join(" or ")));
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(())
}

/// Harbor's rule for project names (lowercase, digits and . _ -), which also keeps them
/// one path segment.
fn valid_project_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// The password is the file's first line, without its line end.
fn read_password(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the password file {}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        bail!("the password file {} is empty", path.display());
    }
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
listen = "127.0.0.1:5443"
backend = "http://127.0.0.1:5444/"

[tls]
cert = "server.pem"
key = "/etc/server-key.pem"

[token]
signing_key = "token-key.pem"
signing_cert = "token-cert.pem"

[[users]]
name = "robot$vcity+ci"
password_file = "ci.password"
projects = { vcity = ["pull", "push"] }
token_uses = 3

[[users]]
name = "robot$vcity+reader"
password_file = "reader.password"
token_lifetime_secs = 60
projects = { vcity = ["pull"] }

[[projects]]
name = "vcity"
quota_bytes = 1048576
"#;

    fn parse_str(text: &str) -> Result<Config> {
        parse(text, Path::new("/cfg/harbor.toml"), Path::new("/cfg"))
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse_str(text).unwrap_err())
    }

    #[test]
    fn parses_with_defaults() {
        let c = parse_str(GOOD).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5443");
        assert_eq!(c.public_url, "https://127.0.0.1:5443");
        assert_eq!(c.backend, "http://127.0.0.1:5444");
        assert_eq!(c.realm, "https://127.0.0.1:5443/service/token");
        assert_eq!(c.service, "harbor-registry");
        assert_eq!(c.issuer, "harbor-token-issuer");
        assert_eq!(c.tls_cert, Path::new("/cfg/server.pem"));
        assert_eq!(c.tls_key, Path::new("/etc/server-key.pem"));
        assert_eq!(c.state_file, Path::new("/cfg/harbor.state.json"));
        let ci = c.user("robot$vcity+ci").unwrap();
        assert_eq!(ci.rights["vcity"], vec![Action::Pull, Action::Push]);
        assert_eq!(ci.token_lifetime_secs, 1800);
        assert_eq!(ci.token_uses, Some(3));
        assert_eq!(ci.password_file, Path::new("/cfg/ci.password"));
        let reader = c.user("robot$vcity+reader").unwrap();
        assert_eq!(reader.token_lifetime_secs, 60);
        assert_eq!(reader.token_uses, None);
        assert_eq!(c.project("vcity").unwrap().quota_bytes, Some(1048576));
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let text = GOOD.replace("token_uses = 3", "token_uses = ");
        let e = err(&text);
        assert!(e.starts_with("/cfg/harbor.toml:17:"), "{e}");
    }

    #[test]
    fn unknown_field_names_its_line() {
        let text = GOOD.replace("token_uses = 3", "token_usage = 3");
        let e = err(&text);
        assert!(e.starts_with("/cfg/harbor.toml:17:"), "{e}");
        assert!(e.contains("token_usage"), "{e}");
    }

    #[test]
    fn unknown_project_names_its_line() {
        let text = GOOD.replace("{ vcity = [\"pull\"] }", "{ other = [\"pull\"] }");
        let e = err(&text);
        assert!(e.starts_with("/cfg/harbor.toml:23:"), "{e}");
        assert!(e.contains("\"other\""), "{e}");
        assert!(e.contains("known: vcity"), "{e}");
    }

    #[test]
    fn unknown_action_names_its_line() {
        let text = GOOD.replace("[\"pull\", \"push\"]", "[\"pull\", \"write\"]");
        let e = err(&text);
        assert!(e.starts_with("/cfg/harbor.toml:16:"), "{e}");
        assert!(e.contains("\"write\""), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let e = err(&GOOD.replace("127.0.0.1:5443\"", "localhost\""));
        assert!(
            e.starts_with("/cfg/harbor.toml:2:") && e.contains("listen"),
            "{e}"
        );
        let e = err(&GOOD.replace("http://127.0.0.1:5444/", "https://127.0.0.1:5444"));
        assert!(
            e.starts_with("/cfg/harbor.toml:3:") && e.contains("http://"),
            "{e}"
        );
        let e = err(&GOOD.replace("token_uses = 3", "token_uses = 0"));
        assert!(e.starts_with("/cfg/harbor.toml:17:"), "{e}");
        let e = err(&GOOD.replace("name = \"robot$vcity+reader\"", "name = \"robot$vcity+ci\""));
        assert!(e.contains("listed twice"), "{e}");
        let e = err(&GOOD.replace("name = \"vcity\"", "name = \"VCity\""));
        assert!(e.starts_with("/cfg/harbor.toml:26:"), "{e}");
    }

    #[test]
    fn line_counting() {
        assert_eq!(line_of("a\nb\r\nc\rd", 0), 1);
        assert_eq!(line_of("a\nb\r\nc\rd", 2), 2);
        assert_eq!(line_of("a\nb\r\nc\rd", 5), 3);
        assert_eq!(line_of("a\nb\r\nc\rd", 7), 4);
        assert_eq!(line_of("a", 99), 1);
    }

    #[test]
    fn password_is_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cr$t+x\n").unwrap();
        assert_eq!(read_password(&p).unwrap(), "s3cr$t+x");
        std::fs::write(&p, "\n").unwrap();
        assert!(format!("{:#}", read_password(&p).unwrap_err()).contains("is empty"));
    }
}

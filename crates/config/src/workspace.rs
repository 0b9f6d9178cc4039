//! The workspace TOML (`xtask.toml`), found by walking up from the working directory.
//!
//! The layout, key by key, is the complete example in
//! [`crate::WORKSPACE_TOML_EXAMPLE`] (tests/fixtures/xtask.example.toml): top-level
//! `default_profile`; tables `[cluster]`, `[registry]`, `[images]`, `[results]`,
//! `[timeouts]`, `[hera]`; an array `[[mirrors]]`; and `[profiles.NAME]` holding the same tables,
//! which override the top-level ones key by key when NAME is the active profile (a
//! profile's mirror list replaces the top-level one).
//!
//! Unknown keys produce a warning naming the closest known key; a value of the wrong
//! type is an error naming the file, line and key; `registry.password` and
//! `cluster.token` are errors, since this file is committed with the code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ConfigError, Warning, closest, cut, shown_name, shown_value};
use crate::keys::{Key, Kind, MAX_DURATION_SECS, SETTINGS};
use crate::origin::{Origin, Sourced};
use crate::resolve::{Candidate, Raw};
use crate::settings::Mirror;

/// The file name looked for in the working directory and its parents.
pub const FILE_NAME: &str = "xtask.toml";

const SECTIONS: [&str; 6] = [
    "cluster", "registry", "images", "results", "timeouts", "hera",
];

#[derive(Clone, Copy)]
enum Target {
    Setting(Key),
    RegistryProject,
    Forbidden(&'static str),
}

const PASSWORD_HINT: &str =
    "set XTASK_REGISTRY_PASSWORD (environment or hera.bash) or run `docker login`";
const TOKEN_HINT: &str = "set ARGO_TOKEN (environment or hera.bash) or argo_token in hera.config";

fn schema() -> Vec<(&'static str, &'static str, Target)> {
    let mut out: Vec<_> = SETTINGS
        .iter()
        .filter_map(|s| {
            let (table, key) = s.toml?.split_once('.')?;
            Some((table, key, Target::Setting(s.key)))
        })
        .collect();
    out.push(("registry", "project", Target::RegistryProject));
    out.push(("registry", "password", Target::Forbidden(PASSWORD_HINT)));
    out.push(("cluster", "token", Target::Forbidden(TOKEN_HINT)));
    out.push(("cluster", "argo_token", Target::Forbidden(TOKEN_HINT)));
    out
}

/// The settings of the top level or of one profile.
#[derive(Default, Clone)]
pub(crate) struct Scope {
    values: BTreeMap<Key, Candidate>,
    registry_project: Option<Candidate>,
    mirrors: Option<Sourced<Vec<Mirror>>>,
}

/// A parsed workspace TOML.
#[derive(Clone)]
pub(crate) struct WorkspaceToml {
    /// As shown to the user (relative to the working directory when inside it).
    pub shown: PathBuf,
    /// The folder holding the file: the workspace root.
    pub dir: PathBuf,
    pub default_profile: Option<Sourced<String>>,
    top: Scope,
    profiles: BTreeMap<String, Scope>,
}

impl WorkspaceToml {
    pub(crate) fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    pub(crate) fn has_profile(&self, name: &str) -> bool {
        self.profiles.contains_key(name)
    }

    fn scopes<'a>(&'a self, profile: Option<&str>) -> impl Iterator<Item = &'a Scope> {
        profile
            .and_then(|p| self.profiles.get(p))
            .into_iter()
            .chain(std::iter::once(&self.top))
    }

    /// The value for `key` from the active profile, else from the top level.
    pub(crate) fn pick(&self, key: Key, profile: Option<&str>) -> Option<Candidate> {
        let found = self
            .scopes(profile)
            .find_map(|s| s.values.get(&key).filter(|c| !c.raw.is_blank()))
            .cloned();
        if key != Key::Registry {
            return found;
        }
        let mut host = found?;
        let project = self
            .scopes(profile)
            .find_map(|s| s.registry_project.as_ref().filter(|c| !c.raw.is_blank()));
        if let Some(project) = project {
            let host_text = host.raw.as_text().trim().to_owned();
            if host_text.contains('/') {
                return Some(Candidate {
                    raw: Raw::Invalid(format!(
                        "{} already names a project, and {} sets another; keep one",
                        shown_value(&host_text),
                        project.origin
                    )),
                    ..host
                });
            }
            host.raw = Raw::Text(format!("{host_text}/{}", project.raw.as_text().trim()));
        }
        Some(host)
    }

    pub(crate) fn mirrors(&self, profile: Option<&str>) -> Option<Sourced<Vec<Mirror>>> {
        self.scopes(profile).find_map(|s| s.mirrors.clone())
    }
}

/// Looks for [`FILE_NAME`] in `cwd` and each parent folder; the nearest wins.
pub(crate) fn find(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|p| p.is_file())
}

struct Walker<'t> {
    text: &'t str,
    shown: PathBuf,
    dir: PathBuf,
    warnings: Vec<Warning>,
    schema: Vec<(&'static str, &'static str, Target)>,
}

/// Parses workspace TOML text. `shown` names the file in messages, `dir` is the base
/// of relative paths.
pub(crate) fn parse(
    text: &str,
    shown: &Path,
    dir: &Path,
) -> Result<(WorkspaceToml, Vec<Warning>), ConfigError> {
    let mut walker = Walker {
        text,
        shown: shown.to_path_buf(),
        dir: dir.to_path_buf(),
        warnings: Vec::new(),
        schema: schema(),
    };
    let doc = DeTable::parse(text).map_err(|e| ConfigError::TomlSyntax {
        path: shown.to_path_buf(),
        line: e.span().map_or(1, |s| walker.line_of(s.start)),
        // The message only, not the rendered snippet: the line could hold a secret.
        message: e.message().to_owned(),
    })?;
    let root = doc.get_ref();

    let mut default_profile = None;
    let mut profiles = BTreeMap::new();
    for (k, v) in root {
        match k.get_ref().as_ref() {
            "default_profile" => {
                let name = walker.string(v, "default_profile")?;
                default_profile = Some(Sourced::new(
                    name,
                    walker.origin("default_profile".to_owned()),
                ));
            }
            "profiles" => {
                let table = walker.table(v, "profiles")?;
                for (name, pv) in table {
                    let name = name.get_ref().to_string();
                    let prefix = format!("profiles.{name}");
                    let scope_table = walker.table(pv, &prefix)?;
                    let scope = walker.scope(scope_table, Some(&prefix))?;
                    profiles.insert(name, scope);
                }
            }
            _ => {}
        }
    }
    let top = walker.scope(root, None)?;
    let mut warnings = walker.warnings;
    warnings.sort_by_key(|w| w.line);
    Ok((
        WorkspaceToml {
            shown: walker.shown,
            dir: walker.dir,
            default_profile,
            top,
            profiles,
        },
        warnings,
    ))
}

fn dotted(prefix: Option<&str>, rest: &str) -> String {
    match prefix {
        Some(p) => format!("{p}.{rest}"),
        None => rest.to_owned(),
    }
}

fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

impl Walker<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn origin(&self, key: String) -> Origin {
        Origin::WorkspaceToml {
            path: self.shown.clone(),
            key,
        }
    }

    fn type_error(
        &self,
        v: &Spanned<DeValue<'_>>,
        key: &str,
        expected: &'static str,
        found: &'static str,
    ) -> ConfigError {
        ConfigError::TomlType {
            path: self.shown.clone(),
            line: self.line_of(v.span().start),
            key: key.to_owned(),
            expected,
            found,
        }
    }

    fn string(&self, v: &Spanned<DeValue<'_>>, key: &str) -> Result<String, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            other => Err(self.type_error(v, key, "a string", a_type(other))),
        }
    }

    fn table<'v, 'i>(
        &self,
        v: &'v Spanned<DeValue<'i>>,
        key: &str,
    ) -> Result<&'v DeTable<'i>, ConfigError> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.type_error(v, key, "a table", a_type(other))),
        }
    }

    fn warn(&mut self, offset: usize, message: String) {
        let line = self.line_of(offset);
        self.warnings.push(Warning::at(&self.shown, line, message));
    }

    fn scope(&mut self, table: &DeTable<'_>, prefix: Option<&str>) -> Result<Scope, ConfigError> {
        let mut scope = Scope::default();
        let mut allowed: Vec<&str> = SECTIONS.to_vec();
        allowed.push("mirrors");
        if prefix.is_none() {
            allowed.extend(["default_profile", "profiles"]);
        }
        for (k, v) in table {
            let name = k.get_ref().as_ref();
            if SECTIONS.contains(&name) {
                let full = dotted(prefix, name);
                let section = self.table(v, &full)?;
                self.section(name, section, prefix, &mut scope)?;
            } else if name == "mirrors" {
                scope.mirrors = Some(self.mirrors(v, prefix)?);
            } else if !allowed.contains(&name) {
                let message = match self.schema.iter().find(|(_, key, _)| *key == name) {
                    Some((section, key, _)) => format!(
                        "unknown key `{}`; did you mean `{key}` in a [{}] table?",
                        cut(&dotted(prefix, name)),
                        cut(&dotted(prefix, section))
                    ),
                    None => match closest(name, allowed.iter().copied(), 0.6) {
                        Some(s) => format!(
                            "unknown key {}; did you mean `{}`?",
                            shown_name(&dotted(prefix, name)),
                            dotted(prefix, s)
                        ),
                        None => format!(
                            "unknown key {}; known keys here: {}",
                            shown_name(&dotted(prefix, name)),
                            allowed.join(", ")
                        ),
                    },
                };
                self.warn(k.span().start, message);
            }
        }
        Ok(scope)
    }

    fn section(
        &mut self,
        section: &str,
        table: &DeTable<'_>,
        prefix: Option<&str>,
        scope: &mut Scope,
    ) -> Result<(), ConfigError> {
        for (k, v) in table {
            let name = k.get_ref().as_ref();
            let full = dotted(prefix, &format!("{section}.{name}"));
            let target = self
                .schema
                .iter()
                .find(|(s, key, _)| *s == section && *key == name)
                .map(|(_, _, t)| *t);
            let Some(target) = target else {
                let here = self
                    .schema
                    .iter()
                    .filter(|(s, _, t)| *s == section && !matches!(t, Target::Forbidden(_)))
                    .map(|(_, key, _)| *key)
                    .collect::<Vec<_>>();
                let elsewhere = self
                    .schema
                    .iter()
                    .find(|(s, key, t)| {
                        *s != section && *key == name && !matches!(t, Target::Forbidden(_))
                    })
                    .map(|(s, _, _)| *s);
                let message = match (closest(name, here.iter().copied(), 0.6), elsewhere) {
                    (Some(s), _) => format!(
                        "unknown key {}; did you mean `{}`?",
                        shown_name(&full),
                        dotted(prefix, &format!("{section}.{s}"))
                    ),
                    (None, Some(other)) => format!(
                        "unknown key `{}`; `{name}` belongs in [{}]",
                        cut(&full),
                        cut(&dotted(prefix, other))
                    ),
                    (None, None) => format!(
                        "unknown key {}; known keys in [{section}]: {}",
                        shown_name(&full),
                        here.join(", ")
                    ),
                };
                self.warn(k.span().start, message);
                continue;
            };
            let origin = self.origin(full.clone());
            match target {
                Target::Forbidden(hint) => {
                    return Err(ConfigError::SecretInToml {
                        path: self.shown.clone(),
                        line: self.line_of(k.span().start),
                        key: full,
                        hint,
                    });
                }
                Target::RegistryProject => {
                    let text = self.string(v, &full)?;
                    scope.registry_project = Some(Candidate {
                        raw: Raw::Text(text),
                        origin,
                        base: self.dir.clone(),
                    });
                }
                Target::Setting(key) => {
                    let raw = self.typed(v, &full, key.kind())?;
                    scope.values.insert(
                        key,
                        Candidate {
                            raw,
                            origin,
                            base: self.dir.clone(),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn typed(&self, v: &Spanned<DeValue<'_>>, key: &str, kind: Kind) -> Result<Raw, ConfigError> {
        match (kind, v.get_ref()) {
            (Kind::Text | Kind::Path, DeValue::String(s)) => Ok(Raw::Text(s.to_string())),
            (Kind::Bool, DeValue::Boolean(b)) => Ok(Raw::Bool(*b)),
            (Kind::Count | Kind::Seconds, DeValue::Integer(i)) => {
                let n = match i64::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) if n >= 0 => n.unsigned_abs(),
                    _ if i.as_str().starts_with('-') => {
                        return Err(self.type_error(
                            v,
                            key,
                            "a non-negative integer",
                            "a negative integer",
                        ));
                    }
                    _ => {
                        return Err(self.type_error(
                            v,
                            key,
                            "a non-negative integer",
                            "an integer too large for 64 bits",
                        ));
                    }
                };
                if kind == Kind::Seconds && n > MAX_DURATION_SECS {
                    return Err(self.type_error(
                        v,
                        key,
                        "a number of seconds up to 2592000 (30 days)",
                        "a larger number",
                    ));
                }
                Ok(Raw::Count(n))
            }
            (Kind::Text | Kind::Path, other) => {
                Err(self.type_error(v, key, "a string", a_type(other)))
            }
            (Kind::Bool, other) => {
                Err(self.type_error(v, key, "a boolean (true or false)", a_type(other)))
            }
            (Kind::Count | Kind::Seconds, other) => {
                Err(self.type_error(v, key, "a non-negative integer", a_type(other)))
            }
        }
    }

    fn mirrors(
        &mut self,
        v: &Spanned<DeValue<'_>>,
        prefix: Option<&str>,
    ) -> Result<Sourced<Vec<Mirror>>, ConfigError> {
        let full = dotted(prefix, "mirrors");
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.type_error(
                v,
                &full,
                "an array of tables ([[mirrors]])",
                a_type(v.get_ref()),
            ));
        };
        let mut mirrors = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let item_key = format!("{full}[{index}]");
            let table = self.table(item, &item_key)?;
            let mut source = None;
            let mut target_name = None;
            for (k, value) in table {
                match k.get_ref().as_ref() {
                    "source" => source = Some(self.string(value, &format!("{item_key}.source"))?),
                    "name" => {
                        let name = self.string(value, &format!("{item_key}.name"))?;
                        target_name = Some(name).filter(|n| !n.trim().is_empty());
                    }
                    other => {
                        let message = match closest(other, ["source", "name"], 0.6) {
                            Some(s) => format!(
                                "unknown key {} in {item_key}; did you mean `{s}`?",
                                shown_name(other)
                            ),
                            None => format!(
                                "unknown key {} in {item_key}; known keys: source, name",
                                shown_name(other)
                            ),
                        };
                        self.warn(k.span().start, message);
                    }
                }
            }
            match source.filter(|s| !s.trim().is_empty()) {
                Some(source) => mirrors.push(Mirror {
                    source: source.trim().to_owned(),
                    target_name,
                }),
                None => {
                    return Err(self.type_error(
                        item,
                        &format!("{item_key}.source"),
                        "a non-empty string (the image to mirror)",
                        "missing or empty",
                    ));
                }
            }
        }
        Ok(Sourced::new(mirrors, self.origin(full)))
    }
}

//! Discovery: every `containers/NAME/` folder with a Dockerfile (or an image.toml) is an
//! image; mirrors from the settings are images copied from elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{MirrorConfig, RegistryConfig};
use crate::error::{Error, Result};
use crate::fsutil::display_rel;
use crate::reference::{ImageRef, validate_name_component, validate_tag};

/// Where the image lock file lives, relative to the workspace root.
pub const LOCK_FILE: &str = "containers/images.lock";

/// Whether `pattern` selects the image `name`: the name itself, or a prefix ending in
/// `*` (`demo-*`).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Name of the optional per-image settings file.
pub const IMAGE_TOML: &str = "image.toml";

/// The workspace layout: where images are found and where this crate keeps its state.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The repository root; paths in messages are relative to it.
    pub root: PathBuf,
    /// `containers/`.
    pub containers: PathBuf,
    /// `.xtask/images/`: hash cache, per-image state, build logs, layer map, scratch.
    pub state_dir: PathBuf,
    /// `containers/images.lock`.
    pub lock_path: PathBuf,
}

impl Workspace {
    /// The standard layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Workspace {
            containers: root.join("containers"),
            state_dir: root.join(".xtask").join("images"),
            lock_path: root.join(LOCK_FILE),
            root,
        }
    }

    /// `path` for messages: relative to the root when inside it.
    pub fn display(&self, path: &Path) -> String {
        display_rel(&self.root, path)
    }

    /// Finds the images of `containers/` and adds the mirrors. The registry decides the
    /// references images get; without one, images are only named `name:tag` locally.
    pub fn discover(
        &self,
        registry: Option<&RegistryConfig>,
        mirrors: &[MirrorConfig],
    ) -> Result<Vec<ImageSpec>> {
        let mut specs: Vec<ImageSpec> = Vec::new();
        if self.containers.exists() {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.containers)
                .map_err(|e| Error::io("list", &self.containers, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            dirs.sort();
            for dir in dirs {
                if let Some(spec) = self.load_image_dir(&dir, registry)? {
                    push_unique(&mut specs, spec)?;
                }
            }
        }
        for m in mirrors {
            push_unique(&mut specs, mirror_spec(m, registry)?)?;
        }
        Ok(specs)
    }

    fn load_image_dir(
        &self,
        dir: &Path,
        registry: Option<&RegistryConfig>,
    ) -> Result<Option<ImageSpec>> {
        let toml_path = dir.join(IMAGE_TOML);
        let toml = match std::fs::read_to_string(&toml_path) {
            Ok(text) => Some(ImageToml::parse(&text, &toml_path)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", &toml_path, e)),
        };
        let default_dockerfile = dir.join("Dockerfile");
        if toml.is_none() && !default_dockerfile.exists() {
            // A folder without Dockerfile or image.toml is shared material, not an image.
            return Ok(None);
        }
        let toml = toml.unwrap_or_default();
        let origin_of = |key: &str| {
            if toml.has(key) {
                format!("{} `{key}`", self.display(&toml_path))
            } else {
                format!("folder {}", self.display(dir))
            }
        };

        let folder_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = toml.name.clone().unwrap_or(folder_name);
        validate_name_component(&name).map_err(|why| Error::InvalidValue {
            what: "image name",
            value: name.clone(),
            origin: origin_of("name"),
            why: format!("{why}; set `name = \"…\"` in {IMAGE_TOML}"),
        })?;
        let tag = toml.tag.clone().unwrap_or_else(|| "latest".into());
        validate_tag(&tag).map_err(|why| Error::InvalidValue {
            what: "tag",
            value: tag.clone(),
            origin: origin_of("tag"),
            why,
        })?;

        let dockerfile = match &toml.dockerfile {
            Some(p) => dir.join(p),
            None => default_dockerfile,
        };
        match std::fs::metadata(&dockerfile) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(Error::file(
                    &dockerfile,
                    format!(
                        "is not a file (Dockerfile of image {name}, from {})",
                        origin_of("dockerfile")
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::file(
                    &dockerfile,
                    format!(
                        "Dockerfile of image {name} not found (from {}); create it or fix `dockerfile` in {IMAGE_TOML}",
                        origin_of("dockerfile")
                    ),
                ));
            }
            Err(e) => return Err(Error::io("read", &dockerfile, e)),
        }
        // Fail now, with the file named, rather than halfway through a build.
        std::fs::File::open(&dockerfile).map_err(|e| Error::io("read", &dockerfile, e))?;

        let context = match &toml.context {
            Some(p) => dir.join(p),
            None => dir.to_path_buf(),
        };
        if !context.is_dir() {
            return Err(Error::file(
                &toml_path,
                format!(
                    "build context {} of image {name} is not a folder; fix `context` (relative to {})",
                    self.display(&context),
                    self.display(dir)
                ),
            ));
        }

        for key in toml.args.keys() {
            let ok = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(Error::InvalidValue {
                    what: "build argument name",
                    value: key.clone(),
                    origin: format!("{} [args]", self.display(&toml_path)),
                    why: "use letters, digits and '_', not starting with a digit".into(),
                });
            }
        }

        let reference = target_reference(registry, &name, &tag);
        Ok(Some(ImageSpec {
            name,
            tag,
            reference,
            kind: ImageKind::Build(BuildSpec {
                dir: dir.to_path_buf(),
                dockerfile,
                context,
                args: toml.args.clone(),
                target: toml.target.clone(),
                image_toml: toml_path.exists().then_some(toml_path),
            }),
        }))
    }
}

fn target_reference(registry: Option<&RegistryConfig>, name: &str, tag: &str) -> String {
    match registry {
        Some(r) => r.image(name, tag),
        None => format!("{name}:{tag}"),
    }
}

fn mirror_spec(m: &MirrorConfig, registry: Option<&RegistryConfig>) -> Result<ImageSpec> {
    let source = ImageRef::parse(&m.source, &m.origin)?;
    let name = m
        .target_name
        .clone()
        .unwrap_or_else(|| source.name().to_string());
    validate_name_component(&name).map_err(|why| Error::InvalidValue {
        what: "mirror name",
        value: name.clone(),
        origin: m.origin.clone(),
        why,
    })?;
    let tag = source.tag_or_latest().to_string();
    Ok(ImageSpec {
        reference: target_reference(registry, &name, &tag),
        name,
        tag,
        kind: ImageKind::Mirror(MirrorSpec {
            source: m.source.clone(),
            origin: m.origin.clone(),
        }),
    })
}

fn push_unique(specs: &mut Vec<ImageSpec>, spec: ImageSpec) -> Result<()> {
    if let Some(other) = specs.iter().find(|s| s.name == spec.name) {
        return Err(Error::DuplicateImage {
            name: spec.name.clone(),
            first: other.describe(),
            second: spec.describe(),
        });
    }
    specs.push(spec);
    Ok(())
}

/// One image of the workspace.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSpec {
    /// Name under the registry project (`collect`).
    pub name: String,
    pub tag: String,
    /// Where it goes: `host/project/name:tag` (also its local tag after a build).
    pub reference: String,
    pub kind: ImageKind,
}

impl ImageSpec {
    /// "containers/collect" or "mirror of postgres:15.2", for messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            ImageKind::Build(b) => b.dir.display().to_string(),
            ImageKind::Mirror(m) => format!("mirror of {} ({})", m.source, m.origin),
        }
    }

    /// The build part, for images built from a Dockerfile.
    pub fn build(&self) -> Option<&BuildSpec> {
        match &self.kind {
            ImageKind::Build(b) => Some(b),
            ImageKind::Mirror(_) => None,
        }
    }
}

/// How an image is made.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageKind {
    Build(BuildSpec),
    Mirror(MirrorSpec),
}

impl ImageKind {
    /// How the image is made, as the JSON tag names it: `build` or `mirror`.
    pub fn name(&self) -> &'static str {
        match self {
            ImageKind::Build(_) => "build",
            ImageKind::Mirror(_) => "mirror",
        }
    }
}

/// An image built from a Dockerfile.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSpec {
    /// The image folder (`containers/collect`).
    pub dir: PathBuf,
    pub dockerfile: PathBuf,
    /// The build context folder (the image folder unless image.toml says otherwise).
    pub context: PathBuf,
    pub args: BTreeMap<String, String>,
    /// Target stage.
    pub target: Option<String>,
    pub image_toml: Option<PathBuf>,
}

/// A third-party image copied as is.
#[derive(Debug, Clone, Serialize)]
pub struct MirrorSpec {
    pub source: String,
    pub origin: String,
}

/// `containers/NAME/image.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageToml {
    name: Option<String>,
    tag: Option<String>,
    /// Relative to the image folder.
    dockerfile: Option<PathBuf>,
    /// Relative to the image folder.
    context: Option<PathBuf>,
    target: Option<String>,
    #[serde(default, deserialize_with = "scalar_map")]
    args: BTreeMap<String, String>,
    #[serde(skip)]
    keys: Vec<String>,
}

impl ImageToml {
    fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut parsed: ImageToml = toml::from_str(text).map_err(|e| {
            Error::file(
                path,
                format!(
                    "{}; known keys: name, tag, dockerfile, context, target, [args]",
                    e.to_string().trim_end()
                ),
            )
        })?;
        if let Ok(t) = toml::from_str::<toml::Table>(text) {
            parsed.keys = t.keys().cloned().collect();
        }
        Ok(parsed)
    }

    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }
}

/// Build arguments may be written as strings, numbers or booleans; Docker gets strings.
fn scalar_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    let raw: BTreeMap<String, toml::Value> = BTreeMap::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "build argument {k} must be a string, number or boolean, not {}",
                        other.type_str()
                    )));
                }
            };
            Ok((k, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pattern_is_a_name_or_a_prefix_ending_in_a_star() {
        use super::name_matches;
        assert!(name_matches("demo", "demo"));
        assert!(!name_matches("demo", "demo-gpu"));
        assert!(name_matches("demo-*", "demo-gpu"));
        assert!(name_matches("demo-*", "demo-"));
        assert!(!name_matches("demo-*", "demo"));
        assert!(!name_matches("demo-*", "other-demo-gpu"));
        assert!(name_matches("*", "anything"));
    }

    use super::*;

    fn ws() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        std::fs::create_dir_all(&ws.containers).unwrap();
        (dir, ws)
    }

    fn write(p: PathBuf, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn reg() -> RegistryConfig {
        RegistryConfig::new("harbor.example", Some("vcity"))
    }

    #[test]
    fn finds_dockerfile_folders_with_defaults_and_toml() {
        let (_d, ws) = ws();
        write(ws.containers.join("collect/Dockerfile"), "FROM a\n");
        write(ws.containers.join("shared/lib.py"), "x");
        write(ws.containers.join(".hidden/Dockerfile"), "FROM a\n");
        write(
            ws.containers.join("train/docker/Train.dockerfile"),
            "FROM a\n",
        );
        write(
            ws.containers.join("train/image.toml"),
            "name = \"trainer\"\ntag = \"2.1\"\ndockerfile = \"docker/Train.dockerfile\"\ncontext = \"..\"\ntarget = \"run\"\n[args]\nPY = \"3.11\"\nN = 3\n",
        );
        let specs = ws.discover(Some(&reg()), &[]).unwrap();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].name, "collect");
        assert_eq!(specs[0].reference, "harbor.example/vcity/collect:latest");
        let t = &specs[1];
        assert_eq!(t.reference, "harbor.example/vcity/trainer:2.1");
        let b = t.build().unwrap();
        assert!(b.dockerfile.ends_with("docker/Train.dockerfile"));
        assert_eq!(b.context, ws.containers.join("train/.."));
        assert_eq!(b.target.as_deref(), Some("run"));
        assert_eq!(b.args["PY"], "3.11");
        assert_eq!(b.args["N"], "3");
    }

    #[test]
    fn no_containers_folder_is_empty_and_no_registry_names_locally() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        assert!(ws.discover(None, &[]).unwrap().is_empty());
        std::fs::create_dir_all(ws.containers.join("x")).unwrap();
        std::fs::write(ws.containers.join("x/Dockerfile"), "FROM a").unwrap();
        assert_eq!(ws.discover(None, &[]).unwrap()[0].reference, "x:latest");
    }

    #[test]
    fn errors_name_the_file() {
        let (_d, ws) = ws();
        write(ws.containers.join("a/image.toml"), "tags = \"1\"\n");
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("a/image.toml") && err.contains("tags"),
            "{err}"
        );

        write(ws.containers.join("a/image.toml"), "tag = [1]\n");
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(err.contains("a/image.toml"), "{err}");

        write(ws.containers.join("a/image.toml"), "tag = \"1\"\n");
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("a/Dockerfile") && err.contains("not found"),
            "{err}"
        );

        write(ws.containers.join("a/Dockerfile"), "FROM x");
        write(ws.containers.join("a/image.toml"), "tag = \"-bad\"\n");
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("image.toml `tag`") && err.contains("-bad"),
            "{err}"
        );

        write(ws.containers.join("a/image.toml"), "context = \"nope\"\n");
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("context"), "{err}");

        write(
            ws.containers.join("a/image.toml"),
            "[args]\n\"1X\" = \"v\"\n",
        );
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("build argument name") && err.contains("1X"),
            "{err}"
        );

        write(
            ws.containers.join("a/image.toml"),
            "[args]\nX = { a = 1 }\n",
        );
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("a/image.toml") && err.contains("build argument X"),
            "{err}"
        );
    }

    #[test]
    fn invalid_folder_name_says_how_to_fix() {
        let (_d, ws) = ws();
        write(ws.containers.join("MyImage/Dockerfile"), "FROM x");
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(
            err.contains("MyImage") && err.contains("lowercase") && err.contains("name ="),
            "{err}"
        );
    }

    #[test]
    fn unreadable_dockerfile_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, ws) = ws();
        let df = ws.containers.join("a/Dockerfile");
        write(df.clone(), "FROM x");
        std::fs::set_permissions(&df, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(&df).is_ok() {
            // running as root: permissions do not stop reads; a directory in its place does
            std::fs::remove_file(&df).unwrap();
            std::fs::create_dir(&df).unwrap();
        }
        let err = ws.discover(None, &[]).unwrap_err().to_string();
        assert!(err.contains("a/Dockerfile"), "{err}");
    }

    #[test]
    fn mirrors_and_duplicates() {
        let (_d, ws) = ws();
        write(ws.containers.join("postgres/Dockerfile"), "FROM x");
        let m = |s: &str, n: Option<&str>| MirrorConfig {
            source: s.into(),
            target_name: n.map(str::to_string),
            origin: "xtask.toml mirrors".into(),
        };
        let err = ws
            .discover(Some(&reg()), &[m("postgres:15.2", None)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("postgres") && err.contains("used twice"),
            "{err}"
        );
        let specs = ws
            .discover(Some(&reg()), &[m("postgres:15.2", Some("pg"))])
            .unwrap();
        assert_eq!(specs[1].reference, "harbor.example/vcity/pg:15.2");
        let err = ws
            .discover(Some(&reg()), &[m("Bad Ref", None)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("xtask.toml mirrors"), "{err}");
    }
}

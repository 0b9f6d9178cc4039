//! Image references (`[registry/]repository[:tag][@digest]`) with Docker's rules for when the
//! first component is a registry, and the Docker Hub defaults.

use std::fmt;

use crate::error::Error;

/// The distribution project's reference grammar (`reference/regexp.go`), in ASCII:
/// oci-client's own Unicode regex takes 17 MB to build, once in every process that
/// parses a reference.
static REFERENCE: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]+)";
    let path_component = format!("{alnum}(?:{separator}{alnum})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[a-fA-F0-9:]+\])");
    let domain = format!("{host}(?::[0-9]+)?");
    let name = format!("(?:{domain}/)?{path_component}(?:/{path_component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    regex_lite::Regex::new(&format!("^{name}(?::{tag})?(?:@{digest})?$"))
        .expect("the reference grammar is a valid regex")
});

/// Docker Hub as written in references.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, validated image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (with port) when the reference names one explicitly.
    pub registry: Option<String>,
    /// Repository path as written (`postgres`, `vcity/collect`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and validates `s`; `origin` says where the value came from, for the error.
    pub fn parse(s: &str, origin: &str) -> Result<Self, Error> {
        let invalid = |why: String| Error::InvalidValue {
            what: "image reference",
            value: s.to_string(),
            origin: origin.to_string(),
            why,
        };
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(invalid("it is empty".into()));
        }
        if !REFERENCE.is_match(trimmed) {
            return Err(invalid(
                "not a valid reference (expected [registry[:port]/]name[:tag][@sha256:…], lowercase name)"
                    .into(),
            ));
        }

        let (rest, digest) = match trimmed.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (trimmed, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, tail)) if is_registry_component(first) => (Some(first.to_string()), tail),
            _ => (None, rest),
        };
        // A ':' after the last '/' is the tag (a ':' before it belongs to the registry port).
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
            _ => (path.to_string(), None),
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("repository names must be lowercase".into()));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry host, Docker Hub when none is written.
    pub fn registry_or_default(&self) -> &str {
        self.registry.as_deref().unwrap_or(DOCKER_HUB)
    }

    /// The repository as the registry knows it (`postgres` on Docker Hub is `library/postgres`).
    pub fn full_repository(&self) -> String {
        let hub = matches!(
            self.registry_or_default(),
            DOCKER_HUB | "index.docker.io" | "registry-1.docker.io"
        );
        if hub && !self.repository.contains('/') {
            format!("library/{}", self.repository)
        } else {
            self.repository.clone()
        }
    }

    /// The last path component (`collect` for `host/vcity/collect:1`).
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The tag, `latest` when none is written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// Fully spelled-out form: registry, full repository, tag (or digest).
    pub fn canonical(&self) -> String {
        let mut s = format!("{}/{}", self.registry_or_default(), self.full_repository());
        if let Some(d) = &self.digest {
            if let Some(t) = &self.tag {
                s.push(':');
                s.push_str(t);
            }
            s.push('@');
            s.push_str(d);
        } else {
            s.push(':');
            s.push_str(self.tag_or_latest());
        }
        s
    }

    /// The oci-client form of this reference.
    pub fn to_oci(&self) -> oci_client::Reference {
        let registry = self.registry_or_default().to_string();
        let repo = self.full_repository();
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => {
                oci_client::Reference::with_tag_and_digest(registry, repo, t.clone(), d.clone())
            }
            (None, Some(d)) => oci_client::Reference::with_digest(registry, repo, d.clone()),
            (t, None) => oci_client::Reference::with_tag(
                registry,
                repo,
                t.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker's rule: the first component is a registry if it has a dot or a port, or is localhost.
fn is_registry_component(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// Checks one repository path component (an image name from a folder or image.toml).
pub fn validate_name_component(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("image names must be lowercase".into());
    }
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    let ends_ok = name
        .chars()
        .next()
        .zip(name.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if !ok_chars || !ends_ok || name.contains("..") || name.contains("___") {
        return Err("use lowercase letters, digits and single '.', '_' or '-' between them".into());
    }
    Ok(())
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok || tag.len() > 128 {
        return Err(
            "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s, "test").unwrap()
    }

    #[test]
    fn splits_registry_repository_tag_digest() {
        let r = p("harbor.pagoda.os.univ-lyon1.fr/vcity/collect:1.0");
        assert_eq!(
            r.registry.as_deref(),
            Some("harbor.pagoda.os.univ-lyon1.fr")
        );
        assert_eq!(r.repository, "vcity/collect");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.name(), "collect");

        let r = p("127.0.0.1:5443/vcity/x");
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5443"));
        assert_eq!(r.tag, None);

        let r = p("localhost/x:y");
        assert_eq!(r.registry.as_deref(), Some("localhost"));

        let d = format!("sha256:{}", "a".repeat(64));
        let r = p(&format!("vcity/x:1@{d}"));
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "vcity/x");
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
    }

    #[test]
    fn docker_hub_defaults() {
        let r = p("postgres:15.2");
        assert_eq!(r.canonical(), "docker.io/library/postgres:15.2");
        assert_eq!(
            p("argoproj/argosay:v2").canonical(),
            "docker.io/argoproj/argosay:v2"
        );
        assert_eq!(p("busybox").canonical(), "docker.io/library/busybox:latest");
        let o = p("postgres:15.2").to_oci();
        assert_eq!(o.registry(), "docker.io");
        assert_eq!(o.repository(), "library/postgres");
    }

    #[test]
    fn rejects_bad_references_with_origin() {
        for bad in ["", "UPPER/case", "a b", "x:", "x@sha256:zz", "-x", "x:-bad"] {
            let err = ImageRef::parse(bad, "workflows/a.yaml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("workflows/a.yaml"), "{bad}: {err}");
        }
    }

    #[test]
    fn follows_the_distribution_grammar() {
        let digest = format!("sha256:{}", "0f".repeat(32));
        for good in [
            "[::1]:5000/x/y:1".to_string(),
            "Registry.Example.org:443/a__b/c-d.e:T_1.x-y".to_string(),
            format!("x@{digest}"),
            format!("x:{}", "t".repeat(128)),
        ] {
            assert!(ImageRef::parse(&good, "t").is_ok(), "{good}");
        }
        for bad in [
            format!("x:{}", "t".repeat(129)),
            "x/".into(),
            "x//y".into(),
            "x/-y".into(),
            "x@sha256:abc".into(),
            "host:port/x".into(),
            "x:é".into(),
        ] {
            assert!(ImageRef::parse(&bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn name_and_tag_rules() {
        assert!(validate_name_component("collect-data_2.x").is_ok());
        for bad in ["", "Collect", "-x", "x-", "a..b", "a/b", "a b"] {
            assert!(validate_name_component(bad).is_err(), "{bad}");
        }
        assert!(validate_tag("v1.2_3-rc").is_ok());
        assert!(validate_tag("_x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}

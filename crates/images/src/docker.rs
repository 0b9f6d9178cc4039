//! The Docker engine connection and the few image queries the pipeline needs.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{ListImagesOptionsBuilder, TagImageOptionsBuilder};

use crate::error::{Error, Result, docker_message};

/// Label holding the cache key on built images.
pub const KEY_LABEL: &str = "xtask.key";
/// Label holding the image name on built images.
pub const NAME_LABEL: &str = "xtask.image";

/// Time allowed for the engine to start answering a request. Build and export bodies
/// stream after that without limit; uploading a large context counts, hence the margin.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// A connected engine, API version negotiated (Debian's dockerd 20.10 speaks 1.41).
#[derive(Debug, Clone)]
pub struct DockerEngine {
    pub(crate) docker: Docker,
    endpoint: String,
}

impl DockerEngine {
    /// Connects where `DOCKER_HOST` says, else to `/var/run/docker.sock`.
    pub async fn connect() -> Result<Self> {
        let endpoint = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        Self::connect_to(&endpoint).await
    }

    /// Connects to `endpoint` (`unix:///path`, `tcp://host:port`).
    pub async fn connect_to(endpoint: &str) -> Result<Self> {
        let unavailable = |message: String| Error::DockerUnavailable {
            endpoint: endpoint.to_string(),
            message,
        };
        if let Some(path) = endpoint.strip_prefix("unix://")
            && !std::path::Path::new(path).exists()
        {
            return Err(unavailable(format!("no socket at {path}")));
        }
        let docker = Docker::connect_with_host(endpoint)
            .map_err(|e| unavailable(docker_message(&e)))?
            .with_timeout(REQUEST_TIMEOUT);
        let docker = tokio::time::timeout(Duration::from_secs(20), docker.negotiate_version())
            .await
            .map_err(|_| unavailable("no answer within 20 s".into()))?
            .map_err(|e| unavailable(connect_message(&e)))?;
        Ok(DockerEngine {
            docker,
            endpoint: endpoint.to_string(),
        })
    }

    /// Where the engine is.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bollard client, for callers that need more.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The image ID (`sha256:…`) of `reference`, `None` when the engine has no such image.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(reference).await {
            Ok(i) => Ok(i.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(Error::docker(format!("inspect image {reference}"), &e)),
        }
    }

    /// IDs of local images labelled with this key (newest first).
    pub async fn images_with_key(&self, key: &str) -> Result<Vec<String>> {
        let list = self.labelled(format!("{KEY_LABEL}={key}")).await?;
        Ok(list.into_iter().map(|i| i.id).collect())
    }

    /// Every local image labelled with a key, by key (newest first): one listing for a
    /// whole plan instead of one request per image.
    pub async fn images_by_key(&self) -> Result<HashMap<String, Vec<String>>> {
        let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
        for image in self.labelled(KEY_LABEL.to_string()).await? {
            if let Some(key) = image.labels.get(KEY_LABEL) {
                by_key.entry(key.clone()).or_default().push(image.id);
            }
        }
        Ok(by_key)
    }

    /// Local images matching a label filter (`name` or `name=value`), newest first.
    async fn labelled(&self, filter: String) -> Result<Vec<bollard::models::ImageSummary>> {
        let mut filters: HashMap<&str, Vec<String>> = HashMap::new();
        filters.insert("label", vec![filter]);
        let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
        let mut list = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(|e| Error::docker("list images", &e))?;
        list.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(list)
    }

    /// Points `reference` (`repo:tag`) at image `id`.
    pub async fn tag(&self, id: &str, reference: &str) -> Result<()> {
        let (repo, tag) = split_repo_tag(reference);
        let opts = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        self.docker
            .tag_image(id, Some(opts))
            .await
            .map_err(|e| Error::docker(format!("tag {id} as {reference}"), &e))
    }
}

/// `host:5000/a/b:tag` -> (`host:5000/a/b`, `tag`); no tag -> `latest`.
pub(crate) fn split_repo_tag(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

fn connect_message(err: &bollard::errors::Error) -> String {
    let text = docker_message(err);
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() || text.contains(&detail) {
        text
    } else {
        format!("{text}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tag_split() {
        assert_eq!(split_repo_tag("a/b:1"), ("a/b", "1"));
        assert_eq!(split_repo_tag("h:5000/a/b"), ("h:5000/a/b", "latest"));
        assert_eq!(split_repo_tag("h:5000/a/b:x"), ("h:5000/a/b", "x"));
    }

    #[tokio::test]
    async fn missing_socket_says_how_to_start() {
        let err = DockerEngine::connect_to("unix:///nonexistent/docker.sock")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/docker.sock"), "{err}");
        assert!(
            err.contains("tests/stack/up") && err.contains("systemctl start docker"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn dead_socket_says_how_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("dead.sock");
        // a socket file nobody listens on
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let endpoint = format!("unix://{}", sock.display());
        let err = DockerEngine::connect_to(&endpoint)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not reachable") && err.contains("dockerd"),
            "{err}"
        );
    }
}

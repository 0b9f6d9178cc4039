//! One error type for the crate. Every variant names the file, image, registry or value
//! involved, where it came from, and what to do about it.

use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while discovering, building, pushing or mirroring images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the workspace (image.toml, Dockerfile, .dockerignore, lock or state file)
    /// could not be understood.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },

    /// Reading or writing a file failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A value (image name, tag, reference, build argument) is not acceptable.
    #[error("invalid {what} {value:?} (from {origin}): {why}")]
    InvalidValue {
        what: &'static str,
        value: String,
        origin: String,
        why: String,
    },

    /// Two images would be pushed under the same name.
    #[error(
        "image name {name:?} is used twice: by {first} and by {second}; set a different `name` in one image.toml"
    )]
    DuplicateImage {
        name: String,
        first: String,
        second: String,
    },

    /// The Docker engine cannot be reached at all.
    #[error(
        "the Docker engine is not reachable at {endpoint}: {message}\n\
         start it with `tests/stack/up` (local test stack), `systemctl start docker` or `dockerd`, \
         or point DOCKER_HOST at a running engine"
    )]
    DockerUnavailable { endpoint: String, message: String },

    /// The Docker engine answered with an error.
    #[error("Docker engine: cannot {action}: {message}")]
    Docker { action: String, message: String },

    /// `docker build` failed; names the step and shows the end of the log.
    #[error("{0}")]
    BuildFailed(Box<BuildFailure>),

    /// A base image of another image in the workspace failed, so this one was not built.
    #[error("image {image} was not built: its base image {dependency} failed")]
    DependencyFailed { image: String, dependency: String },

    /// The registry cannot be reached (down, wrong address, DNS).
    #[error(
        "registry {registry} is not reachable: {message}\n\
         check that it runs and that the address is right ({origin}), then run the same command again \
         (a push resumes where it stopped)"
    )]
    RegistryUnreachable {
        registry: String,
        origin: String,
        message: String,
    },

    /// The connection broke in the middle of a request (registry stopped, network cut).
    #[error(
        "the connection to registry {registry} broke while trying to {action}: {message}\n\
         the registry stopped or the network dropped; layers already uploaded are kept and \
         containers/images.lock records only complete pushes: run the same command again to resume"
    )]
    RegistryConnectionLost {
        registry: String,
        action: String,
        message: String,
    },

    /// The registry's TLS certificate is not trusted.
    #[error(
        "registry {registry}: TLS certificate not trusted (x509: unknown authority): {message}\n{hint}"
    )]
    RegistryCertificate {
        registry: String,
        message: String,
        hint: String,
    },

    /// The registry refused the credentials (401) or has none to use.
    #[error(
        "registry {registry} refused access ({status}) {message}; credentials used: {credentials}\n\
         check the user and password (XTASK_REGISTRY_USER / XTASK_REGISTRY_PASSWORD or --registry-user / --registry-password), \
         or run `docker login {registry}`"
    )]
    RegistryAuth {
        registry: String,
        status: String,
        credentials: String,
        message: String,
    },

    /// The registry refused an operation, and a second look told why (a project that
    /// does not exist, a missing push right, a full quota, credentials refused).
    #[error(
        "registry {} refused to {}: {}; credentials used: {}\n{}",
        .0.registry, .0.action, .0.summary, .0.credentials, .0.fix
    )]
    RegistryRefused(Box<Refused>),

    /// Any other registry error.
    #[error("registry {registry}: cannot {action}: {message}")]
    Registry {
        registry: String,
        action: String,
        message: String,
    },

    /// The CA file could not be loaded.
    #[error("cannot use the CA certificate {} (from {origin}): {message}", path.display())]
    CaFile {
        path: PathBuf,
        origin: String,
        message: String,
    },

    /// Looking up credentials in the docker configuration failed.
    #[error("cannot read the credentials for {registry} from {source_desc}: {message}")]
    Credentials {
        registry: String,
        source_desc: String,
        message: String,
    },

    /// Exporting an image from the daemon (to push it) failed.
    #[error("cannot export image {image} from the Docker engine to {}: {message}", dir.display())]
    Export {
        image: String,
        dir: PathBuf,
        message: String,
    },

    /// A mirror could be copied neither from its registry nor from the local daemon.
    #[error(
        "cannot mirror {source_ref}: from its registry: {registry_error}; from the local Docker engine: {daemon_error}\n\
         make the registry reachable, or `docker pull`/`docker load` the image on this machine"
    )]
    Mirror {
        source_ref: String,
        registry_error: String,
        daemon_error: String,
    },

    /// An operation needs a registry but none is configured.
    #[error(
        "no registry configured for {image}: set registry.host and registry.project (XTASK_REGISTRY=host/project)"
    )]
    NoRegistry { image: String },
}

/// Details of a failed build.
#[derive(Debug)]
pub struct BuildFailure {
    pub image: String,
    /// (step number, total steps, instruction text) of the step that failed, if known.
    pub step: Option<(u32, u32, String)>,
    /// The engine's message.
    pub message: String,
    /// The end of the build log.
    pub last_lines: Vec<String>,
    /// The full build log.
    pub log: PathBuf,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&build_failed_message(self))
    }
}

fn build_failed_message(b: &BuildFailure) -> String {
    let (image, message, last_lines, log) = (&b.image, &b.message, &b.last_lines, &b.log);
    let mut out = format!("build of {image} failed");
    if let Some((n, total, text)) = &b.step {
        out.push_str(&format!(" at step {n}/{total} ({text})"));
    }
    out.push_str(&format!(": {}", message.trim_end()));
    if !last_lines.is_empty() {
        out.push_str("\nlast lines of the build log:");
        for line in last_lines {
            out.push_str("\n  ");
            out.push_str(line);
        }
    }
    out.push_str(&format!("\nfull log: {}", log.display()));
    out
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn docker(action: impl Into<String>, err: &bollard::errors::Error) -> Self {
        Error::Docker {
            action: action.into(),
            message: docker_message(err),
        }
    }
}

/// The daemon's own message when there is one, without bollard's wrapping.
pub(crate) fn docker_message(err: &bollard::errors::Error) -> String {
    use bollard::errors::Error as B;
    match err {
        B::DockerResponseServerError {
            status_code,
            message,
        } => format!("{} (HTTP {status_code})", message.trim()),
        B::DockerStreamError { error } => error.trim().to_string(),
        other => other.to_string(),
    }
}

/// What [`Error::RegistryRefused`] says.
#[derive(Debug)]
pub struct Refused {
    pub registry: String,
    pub action: String,
    /// The refusal, one of [`crate::refusal::Refusal`]'s kinds, for scripts.
    pub kind: &'static str,
    pub summary: String,
    pub credentials: String,
    pub fix: String,
}

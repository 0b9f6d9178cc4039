//! Registry access through oci-client: credentials (settings, docker config.json,
//! credential helpers), a private CA, plain HTTP when configured, an explicit access check,
//! and errors that name the registry, the credential source and the fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::config::RegistryConfig;
use crate::error::{Error, Refused, Result};
use crate::refusal::{self, Refusal, Wanted};

/// Manifest media types this crate reads and writes.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

const ALL_MANIFESTS: &[&str] = &[
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];

/// A registry with its credentials and TLS settings.
#[derive(Clone)]
pub struct RegistryClient {
    client: Client,
    host: String,
    project: Option<String>,
    auth: RegistryAuth,
    /// Where the credentials came from, for error messages (never the secret itself).
    credentials: String,
    origin: String,
    ca: Option<(PathBuf, String)>,
    plain_http: bool,
    /// Plain requests that explain a refusal (see `refusal::probe`) and mount blobs
    /// across repositories: same CA, same scheme as oci-client's.
    http: reqwest::Client,
    /// Authorizations for mounts, by the scopes they were asked for.
    mount_auth: Arc<Mutex<HashMap<String, Authorization>>>,
}

/// What a cross-repository mount came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob into the repository: nothing to upload.
    Mounted,
    /// The registry did not (the blob is not in the source, no pull right on it, a
    /// registry without mounts): the blob is uploaded as usual. Says why.
    Declined(String),
}

/// How one request is authorized: the registry's own token for given scopes, or the
/// user's credentials as they are.
#[derive(Clone)]
enum Authorization {
    Token(String),
    Credentials(RegistryAuth),
}

impl Authorization {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Authorization::Token(t) => request.bearer_auth(t),
            Authorization::Credentials(auth) => refusal::authorize(request, auth),
        }
    }
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("host", &self.host)
            .field("project", &self.project)
            .field("credentials", &self.credentials)
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// The registry images are pushed to, from the settings.
    pub fn from_config(cfg: &RegistryConfig) -> Result<Self> {
        let (auth, credentials) = match (&cfg.user, &cfg.password) {
            (Some(u), Some(p)) if !u.is_empty() => (
                RegistryAuth::Basic(u.clone(), p.expose().to_string()),
                format!("the settings ({})", cfg.credentials_origin),
            ),
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::Credentials {
                    registry: cfg.host.clone(),
                    source_desc: format!("the settings ({})", cfg.credentials_origin),
                    message: "a user and a password go together: set both XTASK_REGISTRY_USER and XTASK_REGISTRY_PASSWORD (or --registry-user and --registry-password), or neither to use the `docker login` credentials".into(),
                });
            }
            _ => docker_credentials(&cfg.host)?,
        };
        let mut config = base_config();
        if cfg.plain_http {
            config.protocol = ClientProtocol::HttpsExcept(vec![cfg.host.clone()]);
        }
        if let Some((path, origin)) = &cfg.ca_file {
            config.extra_root_certificates.push(load_ca(path, origin)?);
        }
        let client = Client::try_from(config).map_err(|e| Error::CaFile {
            path: cfg
                .ca_file
                .as_ref()
                .map(|c| c.0.clone())
                .unwrap_or_default(),
            origin: cfg
                .ca_file
                .as_ref()
                .map(|c| c.1.clone())
                .unwrap_or_default(),
            message: format!("cannot set up the HTTPS client: {e}"),
        })?;
        let http = probe_client(cfg.ca_file.as_ref())?;
        Ok(RegistryClient {
            client,
            host: cfg.host.clone(),
            project: cfg.project.clone(),
            auth,
            credentials,
            origin: cfg.origin.clone(),
            ca: cfg.ca_file.clone(),
            plain_http: cfg.plain_http,
            http,
            mount_auth: Arc::default(),
        })
    }

    /// A registry images are copied from (Docker Hub, an upstream): credentials from the
    /// docker configuration if any, HTTPS; plain HTTP only for `plain_http` hosts.
    pub fn for_source(host: &str, plain_http: bool) -> Result<Self> {
        let (auth, credentials) = docker_credentials(host)?;
        let mut config = base_config();
        if plain_http {
            config.protocol = ClientProtocol::HttpsExcept(vec![host.to_string()]);
        }
        let client = Client::try_from(config).map_err(|e| Error::Registry {
            registry: host.to_string(),
            action: "set up the HTTPS client".into(),
            message: e.to_string(),
        })?;
        let http = probe_client(None)?;
        Ok(RegistryClient {
            client,
            host: host.to_string(),
            project: None,
            auth,
            credentials,
            origin: "the image reference".into(),
            ca: None,
            plain_http,
            http,
            mount_auth: Arc::default(),
        })
    }

    /// `host` or `host:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The project images go under.
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// Describes where the credentials came from (no secret in it).
    pub fn credentials_source(&self) -> &str {
        &self.credentials
    }

    /// The oci-client reference of `repository:tag` on this registry.
    pub fn reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_string(), tag.to_string())
    }

    /// Makes sure the credentials work for `repository` before a long transfer: a token
    /// request (registries with token auth: Harbor grants a token even to a robot
    /// without push, with fewer actions, so the token's own claims are read) then an
    /// authenticated HEAD in the repository (registries with basic auth, where a wrong
    /// password only shows there). A refusal is explained (see [`refusal`]).
    pub async fn check_access(&self, repository: &str, push: bool) -> Result<()> {
        let reference = self.reference(repository, "latest");
        let (op, wanted) = if push {
            (RegistryOperation::Push, Wanted::Push)
        } else {
            (RegistryOperation::Pull, Wanted::Pull)
        };
        let action = format!("{} {repository}", wanted_verb(wanted));
        let token = match self.client.auth(&reference, &self.auth, op).await {
            Ok(token) => token,
            Err(e) => return Err(self.refused(&action, repository, wanted, e).await),
        };
        let lacking = token
            .as_deref()
            .and_then(|t| refusal::granted_actions(t, repository))
            .is_some_and(|granted| {
                !granted.iter().any(|a| a == "pull")
                    || (push && !granted.iter().any(|a| a == "push"))
            });
        if lacking {
            return Err(self.explain(&action, repository, wanted, None).await);
        }
        // The digest of an empty blob: almost never there; 404 is the expected answer.
        let probe = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        if let Err(e) = self.client.blob_exists(&reference, probe).await {
            return Err(self.refused(&action, repository, Wanted::Pull, e).await);
        }
        Ok(())
    }

    /// Runs `call`; when the registry refuses the token (it expired early or was
    /// revoked: Harbor refuses tokens at their expiry, with no leeway), fetches a fresh
    /// one and runs it once more. A refusal that remains is explained.
    async fn retried<T, F, Fut>(
        &self,
        action: &str,
        reference: &Reference,
        wanted: Wanted,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        self.ensure_auth().await;
        let first = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let op = match wanted {
            Wanted::Pull => RegistryOperation::Pull,
            Wanted::Push => RegistryOperation::Push,
        };
        let err =
            if unauthorized(&first) && self.client.auth(reference, &self.auth, op).await.is_ok() {
                match call().await {
                    Ok(v) => return Ok(v),
                    Err(e) => e,
                }
            } else {
                first
            };
        Err(self
            .refused(action, reference.repository(), wanted, err)
            .await)
    }

    /// The error for a failed operation: a refusal (401, 403) is explained by asking
    /// the registry again; anything else as [`Self::error`] says.
    async fn refused(
        &self,
        action: &str,
        repository: &str,
        wanted: Wanted,
        err: OciDistributionError,
    ) -> Error {
        if let Some(message) = quota_message(&err) {
            let refusal = Refusal::Quota { detail: message };
            return self.refusal_error(action, repository, &refusal);
        }
        if !unauthorized(&err) && !forbidden(&err) {
            return self.error(action, err);
        }
        self.explain(action, repository, wanted, Some(err)).await
    }

    async fn explain(
        &self,
        action: &str,
        repository: &str,
        wanted: Wanted,
        err: Option<OciDistributionError>,
    ) -> Error {
        let base = self.base_url();
        match refusal::probe(&self.http, &base, repository, wanted, &self.auth).await {
            Ok(refusal) => self.refusal_error(action, repository, &refusal),
            Err(probe_failed) => match err {
                Some(err) => self.error(action, err),
                None => self.generic(action, probe_failed),
            },
        }
    }

    fn refusal_error(&self, action: &str, repository: &str, refusal: &Refusal) -> Error {
        let user = match &self.auth {
            RegistryAuth::Basic(u, _) => Some(u.as_str()),
            _ => None,
        };
        Error::RegistryRefused(Box::new(Refused {
            registry: self.host.clone(),
            action: action.to_string(),
            kind: refusal.kind(),
            summary: refusal.summary(),
            credentials: self.credentials.clone(),
            fix: refusal.fix(&self.host, repository, user),
        }))
    }

    async fn ensure_auth(&self) {
        self.client
            .store_auth_if_needed(&self.host, &self.auth)
            .await;
    }

    /// The manifest digest of `reference`, `None` when it is not in the registry.
    pub async fn manifest_digest(&self, reference: &Reference) -> Result<Option<String>> {
        let action = format!("look up {reference}");
        let found = self
            .retried(&action, reference, Wanted::Pull, || async {
                match self
                    .client
                    .fetch_manifest_digest(reference, &self.auth)
                    .await
                {
                    Ok(d) => Ok(Some(d)),
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(found)
    }

    /// Whether a pinned reference (`host/project/name:tag@sha256:…`, as the lock file
    /// records it) is still in the registry: someone may have deleted it since the push.
    pub async fn pinned_exists(&self, pinned: &str) -> Result<bool> {
        let reference: Reference = pinned.parse().map_err(|e| Error::InvalidValue {
            what: "pinned image reference",
            value: pinned.into(),
            origin: "the image lock file".into(),
            why: format!("{e}"),
        })?;
        Ok(self.manifest_digest(&reference).await?.is_some())
    }

    /// The raw manifest of `reference` with its digest and media type.
    pub async fn pull_manifest(
        &self,
        reference: &Reference,
    ) -> Result<(bytes::Bytes, String, String)> {
        let action = format!("read the manifest of {reference}");
        let (body, digest) = self
            .retried(&action, reference, Wanted::Pull, || {
                self.client
                    .pull_manifest_raw(reference, &self.auth, ALL_MANIFESTS)
            })
            .await?;
        let media_type = manifest_media_type(&body).ok_or_else(|| Error::Registry {
            registry: self.host.clone(),
            action: format!("read the manifest of {reference}"),
            message: "unsupported manifest (schema 1 or unknown media type)".into(),
        })?;
        Ok((body, digest, media_type))
    }

    /// Whether blob `digest` is in `reference`'s repository.
    pub async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool> {
        self.retried(
            &format!("check blob {digest}"),
            reference,
            Wanted::Pull,
            || self.client.blob_exists(reference, digest),
        )
        .await
    }

    /// Links blob `digest`, already in repository `from` of this registry, into
    /// `target`'s repository without uploading it (the distribution API's
    /// cross-repository mount, which Harbor and distribution support). The token must
    /// grant pull on `from` as well as push on the target, so it is asked for both
    /// scopes, as docker does; oci-client's own token names the target only. Never an
    /// error: anything but a mount means "upload it".
    pub async fn mount_blob(&self, target: &Reference, from: &str, digest: &str) -> Mount {
        let base = self.base_url();
        let url = format!("{base}/v2/{}/blobs/uploads/", target.repository());
        let scopes = [
            format!("repository:{}:pull,push", target.repository()),
            format!("repository:{from}:pull"),
        ];
        let mut last = String::new();
        // A second try with a fresh token: a cached one may have expired.
        for fresh in [false, true] {
            let auth = match self.authorization(&base, &scopes, fresh).await {
                Ok(auth) => auth,
                Err(why) => return Mount::Declined(why),
            };
            let request = self
                .http
                .post(&url)
                .query(&[("mount", digest), ("from", from)])
                .header(reqwest::header::CONTENT_LENGTH, "0");
            let answer = match auth.apply(request).send().await {
                Ok(answer) => answer,
                Err(e) => return Mount::Declined(without_urls(&error_chain(&e))),
            };
            let status = answer.status().as_u16();
            match status {
                201 => return Mount::Mounted,
                202 => {
                    // The registry opened an upload session instead: closed, unused.
                    if let Some(location) = answer
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|l| l.to_str().ok())
                    {
                        let session = if location.starts_with('/') {
                            format!("{base}{location}")
                        } else {
                            location.to_string()
                        };
                        let _ = auth.apply(self.http.delete(session)).send().await;
                    }
                    return Mount::Declined(format!(
                        "the registry opened an upload instead (no blob {digest} in {from}, or no mounts)"
                    ));
                }
                _ => {
                    let body = answer.text().await.unwrap_or_default();
                    last = format!("{status}: {}", refusal::body_message(&body));
                    if status != 401 {
                        break;
                    }
                }
            }
        }
        Mount::Declined(last)
    }

    /// The authorization for requests needing `scopes`: a token from the registry's
    /// token service when it asks for one (kept for the next mount), else the user's
    /// credentials.
    async fn authorization(
        &self,
        base: &str,
        scopes: &[String],
        fresh: bool,
    ) -> std::result::Result<Authorization, String> {
        let key = scopes.join(" ");
        let cache = || self.mount_auth.lock().unwrap_or_else(|p| p.into_inner());
        if !fresh && let Some(auth) = cache().get(&key) {
            return Ok(auth.clone());
        }
        let first = self
            .http
            .get(format!("{base}/v2/"))
            .send()
            .await
            .map_err(|e| without_urls(&error_chain(&e)))?;
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .and_then(refusal::Challenge::parse);
        let auth = match challenge {
            Some(c) if c.scheme == "bearer" => {
                let realm = c
                    .param("realm")
                    .ok_or("the registry's Bearer challenge names no token service")?;
                let (status, body) =
                    refusal::token_request(&self.http, realm, &c, scopes, &self.auth).await?;
                if status != 200 {
                    return Err(format!(
                        "the token service answered {status}: {}",
                        refusal::body_message(&body)
                    ));
                }
                Authorization::Token(refusal::token_of(&body))
            }
            _ => Authorization::Credentials(self.auth.clone()),
        };
        cache().insert(key, auth.clone());
        Ok(auth)
    }

    /// `https://host[:port]`, or `http://` for a plain-HTTP registry.
    fn base_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.host)
    }

    /// Uploads a blob of known size in one streamed request. `open` makes the stream,
    /// again when a refused token makes the upload start over.
    pub async fn push_blob_stream<S, F, Fut>(
        &self,
        reference: &Reference,
        mut open: F,
        digest: &str,
        size: u64,
    ) -> Result<()>
    where
        S: Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<S>>,
    {
        let action = format!("upload blob {digest}");
        // A stream that cannot be opened is our error, not the registry's: kept aside.
        let opened: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let pushed = self
            .retried(&action, reference, Wanted::Push, || {
                let stream = open();
                let opened = &opened;
                async move {
                    let stream = match stream.await {
                        Ok(s) => s,
                        Err(e) => {
                            if let Ok(mut slot) = opened.lock() {
                                *slot = Some(e);
                            }
                            return Ok(());
                        }
                    };
                    self.client
                        .push_blob_stream(reference, stream, digest, Some(size))
                        .await
                        .map(drop)
                }
            })
            .await;
        match opened.into_inner().ok().flatten() {
            Some(e) => Err(e),
            None => pushed,
        }
    }

    /// Uploads a small blob from memory.
    pub async fn push_blob(
        &self,
        reference: &Reference,
        data: bytes::Bytes,
        digest: &str,
    ) -> Result<()> {
        self.retried(
            &format!("upload blob {digest}"),
            reference,
            Wanted::Push,
            || self.client.push_blob(reference, data.clone(), digest),
        )
        .await?;
        Ok(())
    }

    /// Streams a blob out of the registry.
    pub async fn pull_blob(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<oci_client::client::SizedStream> {
        self.retried(
            &format!("download blob {digest}"),
            reference,
            Wanted::Pull,
            || self.client.pull_blob_stream(reference, digest),
        )
        .await
    }

    /// Uploads a manifest as is (its digest is the sha256 of `body`).
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        body: bytes::Bytes,
        media_type: &str,
    ) -> Result<()> {
        let content_type: reqwest::header::HeaderValue =
            media_type.parse().map_err(|_| Error::Registry {
                registry: self.host.clone(),
                action: "push a manifest".into(),
                message: format!("bad media type {media_type:?}"),
            })?;
        self.retried(
            &format!("push the manifest of {reference}"),
            reference,
            Wanted::Push,
            || {
                self.client
                    .push_manifest_raw(reference, body.clone(), content_type.clone())
            },
        )
        .await?;
        Ok(())
    }

    /// Turns an oci-client error into one that says what to do.
    pub(crate) fn error(&self, action: &str, err: OciDistributionError) -> Error {
        let chain = without_urls(&error_chain(&err));
        let auth_error = |status: &str, message: String| Error::RegistryAuth {
            registry: self.host.clone(),
            status: status.to_string(),
            credentials: self.credentials.clone(),
            message,
        };
        match &err {
            OciDistributionError::RequestError(r) => {
                if let Some(s) = r.status() {
                    if s.as_u16() == 401 || s.as_u16() == 403 {
                        return auth_error(&s.to_string(), format!("while trying to {action}"));
                    }
                    return self.generic(action, chain);
                }
                let lower = chain.to_lowercase();
                if lower.contains("certificate")
                    || lower.contains("unknownissuer")
                    || lower.contains("x509")
                {
                    let hint = match &self.ca {
                        None => "set XTASK_REGISTRY_CA (or registry.ca_file in xtask.toml) to the PEM file of the CA that signed the registry's certificate".to_string(),
                        Some((p, o)) => format!(
                            "the CA file {} (from {o}) does not sign this registry's certificate: check XTASK_REGISTRY_CA / registry.ca_file",
                            p.display()
                        ),
                    };
                    return Error::RegistryCertificate {
                        registry: self.host.clone(),
                        message: chain,
                        hint,
                    };
                }
                if !self.plain_http
                    && (lower.contains("invalidcontenttype")
                        || lower.contains("corrupt message")
                        || lower.contains("wrong version number")
                        || lower.contains("invalid message"))
                {
                    return Error::RegistryUnreachable {
                        registry: self.host.clone(),
                        origin: self.origin.clone(),
                        message: format!(
                            "{chain}; the registry may speak plain HTTP: if so set XTASK_REGISTRY_PLAIN_HTTP=true (registry.plain_http)"
                        ),
                    };
                }
                if r.is_connect() || r.is_timeout() || lower.contains("dns") {
                    return Error::RegistryUnreachable {
                        registry: self.host.clone(),
                        origin: self.origin.clone(),
                        message: chain,
                    };
                }
                if connection_lost(&lower) {
                    return Error::RegistryConnectionLost {
                        registry: self.host.clone(),
                        action: action.to_string(),
                        message: chain,
                    };
                }
                self.generic(action, chain)
            }
            OciDistributionError::AuthenticationFailure(m) => auth_error(
                "401 Unauthorized",
                format!("the token service refused them: {}", m.trim()),
            ),
            OciDistributionError::UnauthorizedError { .. } => {
                auth_error("401 Unauthorized", format!("while trying to {action}"))
            }
            OciDistributionError::ServerError { code, message, .. }
                if *code == 401 || *code == 403 =>
            {
                auth_error(
                    &code.to_string(),
                    format!("while trying to {action}: {}", message.trim()),
                )
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)
                }) =>
            {
                auth_error("denied", format!("while trying to {action}: {envelope}"))
            }
            _ => self.generic(action, chain),
        }
    }

    fn generic(&self, action: &str, message: String) -> Error {
        Error::Registry {
            registry: self.host.clone(),
            action: action.to_string(),
            message,
        }
    }
}

/// The client of `refusal::probe`.
fn probe_client(ca: Option<&(PathBuf, String)>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30));
    if let Some((path, origin)) = ca {
        let pem = load_ca(path, origin)?.data;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| Error::CaFile {
            path: path.clone(),
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| Error::CaFile {
        path: ca.map(|c| c.0.clone()).unwrap_or_default(),
        origin: ca.map(|c| c.1.clone()).unwrap_or_default(),
        message: format!("cannot set up the HTTPS client: {e}"),
    })
}

fn wanted_verb(wanted: Wanted) -> &'static str {
    match wanted {
        Wanted::Pull => "pull from",
        Wanted::Push => "push to",
    }
}

/// The HTTP status of a failed request, when oci-client kept it.
fn status_of(err: &OciDistributionError) -> Option<u16> {
    match err {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
        OciDistributionError::RegistryError { envelope, .. } => {
            if envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized))
            {
                Some(401)
            } else if envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Denied))
            {
                Some(403)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn unauthorized(err: &OciDistributionError) -> bool {
    status_of(err) == Some(401)
}

fn forbidden(err: &OciDistributionError) -> bool {
    status_of(err) == Some(403)
}

/// Harbor's quota refusal (403 DENIED "… will exceed the configured upper limit …"),
/// with the registry's words.
fn quota_message(err: &OciDistributionError) -> Option<String> {
    let message = match err {
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; "),
        OciDistributionError::ServerError {
            code: 403, message, ..
        } => refusal::body_message(message),
        _ => return None,
    };
    let lower = message.to_ascii_lowercase();
    (lower.contains("upper limit") || lower.contains("quota")).then(|| format!("403: {message}"))
}

fn base_config() -> ClientConfig {
    ClientConfig {
        use_monolithic_push: true,
        connect_timeout: Some(Duration::from_secs(10)),
        platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
        ..ClientConfig::default()
    }
}

fn load_ca(path: &Path, origin: &str) -> Result<Certificate> {
    let data = std::fs::read(path).map_err(|e| Error::CaFile {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::CaFile {
            path: path.to_path_buf(),
            origin: origin.to_string(),
            message: "no PEM certificate in it (expected a -----BEGIN CERTIFICATE----- block)"
                .into(),
        });
    }
    Ok(Certificate {
        encoding: CertificateEncoding::Pem,
        data,
    })
}

fn docker_config_path() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
        .map(|d| d.join("config.json"))
}

/// Credentials for `host` from the docker configuration, and a description of where
/// they came from (file, helper); anonymous when there are none.
fn docker_credentials(host: &str) -> Result<(RegistryAuth, String)> {
    let path = docker_config_path();
    let shown = path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.docker/config.json".into());
    let helper = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("credHelpers")
                .and_then(|h| h.get(host))
                .or_else(|| v.get("credsStore"))
                .and_then(|h| h.as_str())
                .map(|h| format!("docker-credential-{h}"))
        });
    let source = match &helper {
        Some(h) => format!("the docker configuration {shown} (credential helper {h})"),
        None => format!("the docker configuration {shown}"),
    };
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match docker_credential::get_credential(host) {
        Ok(DockerCredential::UsernamePassword(u, p)) => Ok((RegistryAuth::Basic(u, p), source)),
        Ok(DockerCredential::IdentityToken(t)) => Ok((RegistryAuth::Bearer(t), source)),
        Err(E::NoCredentialConfigured | E::ConfigNotFound | E::ConfigReadError) => Ok((
            RegistryAuth::Anonymous,
            format!("none (no user/password in the settings, none for {host} in {shown})"),
        )),
        Err(E::HelperFailure { helper, stderr, .. }) => Err(Error::Credentials {
            registry: host.to_string(),
            source_desc: source,
            message: format!("{helper} failed: {}", stderr.trim()),
        }),
        Err(e) => Err(Error::Credentials {
            registry: host.to_string(),
            source_desc: source,
            message: e.to_string(),
        }),
    }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::RequestError(r) => r.status().is_some_and(|s| s.as_u16() == 404),
        _ => false,
    }
}

pub(crate) use kit_config::error_chain;

/// Whether an error text (lower case) says an established connection broke.
fn connection_lost(lower: &str) -> bool {
    [
        "connection error",
        "connection reset",
        "connection closed",
        "broken pipe",
        "unexpected eof",
        "close_notify",
    ]
    .iter()
    .any(|sign| lower.contains(sign))
}

/// reqwest puts the whole URL in its messages (`for url (…)`): for an upload it carries
/// the registry's opaque upload state, longer than the rest, and the action already
/// names the blob. rustls's links to its manual go too.
fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" for url (") {
        out.push_str(&rest[..at]);
        let url = &rest[at + " for url (".len()..];
        rest = url.find(')').map_or("", |end| &url[end + 1..]);
    }
    out.push_str(rest);
    while let Some(at) = out.find(": https://docs.rs/") {
        let end = out[at + 2..]
            .find(char::is_whitespace)
            .map_or(out.len(), |e| at + 2 + e);
        out.replace_range(at..end, "");
    }
    out
}

/// The media type of a raw manifest (its `mediaType`, or guessed for bare OCI ones).
pub(crate) fn manifest_media_type(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("schemaVersion").and_then(|s| s.as_i64()) != Some(2) {
        return None;
    }
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return ALL_MANIFESTS.contains(&mt).then(|| mt.to_string());
    }
    Some(
        if v.get("manifests").is_some() {
            OCI_INDEX
        } else {
            OCI_MANIFEST
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit_config::Secret;

    #[test]
    fn media_types() {
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#).as_deref(),
            Some(DOCKER_MANIFEST)
        );
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            manifest_media_type(br#"{"schemaVersion":2,"layers":[]}"#).as_deref(),
            Some(OCI_MANIFEST)
        );
        assert_eq!(manifest_media_type(br#"{"schemaVersion":1}"#), None);
        assert_eq!(manifest_media_type(b"nope"), None);
    }

    #[test]
    fn messages_lose_urls_and_broken_connections_are_told() {
        let raw = "error sending request for url (https://r:5443/v2/p/blobs/uploads/u?_state=AbC&digest=sha256%3A00): client error (SendRequest): connection error: peer closed connection without sending TLS close_notify: https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof";
        let short = without_urls(raw);
        assert_eq!(
            short,
            "error sending request: client error (SendRequest): connection error: peer closed connection without sending TLS close_notify"
        );
        assert!(connection_lost(&short.to_lowercase()));
        assert!(!connection_lost(
            "tcp connect error: connection refused (os error 111)"
        ));
        assert_eq!(without_urls("no url here"), "no url here");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mut cfg = RegistryConfig::new("r.example", Some("p"));
        cfg.user = Some("u".into());
        cfg.password = Some(Secret::new("hunter2-secret"));
        cfg.credentials_origin = "env XTASK_REGISTRY_PASSWORD".into();
        let c = RegistryClient::from_config(&cfg).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(c.credentials_source().contains("XTASK_REGISTRY_PASSWORD"));
    }

    #[test]
    fn half_credentials_are_an_error() {
        let mut cfg = RegistryConfig::new("r.example", None);
        cfg.user = Some("u".into());
        let err = RegistryClient::from_config(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("r.example") && err.contains("XTASK_REGISTRY_PASSWORD"),
            "{err}"
        );
    }

    #[test]
    fn bad_ca_file_names_option_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RegistryConfig::new("r.example", None);
        cfg.ca_file = Some((
            dir.path().join("missing.crt"),
            "env XTASK_REGISTRY_CA".into(),
        ));
        let err = RegistryClient::from_config(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("missing.crt") && err.contains("XTASK_REGISTRY_CA"),
            "{err}"
        );
        let junk = dir.path().join("junk.crt");
        std::fs::write(&junk, "not a cert").unwrap();
        cfg.ca_file = Some((junk, "registry.ca_file".into()));
        let err = RegistryClient::from_config(&cfg).unwrap_err().to_string();
        assert!(err.contains("junk.crt") && err.contains("PEM"), "{err}");
    }
}

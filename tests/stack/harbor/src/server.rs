//! The HTTPS server: Harbor's token service at `/service/token`, the reverse proxy to
//! distribution under `/v2/`, and the test counters under `/stack/`.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, User};
use crate::jwt::{Claims, Signer};
use crate::quota::{self, Usage};
use crate::scope::{self, Action};
use crate::stats::{ProjectUsage, Refusal, Stats};

type Body = BoxBody<Bytes, hyper::Error>;

/// One log line on stdout; a closed stdout must not stop the server (println! panics).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// One line on stderr, for the server's own troubles.
macro_rules! warn {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

pub struct App {
    config: Config,
    signer: Signer,
    client: Client<HttpConnector, Body>,
    /// Shared with the bodies of uploads in flight, which count their bytes.
    stats: Arc<Mutex<Stats>>,
    usage: Mutex<Usage>,
    /// jti → (exp, requests it authorised), for users with `token_uses`.
    uses: Mutex<HashMap<String, (i64, u64)>>,
}

/// A poisoned lock only means another request failed midway; the counters stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn errors_body(code: &str, message: &str) -> String {
    json!({"errors": [{"code": code, "message": message}]}).to_string()
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Starts the server and runs until the process is stopped.
pub async fn serve(config: Config) -> Result<()> {
    let app = Arc::new(App::new(config)?);
    let tls = tls_config(&app.config)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind(app.config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", app.config.listen))?;
    say!(
        "stack-harbor listening on {} (public {}), backend {}, token kid {}",
        app.config.listen,
        app.config.public_url,
        app.config.backend,
        app.signer.kid()
    );
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // out of file descriptors and the like: wait, do not spin
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Headers and body leave as separate TLS records: with Nagle's algorithm the
        // second waits for the client's delayed ACK, 40 ms on every answer (nginx in
        // front of Harbor sets tcp_nodelay too).
        if let Err(e) = tcp.set_nodelay(true) {
            warn!("TCP_NODELAY not set for {peer}: {e}");
        }
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.handle(req, peer).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub fn tls_config(config: &Config) -> Result<rustls::ServerConfig> {
    let certs = CertificateDer::pem_file_iter(&config.tls_cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read the TLS certificate {}: {e}",
                config.tls_cert.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(&config.tls_key).map_err(|e| {
        anyhow::anyhow!("cannot read the TLS key {}: {e}", config.tls_key.display())
    })?;
    // the workspace's one crypto provider, never a process default that could be ring
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "TLS certificate {} and key {}",
                config.tls_cert.display(),
                config.tls_key.display()
            )
        })?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

enum Credentials {
    None,
    Basic(String, String),
    Bearer(String),
    Unreadable,
}

fn credentials(headers: &HeaderMap) -> Credentials {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credentials::None;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Unreadable;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((user, password)) => Credentials::Basic(user.to_string(), password.to_string()),
            None => Credentials::Unreadable,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Credentials::Bearer(rest.trim().to_string())
    } else {
        Credentials::Unreadable
    }
}

/// Headers that belong to one connection, never forwarded.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

/// What the proxy must do around a request that adds a blob to a project with a quota.
struct PendingBlob {
    project: String,
    repository: String,
    digest: String,
    reserved: u64,
}

impl App {
    pub fn new(config: Config) -> Result<App> {
        let signer = Signer::load(&config.signing_key, &config.signing_cert)?;
        let usage = Usage::load(&config.state_file)?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(App {
            config,
            signer,
            client,
            stats: Arc::default(),
            usage: Mutex::new(usage),
            uses: Mutex::new(HashMap::new()),
        })
    }

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = req.uri().path();
        if path == "/service/token" {
            self.token(&req)
        } else if path == "/v2" || path.starts_with("/v2/") {
            self.proxy(req).await
        } else if path.starts_with("/stack/") {
            self.stack(&req, peer)
        } else {
            json_response(StatusCode::NOT_FOUND, errors_body("NOT_FOUND", "not found"))
        }
    }

    fn refuse(
        &self,
        kind: Refusal,
        user: &str,
        req: (&Method, &str),
        status: StatusCode,
        msg: &str,
    ) {
        lock(&self.stats).refused(kind);
        let user = if user.is_empty() { "anonymous" } else { user };
        say!(
            "refused {}: {} {} user={user} status={}: {msg}",
            kind.as_str(),
            req.0,
            req.1,
            status.as_u16()
        );
    }

    // ---- token service ----

    fn token(&self, req: &Request<Incoming>) -> Response<Body> {
        let method = req.method();
        let path = req.uri().path();
        if method != Method::GET {
            let msg = format!("method {method} is not allowed on {path}");
            self.refuse(
                Refusal::MethodNotAllowed,
                "",
                (method, path),
                StatusCode::METHOD_NOT_ALLOWED,
                &msg,
            );
            let mut r = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                errors_body("METHOD_NOT_ALLOWED", &msg),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            return r;
        }
        let params: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let service = params
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if service != self.config.service {
            // Harbor's wording
            let msg = format!("Unable to handle service: {service}");
            self.refuse(
                Refusal::BadRequest,
                "",
                (method, path),
                StatusCode::BAD_REQUEST,
                &msg,
            );
            return json_response(StatusCode::BAD_REQUEST, errors_body("BAD_REQUEST", &msg));
        }
        let scopes = scope::parse_scopes(
            params
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.as_str()),
        );

        let unauthorized = |who: &str, why: &str| {
            self.refuse(
                Refusal::BadCredentials,
                who,
                (method, path),
                StatusCode::UNAUTHORIZED,
                why,
            );
            let mut r = json_response(
                StatusCode::UNAUTHORIZED,
                errors_body("UNAUTHORIZED", "authentication required"),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"harbor\""),
            );
            r
        };
        let user: Option<&User> = match credentials(req.headers()) {
            Credentials::None => None,
            Credentials::Basic(name, password) => match self.config.user(&name) {
                Some(u)
                    if aws_lc_rs::constant_time::verify_slices_are_equal(
                        password.as_bytes(),
                        u.password.as_bytes(),
                    )
                    .is_ok() =>
                {
                    Some(u)
                }
                Some(_) => return unauthorized(&name, "wrong password"),
                None => return unauthorized(&name, "no such user"),
            },
            Credentials::Bearer(_) | Credentials::Unreadable => {
                return unauthorized("", "credentials are not Basic user:password");
            }
        };
        // Harbor: an anonymous request without scope is a failed login
        if user.is_none() && scopes.is_empty() {
            return unauthorized("", "no credentials and no scope");
        }

        let access: Vec<_> = scopes
            .iter()
            .map(|s| scope::grant(s, user.map(|u| &u.rights)))
            .collect();
        let lifetime = user.map_or(self.config.token_lifetime_secs, |u| u.token_lifetime_secs);
        let issued = chrono::Utc::now();
        let iat = issued.timestamp();
        let mut jti = [0u8; 16];
        if aws_lc_rs::rand::fill(&mut jti).is_err() {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                errors_body("UNKNOWN", "no random numbers for the token ID"),
            );
        }
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: user.map(|u| u.name.clone()).unwrap_or_default(),
            aud: self.config.service.clone(),
            exp: iat.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
            nbf: iat,
            iat,
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
            access,
        };
        let token = match self.signer.sign(&claims) {
            Ok(t) => t,
            Err(e) => {
                warn!("cannot sign a token: {e:#}");
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    errors_body("UNKNOWN", "cannot sign the token"),
                );
            }
        };
        let who = user.map_or("anonymous", |u| u.name.as_str());
        lock(&self.stats).token_issued(who);
        let granted: Vec<String> = claims.access.iter().map(|a| a.describe()).collect();
        say!(
            "token issued: user={who} scopes=[{}] expires_in={lifetime}s",
            granted.join(" ")
        );
        json_response(
            StatusCode::OK,
            json!({
                "token": token,
                "access_token": token,
                "expires_in": lifetime,
                "issued_at": issued.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .to_string(),
        )
    }

    // ---- test support ----

    fn stack(&self, req: &Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        if !peer.ip().is_loopback() {
            return json_response(
                StatusCode::FORBIDDEN,
                errors_body("DENIED", "/stack/ is for loopback clients only"),
            );
        }
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/stack/stats") => {
                let projects = {
                    let usage = lock(&self.usage);
                    self.config
                        .projects
                        .iter()
                        .map(|p| {
                            let u = ProjectUsage {
                                used_bytes: usage.used(&p.name),
                                quota_bytes: p.quota_bytes,
                            };
                            (p.name.clone(), u)
                        })
                        .collect::<BTreeMap<_, _>>()
                };
                let snapshot = lock(&self.stats).snapshot(projects);
                json_response(
                    StatusCode::OK,
                    serde_json::to_string(&snapshot).unwrap_or_default(),
                )
            }
            (&Method::POST, "/stack/stats/reset") => {
                lock(&self.stats).reset();
                say!("stats reset");
                json_response(StatusCode::OK, "{}".to_string())
            }
            (&Method::POST, "/stack/usage/reset") => match lock(&self.usage).clear() {
                Ok(()) => {
                    say!("quota usage reset");
                    json_response(StatusCode::OK, "{}".to_string())
                }
                Err(e) => json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    errors_body("UNKNOWN", &format!("{e:#}")),
                ),
            },
            (_, "/stack/stats" | "/stack/stats/reset" | "/stack/usage/reset") => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                errors_body("METHOD_NOT_ALLOWED", "method not allowed"),
            ),
            _ => json_response(StatusCode::NOT_FOUND, errors_body("NOT_FOUND", "not found")),
        }
    }

    // ---- proxy ----

    /// The refusal of a token that is past its `exp` (no leeway) or its `token_uses`.
    fn token_refusal(&self, claims: &Claims) -> Option<Refusal> {
        if now() >= claims.exp {
            return Some(Refusal::TokenExpired);
        }
        let limit = self.config.user(&claims.sub)?.token_uses?;
        let mut uses = lock(&self.uses);
        let t = now();
        uses.retain(|_, (exp, _)| *exp > t);
        let count = &mut uses.entry(claims.jti.clone()).or_insert((claims.exp, 0)).1;
        if *count >= limit {
            return Some(Refusal::TokenUsedUp);
        }
        *count += 1;
        None
    }

    fn invalid_token_response(&self, method: &Method, path: &str) -> Response<Body> {
        let mut challenge = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.config.realm, self.config.service
        );
        if let Some(scope) = scope::challenge_scope(method, path) {
            challenge.push_str(&format!(",scope=\"{scope}\""));
        }
        challenge.push_str(",error=\"invalid_token\"");
        let mut r = json_response(
            StatusCode::UNAUTHORIZED,
            errors_body("UNAUTHORIZED", "authentication required"),
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r.headers_mut().insert(
            "docker-distribution-api-version",
            HeaderValue::from_static("registry/2.0"),
        );
        r
    }

    async fn proxy(&self, req: Request<Incoming>) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let claims = match credentials(req.headers()) {
            Credentials::Bearer(t) => self.signer.verify(&t),
            _ => None,
        };
        let user_name = claims.as_ref().map(|c| c.sub.clone()).unwrap_or_default();
        if let Some(c) = &claims
            && let Some(kind) = self.token_refusal(c)
        {
            let msg = match kind {
                Refusal::TokenExpired => "token expired".to_string(),
                _ => format!(
                    "token used {} times already",
                    self.config
                        .user(&c.sub)
                        .and_then(|u| u.token_uses)
                        .unwrap_or(0)
                ),
            };
            self.refuse(
                kind,
                &user_name,
                (&method, &path),
                StatusCode::UNAUTHORIZED,
                &msg,
            );
            return answer_early(req, self.invalid_token_response(&method, &path)).await;
        }
        let authorization = req.headers().get(header::AUTHORIZATION).cloned();

        let pending = match self.quota_check(&req, authorization.as_ref()).await {
            Ok(p) => p,
            Err(response) => return answer_early(req, response).await,
        };

        let mount = req.method() == Method::POST
            && req
                .uri()
                .query()
                .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "mount"));
        let response = self.forward(req).await;
        // a 401 is a challenge the client answers with a wider token: not an answer yet
        if mount
            && let Ok(r) = &response
            && r.status() != StatusCode::UNAUTHORIZED
        {
            lock(&self.stats).mount(r.status() == StatusCode::CREATED);
        }
        if let Some(p) = &pending {
            let created = matches!(&response, Ok(r) if r.status() == StatusCode::CREATED);
            self.complete_blob(p, created, authorization.as_ref()).await;
        }
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                warn!("backend {} unreachable: {e:#}", self.config.backend);
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    errors_body("UNKNOWN", "the registry behind the proxy is unreachable"),
                );
            }
        };
        lock(&self.stats).proxied();

        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(location) = parts
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            && let Some(rest) = location.strip_prefix(&self.config.backend)
            && (rest.is_empty() || rest.starts_with(['/', '?']))
            && let Ok(v) = HeaderValue::from_str(&format!("{}{rest}", self.config.public_url))
        {
            parts.headers.insert(header::LOCATION, v);
        }
        if parts.status == StatusCode::UNAUTHORIZED {
            let challenge = parts
                .headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let user = self.config.user(&user_name).filter(|_| claims.is_some());
            if let Some((kind, msg)) = self.harbor_refusal(&method, &path, challenge, user) {
                self.refuse(
                    kind,
                    &user_name,
                    (&method, &path),
                    StatusCode::UNAUTHORIZED,
                    &msg,
                );
                let body = errors_body("UNAUTHORIZED", &msg);
                parts.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                return Response::from_parts(parts, full(body));
            }
        }
        Response::from_parts(parts, body.boxed())
    }

    /// Harbor's own answer for distribution's `insufficient_scope`: a project that does
    /// not exist, or a user without the right; None when the user has the right and only
    /// the token lacked it (the client then asks for a wider token).
    fn harbor_refusal(
        &self,
        method: &Method,
        path: &str,
        challenge: &str,
        user: Option<&User>,
    ) -> Option<(Refusal, String)> {
        if !challenge.contains("error=\"insufficient_scope\"") {
            return None;
        }
        let repository = scope::repository_of_path(path)
            .map(str::to_string)
            .or_else(|| repository_of_challenge(challenge))?;
        let project = scope::project_of(&repository);
        if self.config.project(project).is_none() {
            return Some((
                Refusal::ProjectNotFound,
                format!("project {project} not found"),
            ));
        }
        let action = Action::for_method(method);
        let allowed = user
            .and_then(|u| u.rights.get(project))
            .is_some_and(|r| scope::allows(r, action));
        if allowed {
            return None;
        }
        let m = format!(
            "unauthorized to access repository: {repository}, action: {}",
            action.as_str()
        );
        // Harbor repeats the text like that
        Some((Refusal::UnauthorizedAction, format!("{m}: {m}")))
    }

    /// For a request that completes a blob in a project with a quota: refuses it when
    /// the blob would pass the quota, else reserves its size.
    async fn quota_check(
        &self,
        req: &Request<Incoming>,
        authorization: Option<&HeaderValue>,
    ) -> std::result::Result<Option<PendingBlob>, Response<Body>> {
        let path = req.uri().path();
        let params: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        enum Target {
            Complete,
            Mount(String),
        }
        let (repository, digest, target) = if req.method() == Method::PUT
            && let Some((repo, _)) = scope::upload_of_path(path)
            && let Some(digest) = param("digest")
        {
            (repo.to_string(), digest, Target::Complete)
        } else if req.method() == Method::POST
            && let Some(repo) = path
                .strip_prefix("/v2/")
                .and_then(|p| p.strip_suffix("/blobs/uploads/"))
            && let (Some(digest), Some(from)) = (param("mount"), param("from"))
        {
            (repo.to_string(), digest, Target::Mount(from))
        } else {
            return Ok(None);
        };
        let project = scope::project_of(&repository).to_string();
        let Some(limit) = self.config.project(&project).and_then(|p| p.quota_bytes) else {
            return Ok(None);
        };
        if lock(&self.usage).holds(&project, &digest) {
            return Ok(None);
        }
        let size = match target {
            Target::Complete => {
                // the upload URL with its query: distribution wants its `_state` back
                let url = req.uri().path_and_query().map_or(path, |p| p.as_str());
                let status = self.backend_request(Method::GET, url, authorization).await;
                let uploaded = status
                    .as_ref()
                    .ok()
                    .filter(|r| r.status() == StatusCode::NO_CONTENT)
                    .and_then(|r| r.headers().get(header::RANGE))
                    .and_then(|v| v.to_str().ok())
                    .and_then(quota::uploaded_bytes)
                    .unwrap_or(0);
                let body = req
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                uploaded.saturating_add(body)
            }
            Target::Mount(from) => self
                .blob_size(&from, &digest, authorization)
                .await
                .unwrap_or(0),
        };
        let mut usage = lock(&self.usage);
        let current = usage
            .used(&project)
            .saturating_add(usage.reserved(&project));
        if !quota::fits(current, 0, size, limit) {
            drop(usage);
            let msg = quota::exceeded_message(size, current, limit);
            let user = match credentials(req.headers()) {
                Credentials::Bearer(t) => self.signer.verify(&t).map(|c| c.sub),
                _ => None,
            };
            self.refuse(
                Refusal::QuotaExceeded,
                user.as_deref().unwrap_or(""),
                (req.method(), path),
                StatusCode::FORBIDDEN,
                &msg,
            );
            return Err(json_response(
                StatusCode::FORBIDDEN,
                errors_body("DENIED", &msg),
            ));
        }
        usage.reserve(&project, size);
        Ok(Some(PendingBlob {
            project,
            repository,
            digest,
            reserved: size,
        }))
    }

    /// After the backend answered a blob completion: counts the blob (its real size) when
    /// it was created, and frees the reservation either way.
    async fn complete_blob(&self, p: &PendingBlob, created: bool, auth: Option<&HeaderValue>) {
        let size = if created {
            self.blob_size(&p.repository, &p.digest, auth).await
        } else {
            None
        };
        let mut usage = lock(&self.usage);
        usage.release(&p.project, p.reserved);
        if created && let Err(e) = usage.record(&p.project, &p.digest, size.unwrap_or(p.reserved)) {
            warn!("{e:#}");
        }
    }

    async fn blob_size(
        &self,
        repository: &str,
        digest: &str,
        auth: Option<&HeaderValue>,
    ) -> Option<u64> {
        let path = format!("/v2/{repository}/blobs/{digest}");
        let r = self.backend_request(Method::HEAD, &path, auth).await.ok()?;
        if r.status() != StatusCode::OK {
            return None;
        }
        r.headers()
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// A request of the proxy's own to distribution, with the client's credentials.
    async fn backend_request(
        &self,
        method: Method,
        path: &str,
        auth: Option<&HeaderValue>,
    ) -> Result<Response<Incoming>> {
        let uri: Uri = format!("{}{path}", self.config.backend).parse()?;
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a.clone());
        }
        let response = self.client.request(req.body(empty())?).await?;
        Ok(response)
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Incoming>> {
        let (mut parts, body) = req.into_parts();
        let host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = format!("{}{path_and_query}", self.config.backend).parse()?;
        strip_hop_by_hop(&mut parts.headers);
        if let Some(h) = host {
            parts.headers.insert(header::HOST, h.clone());
            parts.headers.insert("x-forwarded-host", h);
        }
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("https"));
        // blob data (PATCH chunks, a PUT's body) is counted as it passes, per project
        let upload_project = matches!(parts.method, Method::PATCH | Method::PUT)
            .then(|| scope::upload_of_path(parts.uri.path()))
            .flatten()
            .map(|(repository, _)| scope::project_of(repository).to_string());
        parts.uri = uri;
        // distribution speaks HTTP/1.1 on its loopback port, whatever the client spoke
        parts.version = Version::HTTP_11;
        let body = match upload_project {
            Some(project) => {
                let stats = Arc::clone(&self.stats);
                body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        lock(&stats).uploaded(&project, data.len() as u64);
                    }
                    frame
                })
                .boxed()
            }
            None => body.boxed(),
        };
        let out = Request::from_parts(parts, body);
        Ok(self.client.request(out).await?)
    }
}

/// Answers before the request's body was read. The rest of the body is read and dropped
/// first (as nginx in front of Harbor does; for 2 minutes at most): a client still sending
/// then reads the answer, where an early answer and a reset make some clients (curl 7.88
/// over HTTP/2, HTTP/1.1 clients blocked writing) lose it. A client waiting on
/// `Expect: 100-continue` has sent nothing and gets the answer at once.
async fn answer_early(req: Request<Incoming>, response: Response<Body>) -> Response<Body> {
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        return response;
    }
    let mut body = req.into_body();
    let _ = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
    response
}

/// The repository of the first `repository:` scope in a challenge.
fn repository_of_challenge(challenge: &str) -> Option<String> {
    let start = challenge.find("scope=\"")? + "scope=\"".len();
    let value = &challenge[start..];
    let value = &value[..value.find('"')?];
    value
        .split(' ')
        .filter_map(scope::parse_scope)
        .find(|a| a.kind == "repository")
        .map(|a| a.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_repository() {
        let c = r#"Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:vcity/app:pull,push repository:vcity/base:pull",error="insufficient_scope""#;
        assert_eq!(repository_of_challenge(c).as_deref(), Some("vcity/app"));
        assert_eq!(repository_of_challenge("Bearer realm=\"x\""), None);
        assert_eq!(repository_of_challenge("Bearer scope=\"repository:a"), None);
    }

    #[test]
    fn basic_credentials_with_robot_names() {
        let mut h = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode("robot$vcity+ci:pa:ss"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        match credentials(&h) {
            Credentials::Basic(u, p) => {
                assert_eq!((u.as_str(), p.as_str()), ("robot$vcity+ci", "pa:ss"))
            }
            _ => panic!("not basic"),
        }
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(matches!(credentials(&h), Credentials::Unreadable));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert!(matches!(credentials(&h), Credentials::Bearer(t) if t == "abc"));
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::RANGE, HeaderValue::from_static("0-9"));
        h.insert("docker-upload-uuid", HeaderValue::from_static("u"));
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["range", "docker-upload-uuid"]);
    }
}

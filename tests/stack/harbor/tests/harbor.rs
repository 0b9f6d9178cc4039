//! stack-harbor in front of a real distribution (Debian's `docker-registry`), driven by
//! real clients: reqwest (HTTP/2 over TLS with a private CA) and curl (HTTP/1.1).
//! Each test starts its own pair on free loopback ports in a temporary directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const CI: &str = "robot$vcity+ci";
const READER: &str = "robot$vcity+reader";
const SHORT: &str = "robot$vcity+short";
const BRIEF: &str = "robot$vcity+brief";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn free_port() -> u16 {
    // the port is free when the listener is dropped; a race with another process is
    // possible but rare on loopback
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1, and the token signing key and certificate.
fn make_certificates(dir: &Path, signing: Signing) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=stack-harbor test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server-key.pem",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    // PKCS#8, as openssl genpkey writes it (the unit tests cover SEC1 and PKCS#1)
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            match signing {
                Signing::Ec => "EC",
                Signing::Rsa => "RSA",
            },
            "-pkeyopt",
            match signing {
                Signing::Ec => "ec_paramgen_curve:P-256",
                Signing::Rsa => "rsa_keygen_bits:2048",
            },
            "-out",
            "token-key.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-key",
            "token-key.pem",
            "-out",
            "token-cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=harbor-token-issuer",
        ],
    );
}

fn password(user: &str) -> String {
    format!("pw-{}-S3cret", user.replace(['$', '+'], "_"))
}

/// The token signing key: ES256 (as the stack uses) or RS256 (as Harbor does).
#[derive(Clone, Copy)]
enum Signing {
    Ec,
    Rsa,
}

struct Stack {
    dir: tempfile::TempDir,
    config: PathBuf,
    base: String,
    registry: Child,
    harbor: Option<Child>,
    http: reqwest::Client,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- stack-harbor log ---\n{}", self.log());
            let err =
                std::fs::read_to_string(self.dir.path().join("registry.err")).unwrap_or_default();
            let tail: Vec<&str> = err.lines().rev().take(30).collect();
            eprintln!("--- docker-registry log (last lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = self.registry.kill();
        let _ = self.registry.wait();
        self.stop_harbor();
    }
}

/// A client that trusts only the test CA.
fn http_client(dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).expect("read ca.pem");
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA")])
        .build()
        .expect("reqwest client")
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not listen on {port} within 20 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Stack {
    fn start() -> Stack {
        Stack::start_with(Signing::Ec)
    }

    fn start_with(signing: Signing) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        make_certificates(d, signing);
        for user in [CI, READER, SHORT, BRIEF] {
            std::fs::write(
                d.join(format!("{}.password", user.replace(['$', '+'], "_"))),
                format!("{}\n", password(user)),
            )
            .expect("write a password file");
        }
        let port = free_port();
        let backend_port = free_port();
        let config = d.join("harbor.toml");
        std::fs::write(
            &config,
            format!(
                r#"listen = "127.0.0.1:{port}"
backend = "http://127.0.0.1:{backend_port}"

[tls]
cert = "server.pem"
key = "server-key.pem"

[token]
signing_key = "token-key.pem"
signing_cert = "token-cert.pem"

[[users]]
name = "{CI}"
password_file = "robot_vcity_ci.password"
projects = {{ vcity = ["pull", "push"], small = ["pull", "push"], tiny = ["pull", "push"] }}

[[users]]
name = "{READER}"
password_file = "robot_vcity_reader.password"
projects = {{ vcity = ["pull"] }}

[[users]]
name = "{SHORT}"
password_file = "robot_vcity_short.password"
projects = {{ vcity = ["pull", "push"] }}
token_uses = 2

[[users]]
name = "{BRIEF}"
password_file = "robot_vcity_brief.password"
projects = {{ vcity = ["pull", "push"] }}
token_lifetime_secs = 1

[[projects]]
name = "vcity"

[[projects]]
name = "small"
quota_bytes = 1048576

[[projects]]
name = "tiny"
quota_bytes = 1048576
"#
            ),
        )
        .expect("write the config");

        let out = Command::new(env!("CARGO_BIN_EXE_stack-harbor"))
            .args(["distribution-config", "--config"])
            .arg(&config)
            .arg("--storage")
            .arg(d.join("storage"))
            .output()
            .expect("run stack-harbor distribution-config");
        assert!(
            out.status.success(),
            "distribution-config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(d.join("registry.yml"), &out.stdout).expect("write registry.yml");

        let registry_log = d.join("registry.log");
        let mut registry = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("registry.yml"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&registry_log).expect("registry log"))
            .stderr(std::fs::File::create(d.join("registry.err")).expect("registry log"))
            .spawn()
            .expect("start docker-registry (Debian package docker-registry)");
        wait_for_port(
            backend_port,
            "docker-registry",
            &mut registry,
            &d.join("registry.err"),
        );

        let http = http_client(d);
        let mut stack = Stack {
            base: format!("https://127.0.0.1:{port}"),
            dir,
            config,
            registry,
            harbor: None,
            http,
        };
        stack.start_harbor();
        stack
    }

    fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("harbor.log")
    }

    fn start_harbor(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("harbor log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stack-harbor"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start stack-harbor");
        wait_for_port(self.port(), "stack-harbor", &mut child, &self.log_path());
        self.harbor = Some(child);
        // no pooled connection to a stopped server
        self.http = http_client(self.dir.path());
    }

    fn stop_harbor(&mut self) {
        if let Some(mut c) = self.harbor.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn client(&self, user: &str) -> Registry {
        Registry {
            http: self.http.clone(),
            base: self.base.clone(),
            user: user.to_string(),
            password: password(user),
            token: None,
            token_scope: String::new(),
        }
    }

    async fn token_request(&self, user: Option<(&str, &str)>, query: &str) -> reqwest::Response {
        let mut r = self
            .http
            .get(format!("{}/service/token?{query}", self.base));
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        r.send().await.expect("token request")
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/stack/stats", self.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    async fn reset_stats(&self) {
        let r = self
            .http
            .post(format!("{}/stack/stats/reset", self.base))
            .send()
            .await
            .expect("reset");
        assert_eq!(r.status(), StatusCode::OK);
    }
}

fn sha256(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Bytes that differ per seed, so blobs do not collide.
fn blob(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

struct Reply {
    status: StatusCode,
    headers: header::HeaderMap,
    bytes: Vec<u8>,
    /// `bytes` as text (lossy), for messages and JSON
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

fn challenge_param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=\"");
    let start = challenge.find(&key)? + key.len();
    let rest = &challenge[start..];
    Some(&rest[..rest.find('"')?])
}

/// A registry client doing the token dance like docker does: on a challenge, fetch a
/// token for the scope it names and try once more.
struct Registry {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
    token: Option<String>,
    token_scope: String,
}

impl Registry {
    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    async fn fetch_token(&mut self, challenge: &str) {
        let realm = challenge_param(challenge, "realm").expect("realm in challenge");
        let service = challenge_param(challenge, "service").expect("service in challenge");
        let scope = challenge_param(challenge, "scope").unwrap_or("");
        let r = self
            .http
            .get(realm)
            .query(&[("service", service), ("scope", scope)])
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .expect("token request");
        assert_eq!(r.status(), StatusCode::OK, "token for {scope}");
        let body: Value = r.json().await.expect("token JSON");
        self.token = Some(body["token"].as_str().expect("token").to_string());
        self.token_scope = scope.to_string();
    }

    async fn once(
        &self,
        method: &Method,
        url: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut r = self.http.request(method.clone(), url);
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if !body.is_empty() || *method == Method::PUT || *method == Method::PATCH {
            r = r.body(body.to_vec());
        }
        let resp = r.send().await.expect("registry request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// One request, with a new token when challenged for a scope not yet asked for (or
    /// for a refused token).
    async fn send(
        &mut self,
        method: Method,
        path_or_url: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = self.url(path_or_url);
        let reply = self.once(&method, &url, body, headers).await;
        if reply.status != StatusCode::UNAUTHORIZED {
            return reply;
        }
        let challenge = reply.header("www-authenticate").to_string();
        let scope = challenge_param(&challenge, "scope").unwrap_or("");
        let stale = challenge.contains("error=\"invalid_token\"");
        if self.token.is_some() && scope == self.token_scope && !stale {
            return reply;
        }
        self.fetch_token(&challenge).await;
        self.once(&method, &url, body, headers).await
    }

    async fn start_upload(&mut self, repo: &str) -> String {
        let r = self
            .send(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                b"",
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "start upload: {}", r.body);
        assert!(!r.header("docker-upload-uuid").is_empty());
        r.header("location").to_string()
    }

    fn with_digest(location: &str, digest: &str) -> String {
        let sep = if location.contains('?') { '&' } else { '?' };
        format!("{location}{sep}digest={}", digest.replace(':', "%3A"))
    }

    async fn push_monolithic(&mut self, repo: &str, data: &[u8]) -> Reply {
        let location = self.start_upload(repo).await;
        let url = Self::with_digest(&location, &sha256(data));
        self.send(
            Method::PUT,
            &url,
            data,
            &[("content-type", "application/octet-stream")],
        )
        .await
    }

    async fn push_chunked(&mut self, repo: &str, data: &[u8], chunk: usize) -> Reply {
        let mut location = self.start_upload(repo).await;
        let mut offset = 0;
        for part in data.chunks(chunk) {
            let range = format!("{}-{}", offset, offset + part.len() - 1);
            let r = self
                .send(
                    Method::PATCH,
                    &location,
                    part,
                    &[
                        ("content-type", "application/octet-stream"),
                        ("content-range", &range),
                    ],
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "chunk {range}: {}", r.body);
            assert_eq!(r.header("range"), format!("0-{}", offset + part.len() - 1));
            location = r.header("location").to_string();
            offset += part.len();
        }
        let url = Self::with_digest(&location, &sha256(data));
        self.send(Method::PUT, &url, b"", &[]).await
    }

    async fn push_manifest(
        &mut self,
        repo: &str,
        tag: &str,
        config: &[u8],
        layers: &[&[u8]],
    ) -> (Reply, String) {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": config.len()},
            "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(l), "size": l.len()})).collect::<Vec<_>>(),
        })
        .to_string();
        let r = self
            .send(
                Method::PUT,
                &format!("/v2/{repo}/manifests/{tag}"),
                manifest.as_bytes(),
                &[("content-type", MANIFEST_TYPE)],
            )
            .await;
        (r, manifest)
    }
}

fn errors(message: &str, code: &str) -> Value {
    json!({"errors": [{"code": code, "message": message}]})
}

#[tokio::test]
#[ignore = "needs docker-registry (Debian package docker-registry); run by tests/run-all"]
async fn push_and_pull_through_the_proxy() {
    let stack = Stack::start();
    stack.reset_stats().await;
    let mut ci = stack.client(CI);
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer1 = blob(1, 300_000);
    let layer2 = blob(2, 1_000_000);

    let r = ci.push_monolithic("vcity/app", &config).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.header("docker-content-digest"), sha256(&config));
    // distribution's Location points at the proxy, not at its own port
    assert!(
        r.header("location").starts_with(&stack.base),
        "{}",
        r.header("location")
    );
    let r = ci.push_monolithic("vcity/app", &layer1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = ci.push_chunked("vcity/app", &layer2, 400_000).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (r, manifest) = ci
        .push_manifest("vcity/app", "v1", &config, &[&layer1, &layer2])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // one token for the whole push (one repository, scope pull,push)
    let stats = stack.stats().await;
    assert_eq!(stats["token_requests"]["by_user"][CI], 1, "{stats}");
    assert_eq!(stats["token_requests"]["total"], 1, "{stats}");
    assert_eq!(stats["refusals"]["total"], 0, "{stats}");
    // every byte of blob data counted once, sent in one PUT or in PATCH chunks
    let sent = config.len() + layer1.len() + layer2.len();
    assert_eq!(stats["uploads"]["bytes"], sent, "{stats}");
    assert_eq!(
        stats["uploads"]["bytes_by_project"]["vcity"], sent,
        "{stats}"
    );
    assert_eq!(
        stats["mounts"],
        json!({"mounted": 0, "declined": 0}),
        "{stats}"
    );

    // a cross-repository mount of a blob the source holds links it in (201), one of a
    // blob it does not opens an ordinary upload (202): counted apart, nothing uploaded
    let mount = |digest: &str| {
        format!(
            "/v2/vcity/copy/blobs/uploads/?mount={}&from=vcity/app",
            digest.replace(':', "%3A")
        )
    };
    let r = ci
        .send(Method::POST, &mount(&sha256(&layer2)), b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = ci
        .send(Method::POST, &mount(&sha256(&blob(3, 10))), b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let stats = stack.stats().await;
    assert_eq!(
        stats["mounts"],
        json!({"mounted": 1, "declined": 1}),
        "{stats}"
    );
    assert_eq!(stats["uploads"]["bytes"], sent, "{stats}");

    // pull as the push robot and as the reader
    for user in [CI, READER] {
        let mut c = stack.client(user);
        let r = c
            .send(
                Method::GET,
                "/v2/vcity/app/manifests/v1",
                b"",
                &[("accept", MANIFEST_TYPE)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{user}: {}", r.body);
        assert_eq!(r.body, manifest);
        let r = c
            .send(
                Method::GET,
                &format!("/v2/vcity/app/blobs/{}", sha256(&layer2)),
                b"",
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(sha256(&r.bytes), sha256(&layer2), "{user}: blob content");
        // HEAD: the length, no body
        let r = c
            .send(
                Method::HEAD,
                &format!("/v2/vcity/app/blobs/{}", sha256(&layer1)),
                b"",
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-length"), layer1.len().to_string());
        assert_eq!(r.header("docker-content-digest"), sha256(&layer1));
        assert!(r.bytes.is_empty());
        // a range request goes through too
        let r = c
            .send(
                Method::GET,
                &format!("/v2/vcity/app/blobs/{}", sha256(&layer1)),
                b"",
                &[("range", "bytes=0-9")],
            )
            .await;
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.header("content-range"),
            format!("bytes 0-9/{}", layer1.len())
        );
    }

    // curl, HTTP/1.1: token with the robot's name as is, then HEAD on the manifest
    let ca = stack.dir.path().join("ca.pem");
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--cacert"])
        .arg(&ca)
        .args(["-u", &format!("{CI}:{}", password(CI))])
        .arg(format!(
            "{}/service/token?service=harbor-registry&scope=repository:vcity/app:pull",
            stack.base
        ))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("token JSON from curl");
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], 1800);
    assert!(body["issued_at"].as_str().is_some_and(|s| s.ends_with('Z')));
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "-I", "--cacert"])
        .arg(&ca)
        .args(["-H", &format!("Authorization: Bearer {token}"), "-H"])
        .arg(format!("Accept: {MANIFEST_TYPE}"))
        .arg(format!("{}/v2/vcity/app/manifests/v1", stack.base))
        .output()
        .expect("run curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", manifest.len())),
        "{head}"
    );
    assert!(head.contains("docker-content-digest: sha256:"), "{head}");

    // the claims: string aud, the granted access
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("claims"))
            .expect("base64"),
    )
    .expect("claims JSON");
    assert_eq!(claims["aud"], "harbor-registry");
    assert_eq!(claims["sub"], CI);
    assert_eq!(claims["iss"], "harbor-token-issuer");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "vcity/app", "actions": ["pull"]}])
    );

    // the CLI's helpers: the kid the server signs with, a configuration check
    let d = stack.dir.path();
    let out = Command::new(env!("CARGO_BIN_EXE_stack-harbor"))
        .arg("libtrust-kid")
        .arg(d.join("token-cert.pem"))
        .output()
        .expect("run libtrust-kid");
    assert!(out.status.success());
    let kid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(kid.len(), 59, "{kid}");
    assert!(stack.log().contains(&format!("token kid {kid}")));
    let out = Command::new(env!("CARGO_BIN_EXE_stack-harbor"))
        .args(["check-config", "--config"])
        .arg(&stack.config)
        .output()
        .expect("run check-config");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "user {CI}: small:pull,push tiny:pull,push vcity:pull,push"
        )),
        "{text}"
    );
    assert!(text.contains("project small: quota 1.0 MiB"), "{text}");
    assert!(!text.contains(&password(CI)), "{text}");

    let log = stack.log();
    // distribution names the actions of its challenge in either order
    assert!(
        ["pull,push", "push,pull"]
            .iter()
            .any(|a| log.contains(&format!(
                "token issued: user={CI} scopes=[repository:vcity/app:{a}]"
            ))),
        "{log}"
    );
    assert!(
        !log.contains(&password(CI)) && !log.contains(token),
        "secrets in the log: {log}"
    );
}

#[tokio::test]
#[ignore = "needs docker-registry (Debian package docker-registry); run by tests/run-all"]
async fn refusals_read_like_harbor() {
    // RS256 here: distribution's insufficient_scope below means it accepted the token
    let stack = Stack::start_with(Signing::Rsa);

    // the pull-only robot pushing
    let mut reader = stack.client(READER);
    let r = reader
        .send(Method::POST, "/v2/vcity/app/blobs/uploads/", b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let m = "unauthorized to access repository: vcity/app, action: push";
    assert_eq!(
        r.json(),
        errors(&format!("{m}: {m}"), "UNAUTHORIZED"),
        "{}",
        r.body
    );
    assert!(
        r.header("www-authenticate")
            .contains("error=\"insufficient_scope\"")
    );
    // its token was granted pull only
    let stats = stack.stats().await;
    assert_eq!(
        stats["refusals"]["by_kind"]["unauthorized_action"], 1,
        "{stats}"
    );

    // a project that does not exist
    let mut ci = stack.client(CI);
    let r = ci
        .send(Method::POST, "/v2/nope/app/blobs/uploads/", b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json(),
        errors("project nope not found", "UNAUTHORIZED"),
        "{}",
        r.body
    );
    assert!(!r.header("www-authenticate").is_empty());
    let r = ci
        .send(Method::HEAD, "/v2/nope/app/manifests/v1", b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.is_empty(), "HEAD with a body: {}", r.body);

    // a pull of a missing image is distribution's 404, untouched
    let r = ci
        .send(Method::GET, "/v2/vcity/app/manifests/missing", b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");

    // the token service
    let q = "service=harbor-registry&scope=repository:vcity/app:pull";
    let r = stack.token_request(Some((CI, "wrong")), q).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body, errors("authentication required", "UNAUTHORIZED"));
    let r = stack.token_request(Some(("robot$nobody", "x")), q).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = stack.token_request(None, "service=harbor-registry").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "anonymous login");
    let r = stack
        .http
        .post(format!("{}/service/token?{q}", stack.base))
        .basic_auth(CI, Some(password(CI)))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = stack
        .token_request(Some((CI, &password(CI))), "service=other&scope=x")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // anonymous with a scope: a token without access, like Harbor
    let r = stack.token_request(None, q).await;
    assert_eq!(r.status(), StatusCode::OK);
    // several scopes in one parameter, one of them on a missing project
    let r = stack
        .token_request(
            Some((CI, &password(CI))),
            "service=harbor-registry&scope=repository%3Avcity%2Fapp%3Apull%2Cpush+repository%3Anope%2Fx%3Apull",
        )
        .await;
    let body: Value = r.json().await.expect("JSON");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(
                body["token"]
                    .as_str()
                    .expect("token")
                    .split('.')
                    .nth(1)
                    .expect("claims"),
            )
            .expect("base64"),
    )
    .expect("claims");
    assert_eq!(
        claims["access"],
        json!([
            {"type": "repository", "name": "vcity/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "nope/x", "actions": []},
        ])
    );

    let stats = stack.stats().await;
    let kinds = &stats["refusals"]["by_kind"];
    assert_eq!(kinds["bad_credentials"], 3, "{stats}");
    assert_eq!(kinds["method_not_allowed"], 1, "{stats}");
    assert_eq!(kinds["bad_request"], 1, "{stats}");
    // the POST, then the HEAD twice (with the push token, then with a pull one)
    assert_eq!(kinds["project_not_found"], 3, "{stats}");
    assert_eq!(
        stats["token_requests"]["by_user"]["anonymous"], 1,
        "{stats}"
    );
    stack.reset_stats().await;
    let stats = stack.stats().await;
    assert_eq!(stats["refusals"]["total"], 0, "{stats}");
    assert_eq!(stats["token_requests"]["total"], 0, "{stats}");
    assert!(!stack.log().contains(&password(CI)));
}

#[tokio::test]
#[ignore = "needs docker-registry (Debian package docker-registry); run by tests/run-all"]
async fn quota_refuses_the_blob_that_would_pass_it() {
    let mut stack = Stack::start();
    let mut ci = stack.client(CI);

    // Harbor's own example: 3.2 MiB into an empty project of 1 MiB
    let big = blob(7, 3_355_443);
    let r = ci.push_monolithic("tiny/app", &big).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        errors(
            "adding 3.2 MiB of storage resource, which when updated to current usage of 0 B will exceed the configured upper limit of 1.0 MiB.",
            "DENIED"
        ),
        "{}",
        r.body
    );

    // a refusal given before a large body is read reaches the client, over HTTP/2 and
    // over HTTP/1.1
    let large = blob(12, 70 << 20);
    let r = ci.push_monolithic("tiny/app", &large).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("adding 70.0 MiB of storage resource"),
        "{}",
        r.body
    );
    let mut ci1 = stack.client(CI);
    ci1.http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            &std::fs::read(stack.dir.path().join("ca.pem")).expect("CA"),
        )
        .expect("CA")])
        .http1_only()
        .build()
        .expect("HTTP/1.1 client");
    let r = ci1.push_monolithic("tiny/app", &large).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("adding 70.0 MiB of storage resource"),
        "{}",
        r.body
    );
    let r = ci1.push_monolithic("vcity/app", &blob(13, 1000)).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "the connection is still usable: {}",
        r.body
    );

    // 600 KiB fits; 600 KiB more, sent in chunks, does not
    let first = blob(8, 600 * 1024);
    let r = ci.push_monolithic("small/app", &first).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // the same blob again, in another repository of the project: counted once
    let r = ci.push_monolithic("small/other", &first).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let second = blob(9, 600 * 1024);
    let r = ci.push_chunked("small/app", &second, 200 * 1024).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        errors(
            "adding 600.0 KiB of storage resource, which when updated to current usage of 600.0 KiB will exceed the configured upper limit of 1.0 MiB.",
            "DENIED"
        ),
        "{}",
        r.body
    );
    // manifests count nothing
    let (r, _) = ci.push_manifest("small/app", "v1", &first, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let stats = stack.stats().await;
    assert_eq!(stats["refusals"]["by_kind"]["quota_exceeded"], 4, "{stats}");
    assert_eq!(
        stats["projects"]["small"]["used_bytes"],
        600 * 1024,
        "{stats}"
    );
    assert_eq!(
        stats["projects"]["small"]["quota_bytes"], 1048576,
        "{stats}"
    );
    assert_eq!(stats["projects"]["tiny"]["used_bytes"], 0, "{stats}");

    // cross-repository mounts count too: 600 KiB from small fits in tiny, 500 KiB more
    // from vcity (no quota) does not
    let mount = |digest: String, from: &str| {
        format!(
            "/v2/tiny/app/blobs/uploads/?mount={}&from={from}",
            digest.replace(':', "%3A")
        )
    };
    let r = ci
        .send(Method::POST, &mount(sha256(&first), "small/app"), b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let third = blob(11, 500 * 1024);
    let r = ci.push_monolithic("vcity/app", &third).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = ci
        .send(Method::POST, &mount(sha256(&third), "vcity/app"), b"", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        r.json(),
        errors(
            "adding 500.0 KiB of storage resource, which when updated to current usage of 600.0 KiB will exceed the configured upper limit of 1.0 MiB.",
            "DENIED"
        ),
    );
    let stats = stack.stats().await;
    assert_eq!(
        stats["projects"]["tiny"]["used_bytes"],
        600 * 1024,
        "{stats}"
    );
    assert_eq!(stats["refusals"]["by_kind"]["quota_exceeded"], 5, "{stats}");

    // the usage survives a restart
    stack.stop_harbor();
    stack.start_harbor();
    let stats = stack.stats().await;
    assert_eq!(
        stats["projects"]["small"]["used_bytes"],
        600 * 1024,
        "{stats}"
    );
    let mut ci = stack.client(CI);
    let r = ci.push_monolithic("small/app", &second).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // a small blob still fits
    let r = ci.push_monolithic("small/app", &blob(10, 1000)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let stats = stack.stats().await;
    assert_eq!(
        stats["projects"]["small"]["used_bytes"],
        600 * 1024 + 1000,
        "{stats}"
    );
}

#[tokio::test]
#[ignore = "needs docker-registry (Debian package docker-registry); run by tests/run-all"]
async fn tokens_expire_by_uses_and_by_time() {
    let stack = Stack::start();
    stack.reset_stats().await;

    // token_uses = 2: the upload's start and first chunk pass, the second chunk is refused
    let mut short = stack.client(SHORT);
    let data = blob(3, 3000);
    let location = short.start_upload("vcity/short").await; // challenge, token, POST: 1 use
    let r = short
        .once(
            &Method::PATCH,
            &location,
            &data[..1000],
            &[("content-range", "0-999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body); // 2 uses
    let location = r.header("location").to_string();
    let r = short
        .once(
            &Method::PATCH,
            &location,
            &data[1000..],
            &[("content-range", "1000-2999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.header("www-authenticate").to_string();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        challenge.contains("service=\"harbor-registry\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("realm=\"{}/service/token\"", stack.base)),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"repository:vcity/short:pull,push\""),
        "{challenge}"
    );
    assert_eq!(r.json()["errors"][0]["code"], "UNAUTHORIZED");
    // a new token, the same upload URL takes the chunk
    short.fetch_token(&challenge).await;
    let r = short
        .once(
            &Method::PATCH,
            &location,
            &data[1000..],
            &[("content-range", "1000-2999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let url = Registry::with_digest(r.header("location"), &sha256(&data));
    let r = short.once(&Method::PUT, &url, b"", &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let stats = stack.stats().await;
    assert_eq!(stats["token_requests"]["by_user"][SHORT], 2, "{stats}");
    assert_eq!(stats["refusals"]["by_kind"]["token_used_up"], 1, "{stats}");

    // lifetime 1 s: refused right after, where distribution would allow 60 s more
    let mut brief = stack.client(BRIEF);
    let blob_path = format!("/v2/vcity/short/blobs/{}", sha256(&data));
    let r = brief.send(Method::HEAD, &blob_path, b"", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = brief
        .once(
            &Method::HEAD,
            &format!("{}{blob_path}", stack.base),
            b"",
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let challenge = r.header("www-authenticate").to_string();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    brief.fetch_token(&challenge).await;
    let r = brief
        .once(
            &Method::HEAD,
            &format!("{}{blob_path}", stack.base),
            b"",
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "with a new token: {}", r.body);
    let stats = stack.stats().await;
    assert_eq!(stats["refusals"]["by_kind"]["token_expired"], 1, "{stats}");
    assert_eq!(stats["token_requests"]["by_user"][BRIEF], 2, "{stats}");
}

//! The client: one HTTP/1.1 connection pool to the Argo Server, the token sent as given
//! (with `Bearer ` added when missing), and every answer checked before it is read.
//!
//! HTTP/1.1 only: the Argo Server offers h2 in TLS, and over h2 its gateway streams
//! differently from what the argo CLI's `ARGO_HTTP1=true` mode (and this client) reads.

use std::path::PathBuf;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Event;
use kit_argo_types::Workflow;
use kit_config::Secret;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ServerError, body_message, classify_transport, is_html};
use crate::stream;

/// Where the Argo Server is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    /// `https://host:port` or `http://…`, with the base href's path when there is one,
    /// no trailing `/`.
    pub url: String,
    /// The `Authorization` value: `Bearer …` (added when the token had no prefix).
    pub bearer: Secret,
    /// A PEM file of CAs trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// How long a connection may take to open; streams themselves have no time limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One-shot requests (not streams) answer within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct ArgoServer {
    http: reqwest::Client,
    url: String,
    host: String,
    bearer: Secret,
}

/// One workflow change from `workflow-events`.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub object: Workflow,
}

/// One line of a step's log.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    #[serde(default)]
    pub pod_name: String,
    #[serde(default)]
    pub content: String,
}

/// A page of workflows and the list's resourceVersion.
#[derive(Debug, Clone, Default)]
pub struct WorkflowList {
    pub items: Vec<Workflow>,
    pub resource_version: Option<String>,
}

impl ArgoServer {
    pub fn new(target: &ServerTarget) -> Result<Self, ServerError> {
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            // The server is named explicitly; a proxy variable meant for the web must not
            // reroute it (PaGoDA's proxy ConfigMap holds such variables).
            .no_proxy();
        if let Some(file) = &target.ca_file {
            let pem = std::fs::read(file).map_err(|e| {
                ServerError::Setup(format!(
                    "cannot read the Argo Server CA file {}: {e}",
                    file.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ServerError::Setup(format!(
                    "{} holds no PEM certificate the client can use: {e}",
                    file.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(ServerError::Setup(format!(
                    "{} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                    file.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        if target.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| {
            ServerError::Setup(format!(
                "cannot set up the HTTP client: {}",
                crate::error::chain(&e)
            ))
        })?;
        let host = reqwest::Url::parse(&target.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| target.url.clone());
        Ok(ArgoServer {
            http,
            url: target.url.trim_end_matches('/').to_string(),
            host,
            bearer: target.bearer.clone(),
        })
    }

    /// The server's URL as configured (no secret in it).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header(reqwest::header::AUTHORIZATION, self.bearer.expose())
    }

    /// Sends a request and turns every failure into a [`ServerError`]; `namespace` names
    /// the namespace in a 403.
    async fn send(
        &self,
        request: RequestBuilder,
        action: &str,
        namespace: &str,
    ) -> Result<Response, ServerError> {
        let response = request.send().await.map_err(|e| {
            classify_transport(&self.url, &self.host, &e, CONNECT_TIMEOUT.as_secs())
        })?;
        let status = response.status();
        let html = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        if status.is_success() && !html {
            return Ok(response);
        }
        let url = response.url().to_string();
        let body = response.text().await.unwrap_or_default();
        Err(self.refusal(status, &body, html, url, action, namespace))
    }

    fn refusal(
        &self,
        status: StatusCode,
        body: &str,
        html: bool,
        url: String,
        action: &str,
        namespace: &str,
    ) -> ServerError {
        let message = body_message(body);
        let server = self.url.clone();
        if html || is_html(body) {
            return ServerError::NotTheApi {
                url,
                status: status.as_u16(),
                page: ", an HTML page",
            };
        }
        match status.as_u16() {
            401 => ServerError::Unauthorized { server, message },
            403 => ServerError::Forbidden {
                namespace: namespace.to_string(),
                message,
            },
            // Go's TLS listener answers plain HTTP with this 400 and closes the
            // connection, so its body may be lost.
            400 if message.contains("HTTP request to an HTTPS server")
                || (self.url.starts_with("http://") && body.trim().is_empty()) =>
            {
                ServerError::TlsServer { server }
            }
            // grpc-gateway's 404s are JSON with a code; a bare 404 is another server or a
            // path missing its base href.
            404 if serde_json::from_str::<Value>(body).is_ok_and(|v| v.get("code").is_some()) => {
                ServerError::NotFound {
                    what: action.to_string(),
                    message,
                }
            }
            404 => ServerError::NotTheApi {
                url,
                status: 404,
                page: "",
            },
            status => ServerError::Api {
                action: action.to_string(),
                status,
                message,
            },
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: RequestBuilder,
        action: &str,
        namespace: &str,
    ) -> Result<T, ServerError> {
        let response = self
            .send(request.timeout(REQUEST_TIMEOUT), action, namespace)
            .await?;
        let (url, status) = (response.url().clone(), response.status());
        let bytes = response.bytes().await.map_err(|e| ServerError::Transport {
            server: self.url.clone(),
            detail: crate::error::chain(&e),
        })?;
        // Under a path that is not the API (a base href missing or wrong), the server's
        // UI file handler answers 200 with an empty body.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.first() != Some(&b'{') {
            return Err(ServerError::NotTheApi {
                url: url.to_string(),
                status: status.as_u16(),
                page: if bytes.is_empty() {
                    ", an empty answer"
                } else {
                    ", not JSON"
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ServerError::Decode {
            action: action.to_string(),
            detail: e.to_string(),
        })
    }

    /// `GET /api/v1/version`: reachable, TLS fine, the API at this path (any token passes).
    pub async fn version(&self) -> Result<Value, ServerError> {
        self.json(
            self.request(Method::GET, "/api/v1/version"),
            "the version request",
            "",
        )
        .await
    }

    /// Lists workflows; `limit` 1 is the cheapest proof that the token may read the
    /// namespace. `labels`: a label selector.
    pub async fn list_workflows(
        &self,
        namespace: &str,
        limit: Option<u32>,
        labels: Option<&str>,
    ) -> Result<WorkflowList, ServerError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(limit) = limit {
            query.push(("listOptions.limit", limit.to_string()));
        }
        if let Some(labels) = labels {
            query.push(("listOptions.labelSelector", labels.to_string()));
        }
        let request = self
            .request(Method::GET, &format!("/api/v1/workflows/{namespace}"))
            .query(&query);
        let value: Value = self
            .json(
                request,
                &format!("listing workflows in {namespace}"),
                namespace,
            )
            .await?;
        let resource_version = value
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string);
        let items = match value.get("items") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|w| serde_json::from_value(w.clone()))
                .collect::<Result<Vec<Workflow>, _>>()
                .map_err(|e| ServerError::Decode {
                    action: format!("listing workflows in {namespace}"),
                    detail: e.to_string(),
                })?,
            _ => Vec::new(),
        };
        Ok(WorkflowList {
            items,
            resource_version,
        })
    }

    pub async fn get_workflow(&self, namespace: &str, name: &str) -> Result<Workflow, ServerError> {
        self.json(
            self.request(
                Method::GET,
                &format!("/api/v1/workflows/{namespace}/{name}"),
            ),
            &format!("workflow {namespace}/{name}"),
            namespace,
        )
        .await
    }

    /// Submits a workflow; the server answers with it as created (its name when the
    /// manifest had only a `generateName`).
    pub async fn create_workflow(
        &self,
        namespace: &str,
        workflow: &Workflow,
    ) -> Result<Workflow, ServerError> {
        let body = json!({ "namespace": namespace, "workflow": workflow });
        self.json(
            self.request(Method::POST, &format!("/api/v1/workflows/{namespace}"))
                .json(&body),
            &format!("creating a workflow in {namespace}"),
            namespace,
        )
        .await
    }

    /// The server's own lint of a workflow (templates, references, expressions).
    pub async fn lint_workflow(
        &self,
        namespace: &str,
        workflow: &Workflow,
    ) -> Result<(), ServerError> {
        let body = json!({ "namespace": namespace, "workflow": workflow });
        let _: Value = self
            .json(
                self.request(Method::POST, &format!("/api/v1/workflows/{namespace}/lint"))
                    .json(&body),
                &format!("linting a workflow in {namespace}"),
                namespace,
            )
            .await?;
        Ok(())
    }

    /// Stops a workflow: running steps are stopped, exit handlers still run.
    pub async fn stop_workflow(&self, namespace: &str, name: &str) -> Result<(), ServerError> {
        let body = json!({ "namespace": namespace, "name": name });
        let _: Value = self
            .json(
                self.request(
                    Method::PUT,
                    &format!("/api/v1/workflows/{namespace}/{name}/stop"),
                )
                .json(&body),
                &format!("stopping workflow {namespace}/{name}"),
                namespace,
            )
            .await?;
        Ok(())
    }

    /// Deletes a workflow (and, through the controller, its pods).
    pub async fn delete_workflow(&self, namespace: &str, name: &str) -> Result<(), ServerError> {
        let _: Value = self
            .json(
                self.request(
                    Method::DELETE,
                    &format!("/api/v1/workflows/{namespace}/{name}"),
                ),
                &format!("deleting workflow {namespace}/{name}"),
                namespace,
            )
            .await?;
        Ok(())
    }

    /// Opens the stream of one workflow's changes, from `resource_version` when given
    /// (else the current state comes first, as an ADDED event).
    pub async fn watch_workflow(
        &self,
        namespace: &str,
        name: &str,
        resource_version: Option<&str>,
    ) -> Result<impl Stream<Item = Result<WorkflowEvent, ServerError>> + Send + use<>, ServerError>
    {
        let mut query = vec![("listOptions.fieldSelector", format!("metadata.name={name}"))];
        if let Some(version) = resource_version {
            query.push(("listOptions.resourceVersion", version.to_string()));
        }
        let request = self
            .request(Method::GET, &format!("/api/v1/workflow-events/{namespace}"))
            .query(&query);
        let what = format!("workflow {namespace}/{name}");
        let values = self.open_stream(request, &what, namespace).await?;
        Ok(values.map(move |value| {
            value.and_then(|v| {
                serde_json::from_value::<WorkflowEvent>(v).map_err(|e| ServerError::Decode {
                    action: "a workflow event".into(),
                    detail: e.to_string(),
                })
            })
        }))
    }

    /// Opens the stream of the namespace's Kubernetes events (the existing ones first).
    pub async fn watch_events(
        &self,
        namespace: &str,
        resource_version: Option<&str>,
    ) -> Result<impl Stream<Item = Result<Event, ServerError>> + Send + use<>, ServerError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(version) = resource_version {
            query.push(("listOptions.resourceVersion", version.to_string()));
        }
        let request = self
            .request(Method::GET, &format!("/api/v1/stream/events/{namespace}"))
            .query(&query);
        let values = self
            .open_stream(request, &format!("events of {namespace}"), namespace)
            .await?;
        Ok(values.map(|value| {
            value.and_then(|v| {
                serde_json::from_value::<Event>(v).map_err(|e| ServerError::Decode {
                    action: "an event".into(),
                    detail: e.to_string(),
                })
            })
        }))
    }

    /// A step's log: its last `tail` lines, or the whole and then live when `follow`.
    pub async fn pod_log(
        &self,
        namespace: &str,
        workflow: &str,
        pod: &str,
        follow: bool,
        tail: Option<usize>,
    ) -> Result<impl Stream<Item = Result<LogEntry, ServerError>> + Send + use<>, ServerError> {
        let mut query = vec![
            ("podName", pod.to_string()),
            ("logOptions.container", "main".to_string()),
        ];
        if follow {
            query.push(("logOptions.follow", "true".into()));
        }
        if let Some(tail) = tail {
            query.push(("logOptions.tailLines", tail.to_string()));
        }
        let request = self
            .request(
                Method::GET,
                &format!("/api/v1/workflows/{namespace}/{workflow}/log"),
            )
            .query(&query);
        let values = self
            .open_stream(request, &format!("the log of {pod}"), namespace)
            .await?;
        Ok(values.map(|value| {
            value.and_then(|v| {
                serde_json::from_value::<LogEntry>(v).map_err(|e| ServerError::Decode {
                    action: "a log line".into(),
                    detail: e.to_string(),
                })
            })
        }))
    }

    async fn open_stream(
        &self,
        request: RequestBuilder,
        what: &str,
        namespace: &str,
    ) -> Result<impl Stream<Item = Result<Value, ServerError>> + Send + use<>, ServerError> {
        let request = request.header(reqwest::header::ACCEPT, "text/event-stream");
        let response = self.send(request, what, namespace).await?;
        Ok(stream::lines(response.bytes_stream(), what.to_string()))
    }
}

/// The `Authorization` value for a token given with or without its `Bearer ` prefix.
pub fn bearer(token: &str) -> Secret {
    let token = token.trim();
    match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => {
            Secret::new(format!("Bearer {}", token[7..].trim_start()))
        }
        _ => Secret::new(format!("Bearer {token}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_get_one_bearer_prefix_whatever_the_user_pasted() {
        assert_eq!(bearer("abc").expose(), "Bearer abc");
        assert_eq!(bearer("Bearer v2:abc").expose(), "Bearer v2:abc");
        assert_eq!(bearer("bearer  abc\n").expose(), "Bearer abc");
    }

    fn server() -> ArgoServer {
        ArgoServer::new(&ServerTarget {
            url: "https://argo.example.org:2746".into(),
            bearer: bearer("t"),
            ca_file: None,
            insecure_skip_verify: false,
        })
        .unwrap()
    }

    #[test]
    fn refusals_are_sorted_by_what_the_user_must_change() {
        let s = server();
        let url = || "https://argo.example.org:2746/api/v1/workflows/argo".to_string();
        let r = |status: u16, body: &str| {
            s.refusal(
                StatusCode::from_u16(status).unwrap(),
                body,
                false,
                url(),
                "listing",
                "argo",
            )
        };
        assert!(matches!(
            r(401, r#"{"code":16,"message":"token not valid"}"#),
            ServerError::Unauthorized { .. }
        ));
        assert!(matches!(
            r(403, r#"{"code":7,"message":"forbidden"}"#),
            ServerError::Forbidden { namespace, .. } if namespace == "argo"
        ));
        assert!(matches!(
            r(
                404,
                r#"{"code":5,"message":"workflows.argoproj.io \"x\" not found"}"#
            ),
            ServerError::NotFound { .. }
        ));
        assert!(matches!(
            r(404, "404 page not found\n"),
            ServerError::NotTheApi { status: 404, .. }
        ));
        assert!(matches!(
            r(200, "<!doctype html><html>"),
            ServerError::NotTheApi { status: 200, .. }
        ));
        assert!(matches!(
            r(400, "Client sent an HTTP request to an HTTPS server.\n"),
            ServerError::TlsServer { .. }
        ));
        assert!(matches!(
            r(500, r#"{"code":13,"message":"boom"}"#),
            ServerError::Api { status: 500, .. }
        ));
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_named() {
        let dir = std::env::temp_dir().join(format!("kit-argo-server-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ca.crt");
        std::fs::write(&file, "not a certificate").unwrap();
        let err = ArgoServer::new(&ServerTarget {
            url: "https://h:1".into(),
            bearer: bearer("t"),
            ca_file: Some(file.clone()),
            insecure_skip_verify: false,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

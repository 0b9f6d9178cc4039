//! What can go wrong between the toolkit and an Argo Server, each case with the words a
//! user needs: what happened, where, and what to change. A token never appears here.

/// How to get a fresh token; shown with every refusal of one.
pub const TOKEN_HINT: &str = "get a fresh token from the Argo UI (User → \"Using your login with the CLI\": \
     copy the ARGO_TOKEN line) and export ARGO_TOKEN='Bearer …'";

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The host name does not resolve.
    #[error(
        "cannot resolve {host} (from ARGO_SERVER {server}): check the spelling, and that the VPN or network that knows it is up"
    )]
    Dns { server: String, host: String },
    /// Nothing listens there.
    #[error(
        "nothing answers at {server} (connection refused): check the port of ARGO_SERVER (the Argo Server's default is 2746) and that the server runs"
    )]
    Refused { server: String },
    #[error(
        "no answer from {server} within {seconds} s: a firewall or VPN may drop the traffic; check ARGO_SERVER"
    )]
    Timeout { server: String, seconds: u64 },
    /// The certificate is valid but issued for another name.
    #[error(
        "the TLS certificate of {server} is not issued for {host} ({detail}): use the name the certificate carries in ARGO_SERVER"
    )]
    TlsName {
        server: String,
        host: String,
        detail: String,
    },
    /// The certificate chain is not trusted.
    #[error(
        "the TLS certificate of {server} is not trusted ({detail}): give its CA with --argo-server-ca FILE (or XTASK_ARGO_SERVER_CA), or, on a test server only, ARGO_INSECURE_SKIP_VERIFY=true"
    )]
    TlsUntrusted { server: String, detail: String },
    /// TLS spoken to a plain-HTTP server.
    #[error(
        "{server} answers plain HTTP, not TLS: set ARGO_SECURE=false (or write http:// in ARGO_SERVER)"
    )]
    PlainServer { server: String },
    /// Plain HTTP spoken to a TLS server.
    #[error("{server} expects TLS: set ARGO_SECURE=true (or write https:// in ARGO_SERVER)")]
    TlsServer { server: String },
    /// Something answers, but not the Argo Server's API at this path.
    #[error(
        "{url} is not the Argo Server's API (HTTP {status}{page}): when the UI lives under a path (https://host/argo/), set ARGO_BASE_HREF to that path; else check ARGO_SERVER"
    )]
    NotTheApi {
        url: String,
        status: u16,
        /// `", an HTML page"` when the answer was one.
        page: &'static str,
    },
    /// 401: the token is refused (invalid, expired, or missing).
    #[error("the Argo Server {server} refused the token ({message}): {TOKEN_HINT}")]
    Unauthorized { server: String, message: String },
    /// 403: the identity behind the token may not do this.
    #[error("{}", forbidden_text(.namespace, .message))]
    Forbidden { namespace: String, message: String },
    /// 404 from the API itself (a workflow that does not exist).
    #[error("{what} not found ({message})")]
    NotFound { what: String, message: String },
    /// Any other refusal, with the server's own message.
    #[error("the Argo Server answered HTTP {status} to {action}: {message}")]
    Api {
        action: String,
        status: u16,
        message: String,
    },
    /// An error sent inside a stream (a watch the server could not keep).
    #[error("the Argo Server's stream of {what} broke: {message}")]
    InStream { what: String, message: String },
    /// An answer that is not what the API documents.
    #[error("the Argo Server's answer to {action} could not be read: {detail}")]
    Decode { action: String, detail: String },
    /// The connection failed in another way.
    #[error("cannot reach {server}: {detail}")]
    Transport { server: String, detail: String },
    /// The client could not be made (a CA file that cannot be read).
    #[error("{0}")]
    Setup(String),
}

fn forbidden_text(namespace: &str, message: &str) -> String {
    format!(
        "the Argo Server refused access to namespace {namespace}: {message}. Ask the cluster admins for rights on workflows in {namespace}, or set ARGO_NAMESPACE to a namespace your token may use"
    )
}

impl ServerError {
    /// HTTP status of a refusal, when it was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ServerError::Unauthorized { .. } => Some(401),
            ServerError::Forbidden { .. } => Some(403),
            ServerError::NotFound { .. } => Some(404),
            ServerError::NotTheApi { status, .. } | ServerError::Api { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Whether trying again later can help (a server restarting, a network hiccup), as
    /// opposed to a setting or a token to change.
    pub fn is_transient(&self) -> bool {
        match self {
            ServerError::Refused { .. }
            | ServerError::Timeout { .. }
            | ServerError::Transport { .. }
            | ServerError::InStream { .. } => true,
            ServerError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// The message of an error body: grpc-gateway's `{"code": …, "message": "…"}`, or the
/// text itself (first line, bounded) when it is not JSON.
pub(crate) fn body_message(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body)
        && let Some(message) = value
            .get("message")
            .or_else(|| value.pointer("/error/message"))
            .and_then(|m| m.as_str())
    {
        return message.to_string();
    }
    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut text: String = line.trim().chars().take(200).collect();
    if text.is_empty() {
        text = "(no message)".into();
    }
    text
}

/// Whether a body is an HTML page (a UI or a proxy answering instead of the API).
pub(crate) fn is_html(body: &str) -> bool {
    let start: String = body
        .trim_start()
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// The text of an error and its causes, for classifying transport failures.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Sorts a failed connection into the cases users can act on.
pub(crate) fn classify_transport(
    server: &str,
    host: &str,
    err: &reqwest::Error,
    timeout_secs: u64,
) -> ServerError {
    classify_text(server, host, &chain(err), err.is_timeout(), timeout_secs)
}

/// [`classify_transport`] on the error's text: hyper, rustls and the resolver word their
/// failures stably enough, and this keeps the sorting testable without a network.
fn classify_text(
    server: &str,
    host: &str,
    text: &str,
    timed_out: bool,
    timeout_secs: u64,
) -> ServerError {
    let text = text.to_string();
    let lower = text.to_ascii_lowercase();
    let server = server.to_string();
    if timed_out {
        return ServerError::Timeout {
            server,
            seconds: timeout_secs,
        };
    }
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        return ServerError::Dns {
            server,
            host: host.to_string(),
        };
    }
    if lower.contains("connection refused") {
        return ServerError::Refused { server };
    }
    if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        return ServerError::TlsName {
            server,
            host: host.to_string(),
            detail: tls_detail(&text),
        };
    }
    if lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
        || lower.contains("wrong version number")
    {
        return ServerError::PlainServer { server };
    }
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        return ServerError::TlsUntrusted {
            server,
            detail: tls_detail(&text),
        };
    }
    ServerError::Transport {
        server,
        detail: text,
    }
}

/// The part of a TLS error chain that says what is wrong with the certificate.
fn tls_detail(text: &str) -> String {
    let parts: Vec<&str> = text.split(": ").collect();
    match parts
        .iter()
        .position(|part| part.to_ascii_lowercase().contains("certificate"))
    {
        Some(i) => parts[i..].join(": "),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_of_a_grpc_gateway_error_body() {
        assert_eq!(
            body_message(
                r#"{"code":16,"message":"token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/"}"#
            ),
            "token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/"
        );
        assert_eq!(
            body_message(r#"{"error":{"grpc_code":7,"http_code":403,"message":"forbidden"}}"#),
            "forbidden"
        );
        assert_eq!(
            body_message("Client sent an HTTP request to an HTTPS server.\n"),
            "Client sent an HTTP request to an HTTPS server."
        );
        assert_eq!(body_message(""), "(no message)");
    }

    #[test]
    fn html_pages_are_told_apart_from_api_answers() {
        assert!(is_html("<!DOCTYPE html>\n<html><head>"));
        assert!(is_html("  <html lang=en>"));
        assert!(!is_html(r#"{"code":5,"message":"Not Found"}"#));
        assert!(!is_html("<!"));
    }

    #[test]
    fn a_refused_token_says_how_to_get_a_fresh_one_and_never_holds_it() {
        let e = ServerError::Unauthorized {
            server: "https://argo.example.org".into(),
            message: "token not valid".into(),
        };
        let text = e.to_string();
        assert!(text.contains("token not valid"), "{text}");
        assert!(text.contains("Using your login with the CLI"), "{text}");
        assert_eq!(e.status(), Some(401));
        assert!(!e.is_transient());
    }

    #[test]
    fn a_forbidden_namespace_is_named_with_the_identity_the_server_gave() {
        let e = ServerError::Forbidden {
            namespace: "default".into(),
            message: "workflows.argoproj.io is forbidden: User \"system:serviceaccount:argo:vcity-cli\" cannot list resource".into(),
        };
        let text = e.to_string();
        assert!(text.contains("namespace default"), "{text}");
        assert!(
            text.contains("system:serviceaccount:argo:vcity-cli"),
            "{text}"
        );
    }

    #[test]
    fn transport_failures_are_sorted_by_their_words() {
        let sort = |text: &str| {
            classify_text(
                "https://argo.example.org",
                "argo.example.org",
                text,
                false,
                10,
            )
        };
        assert!(matches!(
            sort("error sending request for url (https://argo.example.org/api/v1/version): client error (Connect): dns error: failed to lookup address information: Name or service not known"),
            ServerError::Dns { host, .. } if host == "argo.example.org"
        ));
        assert!(matches!(
            sort("client error (Connect): tcp connect error: Connection refused (os error 111)"),
            ServerError::Refused { .. }
        ));
        assert!(matches!(
            sort(
                "client error (Connect): invalid peer certificate: certificate not valid for name \"127.0.0.2\""
            ),
            ServerError::TlsName { .. }
        ));
        assert!(matches!(
            sort("client error (Connect): invalid peer certificate: UnknownIssuer"),
            ServerError::TlsUntrusted { .. }
        ));
        assert!(matches!(
            sort("client error (Connect): received corrupt message of type InvalidContentType"),
            ServerError::PlainServer { .. }
        ));
        assert!(matches!(
            classify_text("https://h", "h", "operation timed out", true, 10),
            ServerError::Timeout { seconds: 10, .. }
        ));
        assert!(matches!(
            sort("connection reset"),
            ServerError::Transport { .. }
        ));
    }

    #[test]
    fn tls_details_keep_the_certificate_part() {
        assert_eq!(
            tls_detail(
                "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer"
            ),
            "invalid peer certificate: UnknownIssuer"
        );
    }
}

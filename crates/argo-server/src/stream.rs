//! The Argo Server's streams (workflow events, Kubernetes events, logs) as grpc-gateway
//! sends them over HTTP/1.1: one JSON message per line, `{"result": …}` or
//! `{"error": …}`. Asked for `text/event-stream`, the same messages come as `data: …`
//! lines, with `:` comment lines as keep-alives every few seconds; both forms are read.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::Value;

use crate::error::ServerError;

/// One line of a stream, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A message's `result`.
    Result(Value),
    /// An error the server sent inside the stream (its HTTP status, when given, and its
    /// message).
    Error {
        status: Option<u16>,
        message: String,
    },
    /// A keep-alive, a blank line or an SSE field other than `data`.
    Nothing,
}

/// Reads one line. An unreadable line is an error of its own, with the line's start.
pub fn parse_line(line: &str) -> Result<Line, String> {
    let line = line.trim_end_matches('\r');
    let payload = match line.strip_prefix("data:") {
        Some(rest) => rest.trim_start(),
        // Comments (keep-alives) and the other SSE fields carry nothing.
        None if line.is_empty()
            || line.starts_with(':')
            || line.starts_with("event:")
            || line.starts_with("id:")
            || line.starts_with("retry:") =>
        {
            return Ok(Line::Nothing);
        }
        None => line,
    };
    if payload.trim().is_empty() {
        return Ok(Line::Nothing);
    }
    let mut value: Value = serde_json::from_str(payload).map_err(|e| {
        let start: String = payload.chars().take(120).collect();
        format!("{e} in {start:?}")
    })?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let status = error
            .get("http_code")
            .or_else(|| error.get("httpCode"))
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok());
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)")
            .to_string();
        return Ok(Line::Error { status, message });
    }
    match value.get_mut("result") {
        Some(result) => Ok(Line::Result(result.take())),
        // Not wrapped: some gateways send the message itself.
        None => Ok(Line::Result(value)),
    }
}

/// Splits a body into lines as its chunks arrive (a message may span chunks; a chunk may
/// hold several), and reads each. `what` names the stream in errors.
pub fn lines<S, E>(body: S, what: String) -> impl Stream<Item = Result<Value, ServerError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let state = (Box::pin(body), Vec::<u8>::new(), false);
    futures::stream::unfold(state, move |(mut body, mut pending, mut done)| {
        let what = what.clone();
        async move {
            loop {
                if let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    match parse_line(&text) {
                        Ok(Line::Nothing) => continue,
                        Ok(Line::Result(value)) => return Some((Ok(value), (body, pending, done))),
                        Ok(Line::Error { status, message }) => {
                            let message = match status {
                                Some(s) => format!("HTTP {s}: {message}"),
                                None => message,
                            };
                            let err = ServerError::InStream { what, message };
                            return Some((Err(err), (body, pending, done)));
                        }
                        Err(detail) => {
                            let err = ServerError::Decode {
                                action: what,
                                detail,
                            };
                            return Some((Err(err), (body, pending, done)));
                        }
                    }
                }
                if done {
                    // A last line without its newline.
                    if pending.iter().any(|b| !b.is_ascii_whitespace()) {
                        pending.push(b'\n');
                        continue;
                    }
                    return None;
                }
                match body.next().await {
                    Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        done = true;
                        pending.clear();
                        let err = ServerError::InStream {
                            what: what.clone(),
                            message: format!("connection lost: {e}"),
                        };
                        return Some((Err(err), (body, pending, done)));
                    }
                    None => done = true,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_wire_forms_give_the_result() {
        let plain = parse_line(r#"{"result":{"type":"ADDED","object":{"metadata":{"name":"w"}}}}"#);
        let sse =
            parse_line(r#"data: {"result":{"type":"ADDED","object":{"metadata":{"name":"w"}}}}"#);
        let want = Line::Result(json!({"type":"ADDED","object":{"metadata":{"name":"w"}}}));
        assert_eq!(plain, Ok(want.clone()));
        assert_eq!(sse, Ok(want));
    }

    #[test]
    fn keep_alives_and_blank_lines_carry_nothing() {
        for line in ["", ":", ": ping", "\r", "event: message", "data: ", "id: 4"] {
            assert_eq!(parse_line(line), Ok(Line::Nothing), "{line:?}");
        }
    }

    #[test]
    fn an_error_inside_the_stream_keeps_its_status_and_message() {
        let line = r#"{"error":{"grpc_code":16,"http_code":401,"message":"token not valid","http_status":"Unauthorized"}}"#;
        assert_eq!(
            parse_line(line),
            Ok(Line::Error {
                status: Some(401),
                message: "token not valid".into()
            })
        );
    }

    #[test]
    fn a_broken_line_is_an_error_naming_its_start_not_a_panic() {
        let err = parse_line("data: {\"result\": {").unwrap_err();
        assert!(err.contains("{\\\"result\\\": {"), "{err}");
    }

    #[tokio::test]
    async fn messages_split_across_chunks_and_chunks_holding_several_are_read_whole() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(
                b"data: {\"result\":{\"n\":1}}\n\n: keep",
            )),
            Ok(Bytes::from_static(b"-alive\ndata: {\"resu")),
            Ok(Bytes::from_static(
                b"lt\":{\"n\":2}}\n{\"result\":{\"n\":3}}",
            )),
        ];
        let got: Vec<_> = lines(futures::stream::iter(chunks), "test".into())
            .collect()
            .await;
        let values: Vec<Value> = got.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(values, vec![json!({"n":1}), json!({"n":2}), json!({"n":3})]);
    }

    #[tokio::test]
    async fn a_connection_lost_mid_stream_is_an_error_then_the_end() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"{\"result\":{\"n\":1}}\n{\"resu")),
            Err(std::io::Error::other("reset by peer")),
        ];
        let got: Vec<_> = lines(futures::stream::iter(chunks), "workflow w".into())
            .collect()
            .await;
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        let err = got[1].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("workflow w") && err.contains("reset by peer"),
            "{err}"
        );
    }
}

//! The Argo Server as a way in for users without a kubeconfig: its HTTP API
//! (grpc-gateway JSON over HTTP/1.1, what the argo CLI uses with `ARGO_HTTP1=true`)
//! with a bearer token only.
//!
//! - [`ArgoServer`]: create, lint, get, list and stop workflows; the workflow-events,
//!   Kubernetes events and log streams.
//! - [`ServerFollower`]: the live [`kit_diagnose::Snapshot`]s of one workflow, for the same
//!   diagnosis as through the Kubernetes API.
//! - [`ServerError`]: every failure in words a user can act on (a refused token, a wrong
//!   address, a TLS mismatch, a missing base href); a token never appears in them.

mod client;
mod error;
pub mod follow;
pub mod stream;

pub use client::{ArgoServer, LogEntry, ServerTarget, WorkflowEvent, WorkflowList, bearer};
pub use error::{ServerError, TOKEN_HINT};
pub use follow::{Changes, ServerFollower, snapshot_once};

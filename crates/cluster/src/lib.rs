//! Everything that talks to the Kubernetes API about the cluster itself: the client built
//! from the configuration, the readiness checks of `doctor`, and (later) helper pods and
//! fetching results.

pub mod client;
pub mod doctor;
pub mod events_after;
pub mod fetch;
pub mod follow;

pub use client::{ClientError, KubeTarget, client};

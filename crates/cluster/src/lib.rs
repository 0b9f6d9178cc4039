//! Everything that talks to the Kubernetes API about the cluster itself: the client built
//! from the configuration, the readiness checks of `doctor` (with the two that read the
//! workspace: the claim its workflows share, and whether their images were pushed), and
//! the live follower.
//! Fetching results (helper pods, tar over exec) is `kit-fetch`'s.

pub mod client;
pub mod doctor;
pub mod errors;
pub mod events_after;
pub mod follow;

pub use client::{ClientError, KubeTarget, client};

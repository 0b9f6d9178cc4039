//! Benchmarks of the toolkit against the tools users run today (docker CLI, argo CLI,
//! Hera, kubectl), in the same run, on the same machine and the same local stack. Our
//! side is the `xtask` binary run as a subprocess, so what is measured is what a user
//! gets, process start included.
//!
//! Not part of the user's command line: `cargo bench-xtask images|follow|fetch|doctor`
//! (an alias in `.cargo/config.toml`) builds `xtask` and runs this crate's binary.
//! The harness is this library: [`process`] (timed subprocesses), [`sampler`] (memory
//! and CPU of a process), [`proxy`] (API requests counted at a `kubectl proxy`),
//! [`link`] (a slow link on loopback), [`stats`] (median, p95), [`report`] (the table), [`context`] (the stack, scratch
//! folders) and [`data`]; the benchmarks themselves are in [`benches`].

pub mod benches;
pub mod context;
pub mod data;
pub mod link;
pub mod process;
pub mod proxy;
pub mod report;
pub mod sampler;
pub mod stats;

//! The benchmarks, one per command measured against the tools users run today.

pub mod doctor;
pub mod fetch;
pub mod fetch_link;
pub mod fetch_many;
pub mod follow;
pub mod hera;
pub mod images;

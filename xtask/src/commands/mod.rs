//! One module per command.

pub mod config;
pub mod diagnose;
pub mod doctor;
pub mod fetch;
pub mod report;
pub mod run;
pub mod up;

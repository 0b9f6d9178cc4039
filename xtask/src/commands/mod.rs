//! One module per command.

pub mod config;
pub mod doctor;

//! Test harness shared by every pgb test binary: a real, throwaway PostgreSQL
//! cluster (initdb + postgres on a Unix socket in a temp folder, run as the
//! `postgres` user when the tests run as root), fixtures, content
//! comparisons, and a runner for the real tool binaries. Tests never mock
//! PostgreSQL; this crate is how they get the real thing cheaply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod compare;
pub mod fixtures;
pub mod servers;
pub mod tool;
pub mod wrappers;

pub use cluster::Cluster;
pub use tool::{bin, take_backup, Tool, ToolOutput};

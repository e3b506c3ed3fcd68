//! pgb-core holds everything the pgb tools share, so that each tool crate is
//! only its command line and the orchestration of its one job. Nothing in here
//! knows about a particular tool; the arrows point from the tools to this crate.

pub mod catalog;
pub mod conn;
pub mod crypto;
pub mod dump;
pub mod exit;
pub mod jsonl;
pub mod load;
pub mod lock;
pub mod log;
pub mod naming;
pub mod pargz;
pub mod pattern;
pub mod pg;
pub mod progress;
pub mod publish;
pub mod record;
pub mod remote;
pub mod remote_catalog;
pub mod retention;
pub mod stream;
pub mod trailer;
pub mod units;
pub mod verify;

pub use exit::{Error, ExitStatus, Result};

/// The version of pgb that wrote a manifest, recorded in every backup record.
pub const PGB_VERSION: &str = env!("CARGO_PKG_VERSION");

//! End-to-end tests live in `pipeline.rs`; they chain the real binaries
//! through real pipes, as users' shell lines and cron jobs do. This library
//! is empty: the crate exists only to hold those tests.

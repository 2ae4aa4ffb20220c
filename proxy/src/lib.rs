//! shadowdiff: serve v1, mirror to v2, compare, export drift.
//!
//! The request path, in the order a request meets it:
//! 1. [`server`] accepts (HTTP/1.1 keep-alive, h2c) and hands each request to [`forward::handle`];
//! 2. [`route`] picks the policy (first matching `[[routes]]` entry, else `default`);
//! 3. [`mirror::plan`] decides: safe method, sampled, breaker closed, an in-flight slot free;
//! 4. [`forward`] sends to v1 and streams the answer back through a [`capture::TeeBody`];
//! 5. [`mirror::MirrorJob`] (a background task) sends the copy to v2 and meets v1's capture;
//! 6. [`comparator`] (its own threads, bounded queue) runs `diff_engine::compare`;
//! 7. [`metrics`], [`stats`] and [`exemplars`] record the verdict; [`admin`] shows it.

pub mod access;
pub mod admin;
pub mod breaker;
pub mod capture;
pub mod cli;
pub mod comparator;
pub mod control;
pub mod demo;
pub mod exemplars;
pub mod fd_limit;
pub mod forward;
pub mod headers;
pub mod lane;
pub mod metrics;
pub mod mirror;
pub mod redact;
pub mod report;
pub mod route;
pub mod server;
pub mod shaping;
pub mod sink;
pub mod state;
pub mod stats;
pub mod summary;
pub mod tls;
pub mod upstream;
pub mod verdict;

/// The git commit this binary was built from (`unknown` outside a checkout).
pub const COMMIT: &str = env!("SHADOWDIFF_COMMIT");

pub use server::{start, Running};
pub use state::Shared;

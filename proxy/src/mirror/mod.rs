//! The mirror: decide whether a request goes to v2 ([`plan`], under the adaptive [`limit`]), then send the copy from a
//! background task ([`job`]) through the v2 leg ([`candidate`]). Every planned mirror ends as a
//! queued comparison or a counted skip.

pub mod candidate;
pub mod failure;
pub mod job;
pub mod limit;
pub mod plan;
pub mod thread;

pub use job::{start, CopyTo, Handoff};

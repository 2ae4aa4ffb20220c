//! Record and replay (issue 16).
//!
//! Recording is one more observer of a finished exchange, beside metrics and exemplars: a
//! sampled request's copies (the tee's, as for the mirror) and the mirror's verdict are handed
//! off the request path ([`tap`]), redacted ([`scrub`]) and written as JSON lines ([`format`])
//! to rotating zstd files by a thread of its own behind a bounded queue ([`writer`]); what
//! cannot be written is dropped and counted, never waited for.
//!
//! Replay reads those files ([`read`]) and sends each request to v2 through the mirror's own v2
//! leg (`mirror::candidate::CandidateLeg`), comparing under the same routes and rules as the
//! proxy, through the same comparison pool ([`replay`]). [`har`] converts to and from HAR 1.2.

pub mod exchange;
pub mod format;
pub mod har;
pub mod read;
pub mod replay;
pub mod scrub;
pub mod tap;
pub mod writer;

pub use tap::{start, Recording};
pub use writer::Recorder;

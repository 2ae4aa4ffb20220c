//! What crosses into the comparison pool: one mirrored exchange, both sides captured whole.

use std::sync::Arc;
use std::time::Duration;

use diff_engine::GrpcSchema;
use http::{HeaderMap, Method};
use tokio::sync::oneshot;

use diff_engine::Verdict;

use crate::observe::outcome::SkipReason;
use crate::observe::redact::Secrets;
use crate::route::RouteRuntime;
use crate::tee::CapturedBody;

/// One side of a pair, as captured.
pub struct Side {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: CapturedBody,
    pub elapsed: Duration,
}

/// One exchange to compare; its route says under which rules and where the verdict goes.
pub struct Job {
    pub route: Arc<RouteRuntime>,
    pub method: Method,
    pub path: String,
    pub primary: Side,
    pub candidate: Side,
    /// `[grpc] descriptor_set`, for a gRPC call: its messages are read by field name.
    pub grpc_schema: Option<Arc<GrpcSchema>>,
    /// The request's credentials, scrubbed from anything a mismatch record shows.
    pub secrets: Secrets,
    /// Someone else who wants this exchange's end (a recording of it), told once it is known.
    pub watcher: Option<Watcher>,
    /// v1's second answer to the same request (`[noise]`): compared with `primary` to learn
    /// what differs between v1 and itself.
    pub baseline: Option<Side>,
}

/// How a mirrored exchange ended, for an observer that is not the comparison's own fan-out:
/// the verdict with v2's side (moved, not copied: the comparison is done with it), or why it
/// was not compared.
pub enum Observed {
    /// Boxed: a oneshot's slot is as large as its largest variant.
    Compared(Box<Compared>),
    Skipped(SkipReason),
}

pub struct Compared {
    pub verdict: Verdict,
    pub candidate: Side,
}

/// Where [`Observed`] goes. Dropped unsent when no mirror ran, or its task was dropped.
pub type Watcher = oneshot::Sender<Observed>;

impl Job {
    /// Tell the watcher (if any) why this job was not compared.
    pub fn refused(mut self, reason: SkipReason) {
        if let Some(w) = self.watcher.take() {
            let _ = w.send(Observed::Skipped(reason));
        }
    }
}

//! The copies one request makes on its way to v1: a mirror to v2 and a recording, started
//! together (the recording learns the mirror's verdict) and fed from the same tees. Used by
//! `forward` (hyper's path) and by the relay (`relay/`), so both copy the same way.

use std::sync::Arc;
use std::time::Duration;

use http::{request, response};

use crate::mirror::{self, CopyTo, Handoff};
use crate::record::{self, Recording};
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::Capture;

/// What a request copies, if anything.
#[derive(Default)]
pub struct Copies {
    handoff: Option<Handoff>,
    recording: Option<Recording>,
}

impl Copies {
    /// Start the recording (if `recordable` and sampled) and then the mirror (if planned), so
    /// that a recording learns the mirror's verdict. `parts` is the request as v1 gets it.
    pub fn start(
        shared: &Arc<Shared>,
        snap: &Arc<Snapshot>,
        route: &Arc<RouteRuntime>,
        parts: &request::Parts,
        body_empty: bool,
        copy_to: CopyTo,
        recordable: bool,
    ) -> Self {
        let mut recording = recordable
            .then(|| record::start(shared, snap, route, parts, body_empty))
            .flatten();
        let watcher = recording.as_mut().and_then(Recording::take_watcher);
        let handoff = mirror::start(shared, snap, route, parts, body_empty, copy_to, watcher);
        Self { handoff, recording }
    }

    /// A mirror was started (its verdict, not the v1 path, logs the exchange).
    pub fn mirrored(&self) -> bool {
        self.handoff.is_some()
    }

    /// Nothing is copied.
    pub fn is_empty(&self) -> bool {
        self.handoff.is_none() && self.recording.is_none()
    }

    /// The tees for the request body: the mirror's and the recording's (once).
    pub fn request_captures(&mut self) -> (Option<Capture>, Option<Capture>) {
        (
            self.handoff
                .as_mut()
                .and_then(Handoff::take_request_capture),
            self.recording
                .as_mut()
                .and_then(Recording::take_request_capture),
        )
    }

    /// v1's response head to both; the tees for its body (`None` for a copy that needs none).
    pub fn primary_answered(
        self,
        shared: &Shared,
        snap: &Snapshot,
        parts: &response::Parts,
        elapsed: Duration,
    ) -> (Option<Capture>, Option<Capture>) {
        let cap = snap.config.limits.max_capture_bytes;
        let capture = self
            .handoff
            .and_then(|h| h.primary_answered(parts, elapsed, cap, &shared.pending));
        let record = self
            .recording
            .and_then(|r| r.primary_answered(parts, elapsed, &shared.pending));
        (capture, record)
    }
}

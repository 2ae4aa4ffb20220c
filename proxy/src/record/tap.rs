//! The request path's hand-off to the recording: [`start`] decides (one atomic load when the
//! route records nothing) and spawns a task that waits for the request body's copy, v1's head
//! and body copy, and the mirror's verdict if there is one, then queues the exchange for the
//! writer. As with the mirror, the client's exchange only ever sends copies; nothing waits for
//! the recording.

use std::sync::Arc;
use std::time::Duration;

use http::{request, response};
use tokio::sync::oneshot;

use crate::compare::{Observed, Side, Watcher};
use crate::mirror::job::PrimaryHead;
use crate::observe::outcome::RecordDropReason;
use crate::record::exchange::Exchange;
use crate::record::format::{now_ms, VerdictLine};
use crate::record::writer::Capturing;
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::{ByteBudget, Capture, CaptureEnd, CaptureResult};

/// The v1 path's end of a started recording.
pub struct Recording {
    request_capture: Option<Capture>,
    watcher: Option<Watcher>,
    primary: oneshot::Sender<PrimaryHead>,
    cap: usize,
}

impl Recording {
    /// The capture to put on the request body's tee (once).
    pub fn take_request_capture(&mut self) -> Option<Capture> {
        self.request_capture.take()
    }

    /// For `mirror::start`: how a mirror of this request ends (unsent when none starts).
    pub fn take_watcher(&mut self) -> Option<Watcher> {
        self.watcher.take()
    }

    /// Send v1's response head; the capture to put on its body's tee.
    pub fn primary_answered(
        self,
        parts: &response::Parts,
        elapsed: Duration,
        budget: &Arc<ByteBudget>,
    ) -> Option<Capture> {
        PrimaryHead::send(self.primary, parts, elapsed, self.cap, budget)
    }
}

/// Start recording this request if its route samples it and a writer runs.
pub fn start(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    route: &Arc<RouteRuntime>,
    parts: &request::Parts,
    body_empty: bool,
) -> Option<Recording> {
    if !route.record.sampled(&parts.headers) {
        return None;
    }
    let recorder = shared.recorder.as_ref()?;
    let cap = route.record.max_body_bytes;
    let (request_capture, request_body) = if body_empty {
        (None, None)
    } else {
        let declared = crate::net::headers::content_length(&parts.headers);
        let (capture, rx) = Capture::new(cap, &shared.pending, declared);
        (Some(capture), Some(rx))
    };
    let (watcher, verdict) = oneshot::channel();
    let (primary_tx, primary) = oneshot::channel();
    let task = Tap {
        capturing: recorder.capturing(),
        time_ms: now_ms(),
        route: route.clone(),
        method: parts.method.clone(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts.headers.clone(),
        request_body,
        primary,
        verdict,
        // v1's body may stream for as long as v1's timeout; the mirror's verdict follows
        // within v2's timeout, plus the comparison queue.
        wait: snap.primary.timeout + snap.candidate.timeout,
    };
    tokio::spawn(task.run());
    Some(Recording {
        request_capture,
        watcher: Some(watcher),
        primary: primary_tx,
        cap,
    })
}

/// Everything the recording task needs, detached from the client's request.
struct Tap {
    capturing: Capturing,
    time_ms: u64,
    route: Arc<RouteRuntime>,
    method: http::Method,
    uri: String,
    headers: http::HeaderMap,
    request_body: Option<oneshot::Receiver<CaptureResult>>,
    primary: oneshot::Receiver<PrimaryHead>,
    verdict: oneshot::Receiver<Observed>,
    wait: Duration,
}

impl Tap {
    async fn run(mut self) {
        let gathered = tokio::time::timeout(self.wait, self.gather()).await;
        let recorder = self.capturing.recorder();
        match gathered {
            Ok(Ok(exchange)) => recorder.submit(exchange),
            Ok(Err(reason)) => recorder.metrics.drop(reason),
            // v1's body never ended in time: there is no complete exchange to keep.
            Err(_) => recorder.metrics.drop(RecordDropReason::PrimaryFailed),
        }
    }

    async fn gather(&mut self) -> Result<Exchange, RecordDropReason> {
        let request_body = match self.request_body.take() {
            Some(rx) => Some(captured(rx.await)?),
            None => None,
        };
        let head = (&mut self.primary)
            .await
            .map_err(|_| RecordDropReason::PrimaryFailed)?;
        let primary = Side {
            status: head.status,
            headers: head.headers,
            elapsed: head.elapsed,
            body: captured(head.body.await)?,
        };
        let (verdict, candidate) = match (&mut self.verdict).await {
            Ok(Observed::Compared(c)) => (VerdictLine::from_engine(&c.verdict), Some(c.candidate)),
            Ok(Observed::Skipped(reason)) => (VerdictLine::skipped(reason.as_str()), None),
            // The watcher went unsent: no mirror started (or its task was dropped).
            Err(_) => (VerdictLine::not_mirrored(), None),
        };
        let policy = &self.route.record;
        let candidate = candidate.filter(|_| policy.include_candidate);
        if candidate
            .as_ref()
            .is_some_and(|c| c.body.len() > policy.max_body_bytes)
        {
            return Err(RecordDropReason::BodyTooLarge);
        }
        Ok(Exchange {
            time_ms: self.time_ms,
            route: self.route.name.clone(),
            method: self.method.clone(),
            uri: std::mem::take(&mut self.uri),
            request_headers: std::mem::take(&mut self.headers),
            request_body,
            primary,
            candidate,
            verdict,
            redact: self.route.redact.clone(),
        })
    }
}

fn drop_reason(end: CaptureEnd) -> RecordDropReason {
    match end {
        CaptureEnd::TooLarge => RecordDropReason::BodyTooLarge,
        CaptureEnd::Overloaded => RecordDropReason::Overloaded,
        CaptureEnd::Failed | CaptureEnd::Aborted => RecordDropReason::PrimaryFailed,
    }
}

fn captured(
    received: Result<CaptureResult, oneshot::error::RecvError>,
) -> Result<crate::tee::CapturedBody, RecordDropReason> {
    received
        .map_err(|_| RecordDropReason::PrimaryFailed)?
        .map_err(drop_reason)
}

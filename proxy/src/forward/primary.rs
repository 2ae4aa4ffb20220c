//! The serving leg — v1, or v2 for the users a canary assigns to it: the request as the backend
//! gets it, sending it (on the client connection's lane or the pool, once more on a new
//! connection when a reused one broke before answering), and what the client gets when the
//! backend gives no response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::request::Parts;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::{Either, Empty};
use hyper::body::Incoming;

use crate::forward::inbound::Inbound;
use crate::forward::reply::{error, ProxyBody};
use crate::net::idle::{Ended, IdleBody, Stalled, Which};
use prometheus::IntCounter;

use crate::observe::metrics::RouteMetrics;
use crate::observe::ratelimit::Every;
use crate::state::{PrimaryBody, PrimaryClient, Shared, Snapshot};
use crate::tee::TeeBody;
use crate::upstream::cap::{ConnectionCap, Overloaded};
use crate::upstream::lane::{ClientBody, Dial, Lane, LaneError};
use crate::upstream::retry::{closed_before_response, is_idempotent, resend};
use crate::upstream::Target;

pub type PrimaryRequest = Request<PrimaryBody>;

/// A v1 outage would write a line per request: one per period, with the count held back.
static UNREACHABLE: Every = Every::new(Duration::from_secs(10));
static FAILED: Every = Every::new(Duration::from_secs(10));

/// The backend that serves a request, as the send needs it.
pub struct Serving<'a> {
    pub target: &'a Target,
    pub client: &'a PrimaryClient,
    /// The client connection's own connection to this backend, and the backend's cap.
    pub lane: Option<(&'a Arc<Lane<PrimaryBody>>, &'a Arc<ConnectionCap>)>,
}

impl<'a> Serving<'a> {
    /// v1; on the client connection's lane when `on_lane`.
    pub fn v1(shared: &'a Shared, snap: &'a Snapshot, inbound: &'a Inbound, on_lane: bool) -> Self {
        Self {
            target: &snap.primary,
            client: &snap.primary_client,
            lane: on_lane.then_some((&inbound.lane, &shared.caps.primary)),
        }
    }

    /// v2, serving the users a canary assigns to it.
    pub fn v2(shared: &'a Shared, snap: &'a Snapshot, inbound: &'a Inbound, on_lane: bool) -> Self {
        let on_lane = on_lane && snap.candidate.uses_lanes();
        Self {
            target: &snap.candidate,
            client: &snap.candidate_serving_client,
            lane: on_lane.then_some((&inbound.serve_lane, &shared.caps.candidate)),
        }
    }
}

/// The backend's request: its URI, HTTP/1.1 on the wire (the pool picks h2 by ALPN where it
/// can), and a Host for HTTP/1.0 clients that sent none. `Err` when the target cannot be
/// forwarded.
pub fn request(
    to: &Serving<'_>,
    mut parts: Parts,
    body: TeeBody<IdleBody<Incoming>>,
) -> Result<PrimaryRequest, http::Error> {
    parts.uri = to.target.uri(parts.uri.path_and_query())?;
    parts.version = Version::HTTP_11;
    if to.lane.is_some() && !parts.headers.contains_key(header::HOST) {
        // An HTTP/1.0 client may send no Host; the backend then gets its own authority, as the
        // pooled client would send.
        if let Ok(host) = HeaderValue::from_str(to.target.authority().as_str()) {
            parts.headers.insert(header::HOST, host);
        }
    }
    Ok(Request::from_parts(parts, Either::Left(body)))
}

/// The bodiless copy of a request, sent to another backend instead (`pq`: the client's path and
/// query): a canary's v2 failed before answering.
pub fn retarget(
    mut again: PrimaryRequest,
    pq: Option<&http::uri::PathAndQuery>,
    to: &Serving<'_>,
) -> Result<PrimaryRequest, http::Error> {
    *again.uri_mut() = to.target.uri(pq)?;
    Ok(again)
}

/// Send to v1 within its timeout; v1's response head and how long it took. A bodiless
/// idempotent request whose connection broke before any response byte is sent once more on a
/// new connection (a keep-alive connection v1 closed just as the request was written): the
/// client sees v1's answer, not a 502.
/// How long v1 has to answer: `timeout` (v1's, or the call's own `grpc-timeout`), counted from
/// the last request byte sent when the request has a body still streaming (`after`).
pub struct Deadline {
    pub timeout: Duration,
    pub after: Option<Arc<Ended>>,
}

impl Deadline {
    async fn passed(&self) {
        if let Some(body) = &self.after {
            body.wait().await;
        }
        tokio::time::sleep(self.timeout).await;
    }
}

pub async fn send(
    to: &Serving<'_>,
    req: PrimaryRequest,
    deadline: &Deadline,
    retries: &IntCounter,
) -> Result<(Response<Incoming>, Duration), Failed> {
    let started = Instant::now();
    let mut replay =
        (is_idempotent(req.method()) && req.body().is_end_stream()).then(|| again(&req));
    let answered = {
        let attempts = async {
            match attempt(to, req).await {
                Err(e) if e.closed_before_response() => match replay.take() {
                    Some(req) => {
                        retries.inc();
                        // Boxed: the rare second try must not double every request's future.
                        Box::pin(attempt(to, req)).await
                    }
                    None => Err(e),
                },
                answered => answered,
            }
        };
        tokio::select! {
            answered = attempts => answered,
            () = deadline.passed() => Err(PrimaryError::Timeout),
        }
    };
    match answered {
        Ok(resp) => Ok((resp, started.elapsed())),
        Err(error) => Err(Failed {
            error,
            again: replay,
        }),
    }
}

/// No response from the backend: why, and the bodiless copy of the request when one was made
/// and not used (a canary's fallback to v1 sends it there).
pub struct Failed {
    pub error: PrimaryError,
    pub again: Option<PrimaryRequest>,
}

/// The same bodiless request, for a second attempt.
fn again(req: &PrimaryRequest) -> PrimaryRequest {
    resend(req, Either::Right(Empty::<Bytes>::new()))
}

/// One try: on the client connection's lane (under the backend's cap) or the pool.
async fn attempt(
    to: &Serving<'_>,
    req: PrimaryRequest,
) -> Result<Response<Incoming>, PrimaryError> {
    if let Some((lane, cap)) = to.lane {
        let dial = Dial {
            authority: to.target.authority(),
            connect_timeout: to.target.connect_timeout,
            cap,
        };
        lane.send(&dial, req).await.map_err(PrimaryError::Lane)
    } else {
        to.client.request(req).await.map_err(PrimaryError::Pooled)
    }
}

/// Why v1 gave no response, from either way of reaching it.
#[derive(Debug, thiserror::Error)]
pub enum PrimaryError {
    #[error(transparent)]
    Lane(LaneError),
    #[error(transparent)]
    Pooled(hyper_util::client::legacy::Error),
    #[error("timed out")]
    Timeout,
}

impl PrimaryError {
    /// v2 is to blame, for a canary's gate: it was not the proxy's cap, nor the client.
    pub fn backend_failed(&self) -> bool {
        !self.overloaded() && !client_stalled(self) && !self.client_body_failed()
    }

    /// The client's request body broke off or was malformed (hyper reports it as a user error
    /// caused by the inbound body; the relay says so itself).
    fn client_body_failed(&self) -> bool {
        matches!(
            self,
            PrimaryError::Lane(LaneError::ClientBody(ClientBody::Ended))
        ) || request_body_failed(self)
    }

    fn is_connect(&self) -> bool {
        match self {
            PrimaryError::Lane(e) => e.is_connect(),
            PrimaryError::Pooled(e) => e.is_connect(),
            PrimaryError::Timeout => false,
        }
    }

    /// The connection broke before v1 sent a byte of its answer.
    /// Every connection to v1 was in use past `queue_timeout`: v1 is not to blame, the cap is.
    fn overloaded(&self) -> bool {
        match self {
            PrimaryError::Lane(e) => matches!(e, LaneError::Overloaded(_)),
            PrimaryError::Pooled(e) => caused_by::<Overloaded>(e),
            PrimaryError::Timeout => false,
        }
    }

    fn closed_before_response(&self) -> bool {
        match self {
            PrimaryError::Lane(LaneError::Send(e)) => closed_before_response(e),
            PrimaryError::Lane(LaneError::Io {
                before_response, ..
            }) => *before_response,
            PrimaryError::Pooled(e) => !e.is_connect() && closed_before_response(e),
            PrimaryError::Lane(_) | PrimaryError::Timeout => false,
        }
    }

    /// What the client gets, counted under v1's error kinds when v1 served and is to blame
    /// (`v1`; a v2 that served is counted in `served_requests_total` instead).
    pub fn reply(&self, m: &RouteMetrics, v1: bool) -> Response<ProxyBody> {
        let count = |c: &IntCounter| {
            if v1 {
                c.inc();
            }
        };
        if let PrimaryError::Timeout = self {
            count(&m.primary_timeout);
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                "shadowdiff: primary timed out\n",
            );
        }
        if self.overloaded() {
            count(&m.primary_overloaded);
            tracing::debug!(error = %self, "primary connections exhausted");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "shadowdiff: every connection to the primary is in use\n",
            );
        }
        if self.is_connect() {
            count(&m.primary_connect);
            if let Some(held_back) = UNREACHABLE.ready() {
                tracing::warn!(error = %self, held_back, "primary unreachable");
            }
            return error(StatusCode::BAD_GATEWAY, "shadowdiff: primary unreachable\n");
        }
        // The client stopped sending its body for client_body_timeout: 408, as nginx answers,
        // and v1's half-sent request is dropped with this exchange.
        if client_stalled(self) {
            m.client_body_timeout.inc();
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "shadowdiff: the request body stalled\n",
            );
        }
        // The client's request body broke off (it went away mid-upload, or sent a malformed
        // chunk): v1 did nothing wrong, so this is not a primary error — counting it as one
        // made every impatient client look like a v1 outage. Its mirror is skipped (the body
        // capture failed) as `primary_failed`.
        if self.client_body_failed() {
            m.client_body_aborted.inc();
            tracing::debug!(error = %self, "client request body failed");
            return error(
                StatusCode::BAD_REQUEST,
                "shadowdiff: request body ended early or was malformed\n",
            );
        }
        count(&m.primary_other);
        if let Some(held_back) = FAILED.ready() {
            tracing::warn!(error = %self, held_back, "primary failed");
        }
        error(
            StatusCode::BAD_GATEWAY,
            "shadowdiff: primary closed the connection or sent an invalid response\n",
        )
    }
}

/// Did sending to v1 fail because the client's request body failed? hyper reports a failing
/// outgoing body as a user error caused by that body's error — here the inbound `hyper::Error`
/// — somewhere below `e` (a transparent `PrimaryError` starts at its inner error's source).
fn request_body_failed(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        let user = s.downcast_ref::<hyper::Error>().filter(|h| h.is_user());
        if user
            .and_then(std::error::Error::source)
            .is_some_and(|c| c.is::<hyper::Error>())
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Did the client's request body stall past `client_body_timeout`?
fn client_stalled(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<Stalled>()
            .is_some_and(|s| s.which == Which::ClientBody)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Is there an `E` somewhere in `e`'s chain of causes?
fn caused_by<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<E>() {
            return true;
        }
        cause = c.source();
    }
    false
}

//! The v2 leg: send one request to v2 and read its answer whole, within the candidate timeout,
//! the capture cap and the byte budget, and tell the breaker how v2 did.
//!
//! It needs no client connection — a client connection's v2 lane is used when one is offered —
//! so anything that has a request for v2 can call it: the mirror task, and a replay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::response::Parts;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::compare::Side;
use crate::mirror::failure::Failure;
use crate::net::headers::{content_length, strip_hop_by_hop};
use crate::observe::metrics::RouteMetrics;
use crate::observe::outcome::SkipReason;
use crate::state::{CandidateClient, Shared, Snapshot};
use crate::tee::{read_capped, ByteBudget, CapturedBody, ReadEnd};
use prometheus::{Histogram, IntCounter};

use crate::upstream::breaker::Breaker;
use crate::upstream::cap::ConnectionCap;
use crate::upstream::plain;
use crate::upstream::raw::{Keeper, Lease, RawConn};
use crate::upstream::retry::{is_idempotent, resend};
use crate::upstream::Target;

/// A client connection's own plain connection to v2 (see `upstream/raw.rs`).
pub type CandidateLane = Keeper;

/// Everything a send to v2 needs, borrowed.
pub struct CandidateLeg<'a> {
    pub target: &'a Target,
    /// The whole exchange's deadline: `[candidate] timeout`, or the call's `grpc-timeout`.
    pub timeout: Duration,
    pub client: &'a CandidateClient,
    /// `[candidate] max_connections`, for connections a lane opens.
    pub cap: &'a Arc<ConnectionCap>,
    pub max_capture_bytes: usize,
    pub budget: &'a Arc<ByteBudget>,
    /// Told how the backend did; `None` for v1 as the mirrored backend (reverse shadow), which
    /// the v2 breaker must not judge.
    pub breaker: Option<&'a Breaker>,
    /// `breaker.trip_on_5xx`: a 5xx answer counts as a failure for the breaker.
    pub trip_on_5xx: bool,
    pub metrics: &'a RouteMetrics,
    /// Time to response headers of this backend (`upstream_duration_seconds{upstream}`);
    /// `None` for a second v1 answer (`[noise]`), which is no leg of the exchange.
    pub duration: Option<&'a Histogram>,
    /// Second tries on a new connection of this backend.
    pub retries: Option<&'a IntCounter>,
    /// Count a failure in `candidate_errors_total` (not for a second v1 answer).
    pub count_errors: bool,
}

impl<'a> CandidateLeg<'a> {
    pub fn new(shared: &'a Shared, snap: &'a Snapshot, metrics: &'a RouteMetrics) -> Self {
        Self {
            target: &snap.candidate,
            timeout: snap.candidate.timeout,
            client: &snap.candidate_client,
            cap: &shared.caps.candidate,
            max_capture_bytes: snap.config.limits.max_capture_bytes,
            budget: &shared.pending,
            breaker: Some(&shared.breaker),
            trip_on_5xx: snap.config.breaker.trip_on_5xx,
            metrics,
            duration: Some(&metrics.candidate_duration),
            retries: Some(&metrics.candidate_retries),
            count_errors: true,
        }
    }

    /// A second v1 answer for learning noise (`[noise]`): v1's cap, no breaker, no series of
    /// its own but `noise_requests_total`.
    pub fn baseline(shared: &'a Shared, snap: &'a Snapshot, metrics: &'a RouteMetrics) -> Self {
        Self {
            target: &snap.noise.target,
            timeout: snap.primary.timeout,
            client: &snap.noise.client,
            cap: &shared.caps.primary,
            breaker: None,
            duration: None,
            retries: None,
            count_errors: false,
            ..Self::new(shared, snap, metrics)
        }
    }

    /// v1 as the mirrored backend, while v2 serves (reverse shadow): v1's pool and cap, its own
    /// series, and no breaker.
    pub fn reverse(shared: &'a Shared, snap: &'a Snapshot, metrics: &'a RouteMetrics) -> Self {
        Self {
            target: &snap.primary,
            timeout: snap.primary.timeout,
            client: &snap.primary_mirror_client,
            cap: &shared.caps.primary,
            breaker: None,
            duration: Some(&metrics.primary_duration),
            retries: Some(&metrics.primary_retries),
            ..Self::new(shared, snap, metrics)
        }
    }

    /// v2's answer as one side of a pair, or why there is none (v2's failure already counted).
    pub async fn send(
        &self,
        req: Request<Bytes>,
        lane: Option<&Arc<CandidateLane>>,
    ) -> Result<Side, SkipReason> {
        let answered = tokio::time::timeout(self.timeout, self.exchange(req, lane))
            .await
            .unwrap_or(Err(Failure::Timeout));
        self.judge(answered)
    }

    /// Send on the client connection's own plain connection when it is free, else on the pool,
    /// and read the body within the caps. A stale connection is no fault of v2's: an
    /// idempotent copy goes once more on a new one.
    async fn exchange(
        &self,
        req: Request<Bytes>,
        lane: Option<&Arc<CandidateLane>>,
    ) -> Result<(Parts, CapturedBody, Duration), Failure> {
        let started = Instant::now();
        let lease = lane
            .filter(|_| self.target.uses_lanes())
            .and_then(|lane| lane.lease(self.target.authority()));
        let (parts, body, head_at) = match lease {
            Some(lease) => self.plain(lease, req).await?,
            None => self.pooled(req).await?,
        };
        let elapsed = head_at.saturating_duration_since(started);
        if let Some(d) = self.duration {
            d.observe(elapsed.as_secs_f64());
        }
        Ok((parts, body, elapsed))
    }

    /// On the leased plain connection (`upstream/plain.rs`), or a new one under v2's cap.
    async fn plain(
        &self,
        mut lease: Lease,
        req: Request<Bytes>,
    ) -> Result<(Parts, CapturedBody, Instant), Failure> {
        let mut again = is_idempotent(req.method());
        loop {
            let mut conn = match lease.conn.take() {
                Some(conn) => conn,
                None => RawConn::connect(
                    self.target.authority(),
                    self.target.connect_timeout,
                    self.cap,
                )
                .await
                .map_err(Failure::from_lane)?,
            };
            let answered = plain::exchange(&mut conn, &req, self.max_capture_bytes, self.budget)
                .await
                .map_err(Failure::from_plain);
            match answered {
                Ok(answer) => {
                    if answer.reusable {
                        lease.finish(conn, self.cap);
                    }
                    return Ok((answer.parts, answer.body, answer.head_at));
                }
                Err(f) if f.closed_before_response() && std::mem::take(&mut again) => {
                    self.count_retry();
                }
                Err(f) => return Err(f),
            }
        }
    }

    /// On the pooled client (h2, TLS, or the lane in use by another mirror).
    async fn pooled(&self, req: Request<Bytes>) -> Result<(Parts, CapturedBody, Instant), Failure> {
        let again = is_idempotent(req.method()).then(|| resend(&req, req.body().clone()));
        let resp = match self.attempt(req).await {
            Err(f) if f.closed_before_response() && again.is_some() => {
                self.count_retry();
                match again {
                    Some(req) => self.attempt(req).await?,
                    None => return Err(f),
                }
            }
            answered => answered?,
        };
        let head_at = Instant::now();
        let (parts, body) = resp.into_parts();
        // A declared length is checked and reserved before a byte is read: reading megabytes only
        // to drop them costs the I/O threads that serve v1, and memory the budget never saw.
        let declared = content_length(&parts.headers);
        let body = read_capped(body, self.max_capture_bytes, self.budget, declared)
            .await
            .map_err(|e| match e {
                ReadEnd::TooLarge => Failure::TooLarge,
                ReadEnd::Overloaded => Failure::Overloaded,
                ReadEnd::Body(e) => Failure::Body(Box::new(e)),
            })?;
        Ok((parts, body, head_at))
    }

    fn count_retry(&self) {
        if let Some(r) = self.retries {
            r.inc();
        }
    }

    async fn attempt(&self, req: Request<Bytes>) -> Result<Response<Incoming>, Failure> {
        let (mut parts, body) = req.into_parts();
        let pq = parts.uri.path_and_query().cloned();
        if let Ok(uri) = self.target.pooled_uri(pq.as_ref(), &mut parts.headers) {
            parts.uri = uri;
        }
        let req = Request::from_parts(parts, Full::new(body));
        self.client.request(req).await.map_err(Failure::from_pool)
    }

    /// Count the exchange, tell the breaker, and turn it into a side or a skip.
    fn judge(
        &self,
        answered: Result<(Parts, CapturedBody, Duration), Failure>,
    ) -> Result<Side, SkipReason> {
        let breaker = Judge(self.breaker);
        match answered {
            Ok((parts, body, elapsed)) => {
                let status = parts.status.as_u16();
                if status >= 500 && self.trip_on_5xx {
                    breaker.failure();
                } else {
                    breaker.success();
                }
                let mut headers = parts.headers;
                strip_hop_by_hop(&mut headers);
                Ok(Side {
                    status,
                    headers,
                    body,
                    elapsed,
                })
            }
            // v2 answered: healthy as far as the breaker is concerned.
            Err(Failure::TooLarge) => {
                breaker.success();
                Err(SkipReason::BodyTooLarge)
            }
            Err(Failure::Overloaded) => {
                breaker.success();
                Err(SkipReason::Overloaded)
            }
            // v2 was never asked: nothing to tell the breaker (a probe's turn goes back).
            Err(Failure::Capped) => Err(SkipReason::Overloaded),
            Err(f) => {
                if self.count_errors {
                    self.metrics.candidate_error(f.kind());
                }
                breaker.failure();
                tracing::debug!(error = %f, "candidate failed");
                Err(SkipReason::CandidateFailed)
            }
        }
    }
}

/// The breaker, when this leg has one.
struct Judge<'a>(Option<&'a Breaker>);

impl Judge<'_> {
    fn success(&self) {
        if let Some(b) = self.0 {
            b.success();
        }
    }

    fn failure(&self) {
        if let Some(b) = self.0 {
            b.failure();
        }
    }
}

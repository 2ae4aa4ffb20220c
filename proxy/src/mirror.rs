//! The mirror: decide whether a request goes to v2, then send it from a background task that the
//! client's response never waits for. Every planned mirror ends as a queued comparison or a
//! counted skip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request};
use http_body_util::Full;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::breaker::Admit;
use crate::capture::{read_capped, CaptureEnd, CaptureResult, ReadEnd};
use crate::comparator::{Job, Side};
use crate::lane::{Lane, LaneError};
use crate::metrics::GaugeHold;
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::verdict::{CandidateErrorKind, SkipReason};

/// v1's response head, sent to the mirror task once v1 answers; its body capture follows.
pub struct PrimaryHead {
    pub status: u16,
    pub headers: HeaderMap,
    pub elapsed: Duration,
    pub body: oneshot::Receiver<CaptureResult>,
}

/// A request that passed every gate: sampled, allowed, breaker closed, a slot free. Holding it
/// holds the in-flight slot.
pub struct Planned {
    _permit: OwnedSemaphorePermit,
    _route_permit: Option<OwnedSemaphorePermit>,
}

pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Should this request be mirrored? Counts the reason when a wanted mirror is refused.
pub fn plan(
    shared: &Shared,
    snap: &Snapshot,
    route: &RouteRuntime,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Planned> {
    if route.percent() == 0.0 {
        return None;
    }
    if !is_safe(method) && !route.allow_unsafe_methods {
        route.metrics.skip(SkipReason::UnsafeMethod);
        return None;
    }
    if !route.sampled(headers) {
        return None;
    }
    if shared.breaker.admit() == Admit::No {
        route.metrics.skip(SkipReason::BreakerOpen);
        return None;
    }
    // The route's own cap first, so one slow route cannot take every global slot.
    let route_permit = match route
        .in_flight
        .clone()
        .map(|s| s.try_acquire_owned())
        .transpose()
    {
        Ok(p) => p,
        Err(_) => {
            route.metrics.skip(SkipReason::Overloaded);
            return None;
        }
    };
    match snap.in_flight.clone().try_acquire_owned() {
        Ok(permit) => Some(Planned {
            _permit: permit,
            _route_permit: route_permit,
        }),
        Err(_) => {
            route.metrics.skip(SkipReason::Overloaded);
            None
        }
    }
}

/// Everything the mirror task needs, detached from the client's request.
pub struct MirrorJob {
    pub planned: Planned,
    pub shared: Arc<Shared>,
    pub snap: Arc<Snapshot>,
    pub route: Arc<RouteRuntime>,
    pub method: Method,
    pub path_and_query: Option<PathAndQuery>,
    pub headers: HeaderMap,
    /// `None` when the request had no body.
    pub request_body: Option<oneshot::Receiver<CaptureResult>>,
    pub primary: oneshot::Receiver<PrimaryHead>,
    /// The client connection's v2 lane (HTTP/1.x clients), see `lane.rs`.
    pub lane: Option<Arc<Lane<Full<Bytes>>>>,
}

/// Counts `shutdown` for a mirror whose task was dropped before it ended.
struct Unfinished<'a>(Option<&'a crate::metrics::RouteMetrics>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        // A panic unwinding through the task is a bug, not a shutdown.
        if let Some(m) = self.0.filter(|_| !std::thread::panicking()) {
            m.skip(SkipReason::Shutdown);
        }
    }
}

impl MirrorJob {
    pub async fn run(mut self) {
        let _in_flight = GaugeHold::new(&self.shared.metrics.mirrors_in_flight);
        // Armed until the exchange has ended as an outcome. Only the runtime dropping this task
        // (the process exiting past the shutdown grace) disarms it otherwise; that mirror must
        // still end as exactly one outcome, not vanish.
        let route = self.route.clone();
        let mut unfinished = Unfinished(Some(&route.metrics));
        if let Err(reason) = self.exchange().await {
            self.route.metrics.skip(reason);
            if self.route.access_log {
                let path = self.path_and_query.as_ref().map_or("/", |p| p.path());
                crate::access::log(&crate::access::Line {
                    route: &self.route.name,
                    method: &self.method,
                    path,
                    status: None,
                    primary: None,
                    candidate_status: None,
                    candidate: None,
                    verdict: &format!("skipped:{}", reason.as_str()),
                });
            }
        }
        unfinished.0 = None;
    }

    async fn exchange(&mut self) -> Result<(), SkipReason> {
        let body = self.request_body().await?;
        let request = self.candidate_request(body)?;
        self.route.metrics.mirrored.inc();
        let candidate = self.send(request).await;
        let primary = self.primary_side().await;
        let m = &self.route.metrics;
        m.status_pair(
            primary.as_ref().ok().map(|p| p.status),
            candidate.as_ref().ok().map(|c| c.status),
        );
        let (primary, candidate) = (primary?, candidate?);
        m.latency_delta
            .observe(candidate.elapsed.as_secs_f64() - primary.elapsed.as_secs_f64());
        let path = self
            .path_and_query
            .as_ref()
            .map_or("/", |p| p.path())
            .to_string();
        let job = Job {
            route: self.route.clone(),
            method: self.method.clone(),
            path,
            primary,
            candidate,
        };
        self.shared.compare.submit(job)
    }

    async fn request_body(&mut self) -> Result<Bytes, SkipReason> {
        let Some(rx) = self.request_body.take() else {
            return Ok(Bytes::new());
        };
        // The body streams to v1 first; give it as long as v1 gets.
        let waited = tokio::time::timeout(self.snap.primary.timeout, rx).await;
        match waited {
            Ok(Ok(Ok(body))) => Ok(body.contiguous()),
            Ok(Ok(Err(end))) => Err(capture_skip(end)),
            Ok(Err(_)) => Err(SkipReason::PrimaryFailed),
            Err(_) => Err(SkipReason::Timeout),
        }
    }

    /// Moves the request headers into v2's request: they are needed only once.
    fn candidate_request(&mut self, body: Bytes) -> Result<Request<Full<Bytes>>, SkipReason> {
        let pq = self.path_and_query.as_ref();
        let headers = std::mem::take(&mut self.headers);
        self.snap
            .shaping
            .request(&self.snap.candidate, &self.method, pq, headers, body)
            .map_err(|_| SkipReason::CandidateFailed)
    }

    /// Send to v2 and read its body, all within the candidate timeout.
    async fn send(&self, req: Request<Full<Bytes>>) -> Result<Side, SkipReason> {
        let started = Instant::now();
        let cap = self.snap.config.limits.max_capture_bytes;
        let timeout = self.snap.candidate.timeout;
        let result = tokio::time::timeout(timeout, async {
            // This client connection's v2 lane when it is free, else the pool.
            let mut lease = self
                .lane
                .as_ref()
                .filter(|_| self.snap.candidate.is_plain_http())
                .and_then(|lane| lane.lease(self.snap.candidate.authority()));
            let resp = match lease.as_mut() {
                Some(lease) => lease
                    .send(self.snap.candidate.connect_timeout, req)
                    .await
                    .map_err(Failure::Lane)?,
                None => self
                    .snap
                    .candidate_client
                    .request(req)
                    .await
                    .map_err(|e| Failure::Request(Box::new(e)))?,
            };
            self.route
                .metrics
                .candidate_duration
                .observe(started.elapsed().as_secs_f64());
            let elapsed = started.elapsed();
            let (parts, body) = resp.into_parts();
            // A declared length over the cap is skipped without reading a byte of it: reading
            // megabytes only to drop them costs the I/O threads that serve v1.
            if content_length(&parts.headers).is_some_and(|n| n > cap as u64) {
                return Err(Failure::TooLarge);
            }
            let body = read_capped(body, cap, &self.shared.pending)
                .await
                .map_err(|e| match e {
                    ReadEnd::TooLarge => Failure::TooLarge,
                    ReadEnd::Overloaded => Failure::Overloaded,
                    ReadEnd::Body(e) => Failure::Body(Box::new(e)),
                })?;
            if let Some(lease) = lease {
                lease.finish();
            }
            Ok((parts, body, elapsed))
        })
        .await
        .unwrap_or(Err(Failure::Timeout));
        let breaker = &self.shared.breaker;
        match result {
            Ok((parts, body, elapsed)) => {
                let status = parts.status.as_u16();
                if status >= 500 {
                    self.route
                        .metrics
                        .candidate_error(CandidateErrorKind::Status5xx);
                    if self.snap.config.breaker.trip_on_5xx {
                        breaker.failure();
                    } else {
                        breaker.success();
                    }
                } else {
                    breaker.success();
                }
                let mut headers = parts.headers;
                crate::headers::strip_hop_by_hop(&mut headers);
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
            Err(f) => {
                self.route.metrics.candidate_error(f.kind());
                breaker.failure();
                tracing::debug!(route = %self.route.name, error = %f, "candidate failed");
                Err(SkipReason::CandidateFailed)
            }
        }
    }

    async fn primary_side(&mut self) -> Result<Side, SkipReason> {
        // v1's response streams to the client at the client's pace; wait no longer than v1's own
        // timeout for it to end.
        let wait = self.snap.primary.timeout;
        let waited = tokio::time::timeout(wait, async {
            let head = (&mut self.primary)
                .await
                .map_err(|_| SkipReason::PrimaryFailed)?;
            let body = head
                .body
                .await
                .map_err(|_| SkipReason::PrimaryFailed)?
                .map_err(capture_skip)?;
            Ok(Side {
                status: head.status,
                headers: head.headers,
                body,
                elapsed: head.elapsed,
            })
        })
        .await;
        waited.unwrap_or(Err(SkipReason::Timeout))
    }
}

fn capture_skip(end: CaptureEnd) -> SkipReason {
    match end {
        CaptureEnd::TooLarge => SkipReason::BodyTooLarge,
        CaptureEnd::Overloaded => SkipReason::Overloaded,
        CaptureEnd::Failed | CaptureEnd::Aborted => SkipReason::PrimaryFailed,
    }
}

/// How an exchange with v2 failed, before it is reduced to a label.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("request: {0}")]
    Request(Box<hyper_util::client::legacy::Error>),
    #[error("request: {0}")]
    Lane(LaneError),
    #[error("body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    #[error("timed out")]
    Timeout,
    #[error("body over the capture cap")]
    TooLarge,
    #[error("pending-bytes budget exhausted")]
    Overloaded,
}

impl Failure {
    fn kind(&self) -> CandidateErrorKind {
        match self {
            Failure::Timeout => CandidateErrorKind::Timeout,
            Failure::Request(e) if e.is_connect() => CandidateErrorKind::Connect,
            Failure::Request(e) => hyper_kind(std::error::Error::source(e.as_ref())),
            Failure::Lane(e) if e.is_connect() => CandidateErrorKind::Connect,
            Failure::Lane(e) => hyper_kind(std::error::Error::source(e)),
            Failure::Body(e) => hyper_kind(Some(e.as_ref())),
            // Counted as skips, not errors; never reached through `kind`.
            Failure::TooLarge | Failure::Overloaded => CandidateErrorKind::Protocol,
        }
    }
}

/// Reset when the connection broke, protocol when v2 sent something that is not HTTP.
fn hyper_kind(source: Option<&(dyn std::error::Error + 'static)>) -> CandidateErrorKind {
    match source.and_then(|e| e.downcast_ref::<hyper::Error>()) {
        Some(h) if h.is_parse() || h.is_parse_status() || h.is_user() => {
            CandidateErrorKind::Protocol
        }
        _ => CandidateErrorKind::Reset,
    }
}

/// The `Content-Length` v2 declared, if it declared one that parses.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

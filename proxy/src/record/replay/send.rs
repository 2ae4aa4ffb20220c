//! One recorded request, replayed: routed and gated as the proxy routes and gates a mirror,
//! sent through the mirror's v2 leg, and the pair queued on the comparison pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

use crate::compare::{Job, Side};
use crate::mirror::candidate::{CandidateLane, CandidateLeg};
use crate::mirror::plan::is_safe;
use crate::observe::outcome::{MirrorOutcome, SkipReason};
use crate::route::RouteRuntime;
use crate::state::{CandidateClient, Shared, Snapshot};
use crate::tee::CapturedBody;
use crate::upstream::{self, Target};

use super::recorded::Recorded;

/// One worker's own connections to v2 and (with `--primary`) v1: as a client connection's lanes
/// in the proxy, no pool checkout per request.
pub struct Lanes {
    candidate: Arc<CandidateLane>,
    primary: Arc<CandidateLane>,
}

impl Lanes {
    pub fn new(shared: &Shared) -> Self {
        Self {
            candidate: CandidateLane::new(&shared.shelves.mirror),
            primary: CandidateLane::new(&shared.shelves.raw),
        }
    }
}

/// The legs of a replay: v2 always, v1 live with `--primary`.
#[derive(Clone)]
pub struct Legs {
    pub shared: Arc<Shared>,
    snap: Arc<Snapshot>,
    primary: Option<Arc<(Target, CandidateClient)>>,
    /// `--header`s, set on every request to either side.
    headers: Arc<[(HeaderName, HeaderValue)]>,
    pub refused: Arc<Refused>,
}

/// Requests a side refused (401 or 403) that v1 answered otherwise when recorded: the mark of a
/// missing credential, since recorded ones are redacted (`--header` gives one).
#[derive(Debug, Default)]
pub struct Refused {
    primary: AtomicU64,
    candidate: AtomicU64,
}

impl Refused {
    /// One answered pair: v2's status, a live v1's, and the status v1 was recorded with.
    fn count(&self, candidate: u16, primary: Option<u16>, recorded: u16) {
        let refusal = |s: u16| matches!(s, 401 | 403);
        if refusal(recorded) {
            return;
        }
        if refusal(candidate) {
            self.candidate.fetch_add(1, Ordering::Relaxed);
        }
        if primary.is_some_and(refusal) {
            self.primary.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (by v2, by v1) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.candidate.load(Ordering::Relaxed),
            self.primary.load(Ordering::Relaxed),
        )
    }
}

impl Legs {
    pub fn new(
        shared: &Arc<Shared>,
        live_primary: bool,
        headers: &[(HeaderName, HeaderValue)],
    ) -> anyhow::Result<Self> {
        let snap = shared.snapshot.load_full();
        let primary = if live_primary {
            let up = &snap.config.primary;
            let client = upstream::client(up, &shared.caps.primary, None)?;
            Some(Arc::new((Target::new(up)?, client)))
        } else {
            None
        };
        Ok(Self {
            shared: shared.clone(),
            snap,
            primary,
            headers: headers.into(),
            refused: Arc::default(),
        })
    }

    /// A TCP connection to each live upstream within its connect timeout: an unreachable v2
    /// is one clear error before the run, not thousands of counted failures after it.
    pub async fn reachable(&self) -> anyhow::Result<()> {
        let mut targets = vec![("v2 (--candidate)", &self.snap.candidate)];
        if let Some(p) = &self.primary {
            targets.push(("v1 (--primary)", &p.0));
        }
        for (what, t) in targets {
            let authority = t.authority();
            let port = authority
                .port_u16()
                .unwrap_or(if t.is_tls() { 443 } else { 80 });
            let addr = format!("{}:{port}", authority.host());
            tokio::time::timeout(t.connect_timeout, tokio::net::TcpStream::connect(&addr))
                .await
                .map_err(|_| anyhow::anyhow!("timed out after {:?}", t.connect_timeout))
                .and_then(|r| r.map_err(anyhow::Error::from))
                .with_context(|| format!("{what} at {addr} is unreachable"))?;
        }
        Ok(())
    }

    /// Replay one exchange to its end as a recorded comparison or a counted skip.
    pub async fn replay(&self, exchange: Recorded, lanes: &Lanes) {
        let route = self
            .snap
            .route_for(&exchange.method, exchange.pq.path())
            .clone();
        route.metrics.requests.inc();
        // As in the proxy: only safe methods, unless the route allows others.
        if !is_safe(&exchange.method) && !route.allow_unsafe_methods {
            route.metrics.skip(SkipReason::UnsafeMethod);
            return;
        }
        if let Err(reason) = self.exchange(&route, exchange, lanes).await {
            route.metrics.skip(reason);
        }
    }

    /// v1's second request, with its slot, when v1 is live and this request is in
    /// `noise.percent`: the request as v1 gets it, with the mirror mark and the `--header`s.
    fn baseline_request(
        &self,
        route: &RouteRuntime,
        method: &Method,
        pq: &PathAndQuery,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<(tokio::sync::OwnedSemaphorePermit, Request<Bytes>)> {
        self.primary.as_ref()?;
        let slot = crate::mirror::job::baseline_slot(&self.snap, route, method)?;
        let target = &self.snap.noise.target;
        let mut req = self
            .snap
            .shaping
            .reverse_request(target, method, Some(pq), headers.clone(), body.clone())
            .ok()?;
        // The live v1 request's Host (`v1_request`), not the recorded one: the two v1 answers
        // must differ only where v1 differs from itself.
        let host = HeaderValue::from_str(target.authority().as_str()).ok()?;
        req.headers_mut().insert(HOST, host);
        self.set_headers(req.headers_mut());
        route.metrics.noise_requests.inc();
        Some((slot, req))
    }

    /// The `--header`s, over whatever the request carries.
    fn set_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in self.headers.iter() {
            headers.insert(name.clone(), value.clone());
        }
    }

    async fn exchange(
        &self,
        route: &Arc<RouteRuntime>,
        exchange: Recorded,
        lanes: &Lanes,
    ) -> Result<(), SkipReason> {
        let Recorded {
            method,
            pq,
            headers,
            body,
            primary: recorded,
            ..
        } = exchange;
        let recorded_status = recorded.status;
        // v1's copy of the request only when v1 is live (a body clone is a reference count).
        let for_v1 = self
            .primary
            .as_ref()
            .map(|_| (headers.clone(), body.clone()));
        // With v1 live, a second v1 answer for `[noise] percent` of the safe requests, as the
        // proxy asks for one: what v1 differs from itself in is learned, and proposed as rules.
        // (The recorded answer is no baseline: it also differs from today's v1 wherever the data
        // changed since, and those places would be called noise.)
        let baseline = self.baseline_request(route, &method, &pq, &headers, &body);
        let mut v2 = self
            .snap
            .shaping
            .request(&self.snap.candidate, &method, Some(&pq), headers, body)
            .map_err(|_| SkipReason::CandidateFailed)?;
        self.set_headers(v2.headers_mut());
        route.metrics.mirrored.inc();
        let leg = CandidateLeg::new(&self.shared, &self.snap, &route.metrics);
        let mut baseline_side = None;
        let (primary, candidate) = match (&self.primary, for_v1) {
            (Some(p), Some((headers, body))) => {
                let mut v1 = v1_request(&p.0, &method, &pq, headers, body).map_err(|_| {
                    route.metrics.outcome(MirrorOutcome::Skipped);
                    SkipReason::PrimaryFailed
                })?;
                self.set_headers(v1.headers_mut());
                let v1_leg = CandidateLeg {
                    target: &p.0,
                    client: &p.1,
                    ..CandidateLeg::new(&self.shared, &self.snap, &route.metrics)
                };
                let again = async {
                    let (_slot, req) = baseline?;
                    let leg = CandidateLeg::baseline(&self.shared, &self.snap, &route.metrics);
                    leg.send(req, None).await.ok()
                };
                let (a, b, again) = tokio::join!(
                    v1_leg.send(v1, Some(&lanes.primary)),
                    leg.send(v2, Some(&lanes.candidate)),
                    again
                );
                baseline_side = again;
                (a.map_err(|_| SkipReason::PrimaryFailed), b)
            }
            _ => (
                Ok(Side {
                    status: recorded.status,
                    headers: recorded.headers,
                    body: CapturedBody::detached(recorded.body, &self.shared.pending),
                    elapsed: recorded.latency,
                }),
                leg.send(v2, Some(&lanes.candidate)).await,
            ),
        };
        let m = &route.metrics;
        m.status_pair(
            primary.as_ref().ok().map(|p| p.status),
            candidate.as_ref().ok().map(|c| c.status),
        );
        let (primary, candidate) = match (primary, candidate) {
            (Ok(p), Ok(c)) => {
                let live_v1 = self.primary.as_ref().map(|_| p.status);
                self.refused.count(c.status, live_v1, recorded_status);
                (p, c)
            }
            (Err(reason), _) | (_, Err(reason)) => {
                // Sent: its end is one mirror outcome, as in the proxy.
                route.metrics.outcome(MirrorOutcome::of_skip(reason));
                return Err(reason);
            }
        };
        let grpc_schema = self
            .snap
            .grpc_schema
            .clone()
            .filter(|_| crate::net::headers::is_grpc(&primary.headers));
        let job = Job {
            route: route.clone(),
            method,
            path: pq.path().to_owned(),
            primary,
            candidate,
            watcher: None,
            grpc_schema,
            // Recorded requests carry no credentials: they were redacted at capture.
            secrets: Default::default(),
            baseline: baseline_side,
        };
        // Every response is compared: here, never shed by a full queue.
        self.shared.compare.compare_here(job, &self.shared.outlets);
        Ok(())
    }
}

/// The request for a live v1: as recorded, to v1's URL, with v1's own Host.
fn v1_request(
    target: &Target,
    method: &Method,
    pq: &PathAndQuery,
    mut headers: HeaderMap,
    body: Bytes,
) -> anyhow::Result<Request<Bytes>> {
    headers.insert(HOST, HeaderValue::from_str(target.authority().as_str())?);
    let mut req = Request::new(body);
    *req.method_mut() = method.clone();
    *req.uri_mut() = target.uri(Some(pq))?;
    *req.headers_mut() = headers;
    Ok(req)
}

//! The v1 path, in the order a request meets it: route, fix-ups, maybe start a mirror, send to
//! v1, stream v1's answer back through a tee.
//!
//! Nothing here waits for v2. The mirror task is spawned before v1 is called and only ever
//! receives copies; a candidate error has no way back into this function.

pub mod copies;
pub mod inbound;
pub mod primary;
pub mod reply;
pub mod upgrade;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Either;
use hyper::body::Incoming;

use crate::cutover::Backend;
use crate::mirror::plan::is_safe;
use crate::mirror::CopyTo;
use crate::net::headers::{is_grpc, strip_hop_by_hop, upstream_deadline};
use crate::net::idle::{Ended, IdleBody, Which};
use crate::observe::access;
use crate::observe::outcome::SkipReason;
use crate::observe::ratelimit::Every;
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::TeeBody;

use primary::{Deadline, Serving};
use upgrade::Upgrade;

pub use copies::Copies;
pub use inbound::Inbound;
pub use primary::PrimaryError;
pub use reply::{error, ProxyBody};

/// One request from the data listener to its response (the body streams on afterwards).
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    inbound: Arc<Inbound>,
) -> Response<ProxyBody> {
    let snap = shared.snapshot.load_full();
    let route = snap.route_for(req.method(), req.uri().path()).clone();
    route.metrics.requests.inc();
    // Only paid for when the access log is on.
    let access = route.access_log.then(|| {
        (
            req.method().clone(),
            req.uri().path().to_string(),
            Instant::now(),
        )
    });
    let mut unanswered = Unanswered {
        route: &route,
        access: access.as_ref(),
        armed: true,
    };
    let (resp, mirrored) = forward(&shared, &snap, &route, req, inbound).await;
    unanswered.armed = false;
    // A mirrored request is logged when its verdict is known (comparator or mirror task).
    if let (Some((method, path, started)), false) = (&access, mirrored) {
        log_not_mirrored(&route, method, path, resp.status(), started.elapsed());
    }
    resp
}

/// Armed until the request has a response: dropped armed, the client went away first (its
/// stream reset or its connection closed). Counted, and logged as nginx's 499.
struct Unanswered<'a> {
    route: &'a RouteRuntime,
    access: Option<&'a (Method, String, Instant)>,
    armed: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (method, path, started) = match self.access {
            Some((method, path, started)) => (Some(method), Some(path.as_str()), *started),
            None => (None, None, Instant::now()),
        };
        client_cancelled(self.route, method.unwrap_or(&Method::GET), path, started);
    }
}

/// The client went away before its answer: counted, and logged as nginx's 499 when the route
/// logs (`path` is then given).
pub(crate) fn client_cancelled(
    route: &RouteRuntime,
    method: &Method,
    path: Option<&str>,
    started: Instant,
) {
    route.metrics.client_cancelled.inc();
    if let Some(path) = path {
        access::Line::new(&route.name, method, path)
            .primary(499, started.elapsed())
            .log(access::Verdict::Cancelled);
    }
}

pub(crate) fn log_not_mirrored(
    route: &RouteRuntime,
    method: &Method,
    path: &str,
    status: StatusCode,
    elapsed: Duration,
) {
    access::Line::new(&route.name, method, path)
        .primary(status.as_u16(), elapsed)
        .log(access::Verdict::NotMirrored);
}

/// The request's story on the v1 path; the response, and whether a mirror was started.
async fn forward(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    route: &Arc<RouteRuntime>,
    req: Request<Incoming>,
    inbound: Arc<Inbound>,
) -> (Response<ProxyBody>, bool) {
    let (mut parts, body) = req.into_parts();
    if let Some(refused) = refuse(&parts) {
        return (refused, false);
    }
    // One request at a time on an HTTP/1.x client connection: it can own upstream connections
    // (`upstream/lane.rs`).
    let h1_client = parts.version <= Version::HTTP_11;
    let upgrade = Upgrade::take(&mut parts);
    // An upgraded connection leaves the pool's hands; a lane could not be used again.
    let on_lane = h1_client && snap.primary.uses_lanes() && upgrade.is_none();
    inbound.prepare(&mut parts);
    if let Some(u) = &upgrade {
        u.restore(&mut parts.headers);
    }
    // Only the proxy marks mirrors: a client's own mark would make v1 treat it as one.
    if let Some(mark) = snap.shaping.mark() {
        parts.headers.remove(mark);
    }
    if snap.primary.http1_only() && is_grpc(&parts.headers) {
        return (grpc_on_http1(route), false);
    }

    // Who serves: v1, unless a canary assigns this user to v2 (gRPC stays on v1 when v2 is
    // reached over HTTP/1.1 only).
    let backend = match route.serving(&parts.headers, inbound.peer.ip()) {
        Backend::V2 if snap.candidate.http1_only() && is_grpc(&parts.headers) => Backend::V1,
        b => b,
    };
    let copy_to = match backend {
        Backend::V1 => CopyTo::Candidate(h1_client.then(|| inbound.mirror_lane.clone())),
        Backend::V2 => CopyTo::Primary,
    };
    let body_empty = http_body::Body::is_end_stream(&body);
    // An upgrade is neither recorded nor mirrored; nor is an exchange v2 served recorded,
    // which is not v1's to replay.
    let mut copies = if upgrade.is_some() {
        if route.percent() > 0.0 {
            route.metrics.skip(SkipReason::Upgrade);
        }
        Copies::default()
    } else {
        let recordable = backend == Backend::V1;
        Copies::start(shared, snap, route, &parts, body_empty, copy_to, recordable)
    };
    let mirrored = copies.mirrored();
    let (request_capture, record_capture) = copies.request_captures();

    let (body, deadline) = client_body(snap, &parts, body, body_empty);
    let body = TeeBody::with_record(body, request_capture, record_capture);
    let to = match backend {
        Backend::V1 => Serving::v1(shared, snap, &inbound, on_lane),
        Backend::V2 => Serving::v2(shared, snap, &inbound, on_lane),
    };
    // A v2 failure before any byte reached the client is served by v1 instead — for a safe,
    // bodiless request only, which can be sent twice (`send` keeps a copy of those).
    let fallback_pq = (backend == Backend::V2 && is_safe(&parts.method))
        .then(|| parts.uri.path_and_query().cloned());
    let Ok(req) = primary::request(&to, parts, body) else {
        let msg = "shadowdiff: request target cannot be forwarded\n";
        return (error(StatusCode::BAD_REQUEST, msg), mirrored);
    };
    let retries = match backend {
        Backend::V1 => &route.metrics.primary_retries,
        Backend::V2 => &route.metrics.candidate_retries,
    };
    let sent = primary::send(&to, req, &deadline, retries).await;
    let (mut resp, elapsed, served_by) = match sent {
        Ok((resp, elapsed)) => (resp, elapsed, backend),
        Err(f) => {
            let v1 = Serving::v1(shared, snap, &inbound, on_lane);
            let again = match (fallback_pq, f.again) {
                (Some(pq), Some(again)) if f.error.backend_failed() => {
                    primary::retarget(again, pq.as_ref(), &v1).ok()
                }
                _ => None,
            };
            let Some(again) = again else {
                return (failed(route, backend, &f.error), mirrored);
            };
            served_failed(route, backend);
            route.metrics.canary_fallbacks.inc();
            let sent = primary::send(&v1, again, &deadline, &route.metrics.primary_retries).await;
            match sent {
                Ok((resp, elapsed)) => (resp, elapsed, Backend::V1),
                Err(f) => return (failed(route, Backend::V1, &f.error), mirrored),
            }
        }
    };
    served(route, served_by, resp.status(), elapsed);
    if served_by == Backend::V1 {
        // How v1 fares is one of the adaptive mirror limit's signals (`mirror/limit.rs`).
        shared.mirror_limit.served(elapsed);
    }
    let switched = upgrade.and_then(|u| u.answered(&mut resp));
    let mut resp = respond(shared, snap, route, resp, elapsed, copies);
    if let Some(protocol) = switched {
        Upgrade::switched(resp.headers_mut(), protocol);
    }
    (resp, mirrored)
}

/// A response head from `backend`: the golden signals, and the cutover's window.
pub(crate) fn served(
    route: &RouteRuntime,
    backend: Backend,
    status: StatusCode,
    elapsed: Duration,
) {
    let m = &route.metrics;
    let duration = match backend {
        Backend::V1 => &m.primary_duration,
        Backend::V2 => &m.candidate_duration,
    };
    duration.observe(elapsed.as_secs_f64());
    m.served(backend as usize, Some(status.as_u16()), Some(elapsed));
    if route.cutover.judging() {
        route
            .cutover
            .window
            .answered(backend, elapsed, status.is_server_error());
    }
}

/// `backend` gave no response: counted against it (when it is to blame) for the gates.
fn served_failed(route: &RouteRuntime, backend: Backend) {
    route.metrics.served(backend as usize, None, None);
    if route.cutover.judging() {
        route.cutover.window.failed(backend);
    }
}

/// The client's answer when `backend` gave none.
pub(crate) fn failed(
    route: &RouteRuntime,
    backend: Backend,
    e: &primary::PrimaryError,
) -> Response<ProxyBody> {
    if e.backend_failed() {
        served_failed(route, backend);
    }
    e.reply(&route.metrics, backend == Backend::V1)
}

/// The client's body under `client_body_timeout`, and v1's deadline: its own timeout or the
/// call's `grpc-timeout`, counted from the last byte of a body the client is still sending.
fn client_body(
    snap: &Snapshot,
    parts: &http::request::Parts,
    body: Incoming,
    body_empty: bool,
) -> (IdleBody<Incoming>, Deadline) {
    let body_ended = (!body_empty).then(|| Arc::new(Ended::default()));
    let deadline = Deadline {
        timeout: upstream_deadline(&parts.headers, &snap.config.grpc, snap.primary.timeout),
        after: body_ended.clone(),
    };
    let body = IdleBody::new(body, Which::ClientBody, snap.config.client_body_timeout);
    let body = match body_ended {
        Some(ended) => body.with_ended(ended),
        None => body,
    };
    (body, deadline)
}

/// Requests the proxy answers itself rather than pass on ambiguously: an HTTP/1.1 request
/// without exactly one Host is a 400 (RFC 9112 §3.2: a proxy must not guess one, nor forward
/// two), and CONNECT is a 405 — this is not a forward proxy, and a tunnel v1 never agreed to
/// would end with no status at all.
fn refuse(parts: &http::request::Parts) -> Option<Response<ProxyBody>> {
    if parts.method == Method::CONNECT {
        let mut resp = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "shadowdiff: CONNECT is not supported\n",
        );
        resp.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_static("GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"),
        );
        return Some(resp);
    }
    if parts.version == Version::HTTP_11
        && parts.headers.get_all(http::header::HOST).iter().count() != 1
    {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "shadowdiff: an HTTP/1.1 request needs exactly one Host header\n",
        ));
    }
    None
}

/// gRPC needs HTTP/2 to v1: end the call with UNAVAILABLE, naming the key that fixes it.
fn grpc_on_http1(route: &RouteRuntime) -> Response<ProxyBody> {
    static SAID: Every = Every::new(Duration::from_secs(60));
    if let Some(held_back) = SAID.ready() {
        tracing::warn!(
            route = %route.name,
            held_back,
            "a gRPC call met an HTTP/1.1-only primary: set [primary] protocol = \"h2c\" (http://) or \"h2\" (https://)"
        );
    }
    reply::grpc_error(
        14,
        "shadowdiff: the primary is reached over HTTP/1.1; set [primary] protocol = h2c or h2",
    )
}

/// v1's answer for the client, through a tee whose copies go to the mirror and the recording
/// (if they run).
fn respond(
    shared: &Shared,
    snap: &Snapshot,
    route: &RouteRuntime,
    resp: Response<Incoming>,
    elapsed: Duration,
    copies: Copies,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let (capture, record) = copies.primary_answered(shared, snap, &parts, elapsed);
    let body = IdleBody::new(body, Which::UpstreamBody, snap.config.stream_idle_timeout)
        .counting(route.metrics.primary_body.clone());
    Response::from_parts(
        parts,
        Either::Left(TeeBody::with_record(body, capture, record)),
    )
}

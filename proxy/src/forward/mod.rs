//! The v1 path, in the order a request meets it: route, fix-ups, maybe start a mirror, send to
//! v1, stream v1's answer back through a tee.
//!
//! Nothing here waits for v2. The mirror task is spawned before v1 is called and only ever
//! receives copies; a candidate error has no way back into this function.

pub mod inbound;
pub mod primary;
pub mod reply;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Either;
use hyper::body::Incoming;

use crate::mirror::{self, Handoff};
use crate::net::headers::strip_hop_by_hop;
use crate::observe::access;
use crate::record::{self, Recording};
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};
use crate::tee::TeeBody;

pub use inbound::Inbound;
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
    let (resp, mirrored) = forward(&shared, &snap, &route, req, inbound).await;
    // A mirrored request is logged when its verdict is known (comparator or mirror task).
    if let (Some((method, path, started)), false) = (access, mirrored) {
        log_not_mirrored(&route, &method, &path, resp.status(), started.elapsed());
    }
    resp
}

fn log_not_mirrored(
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
    // One request at a time on an HTTP/1.x client connection: it can own upstream connections
    // (`upstream/lane.rs`).
    let h1_client = parts.version <= Version::HTTP_11;
    let on_lane = h1_client && snap.primary.is_plain_http();
    inbound.prepare(&mut parts);

    let mirror_lane = h1_client.then(|| inbound.mirror_lane.clone());
    let body_empty = http_body::Body::is_end_stream(&body);
    // Before the mirror, so that a recording learns the mirror's verdict (one atomic load when
    // the route records nothing).
    let mut recording = record::start(shared, snap, route, &parts, body_empty);
    let watcher = recording.as_mut().and_then(Recording::take_watcher);
    let mut handoff = mirror::start(
        shared,
        snap,
        route,
        &parts,
        body_empty,
        mirror_lane,
        watcher,
    );
    let mirrored = handoff.is_some();
    let request_capture = handoff.as_mut().and_then(Handoff::take_request_capture);
    let record_capture = recording.as_mut().and_then(Recording::take_request_capture);

    let body = TeeBody::with_record(body, request_capture, record_capture);
    let Ok(req) = primary::request(snap, parts, body, on_lane) else {
        let msg = "shadowdiff: request target cannot be forwarded\n";
        return (error(StatusCode::BAD_REQUEST, msg), mirrored);
    };
    let (resp, elapsed) = match primary::send(snap, &inbound, on_lane, req, &route.metrics).await {
        Ok(answered) => answered,
        Err(e) => return (e.reply(&route.metrics), mirrored),
    };
    let resp = respond(shared, snap, resp, elapsed, handoff, recording);
    (resp, mirrored)
}

/// v1's answer for the client, through a tee whose copies go to the mirror and the recording
/// (if they run).
fn respond(
    shared: &Shared,
    snap: &Snapshot,
    resp: Response<Incoming>,
    elapsed: Duration,
    handoff: Option<Handoff>,
    recording: Option<Recording>,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let cap = snap.config.limits.max_capture_bytes;
    let capture = handoff.and_then(|h| h.primary_answered(&parts, elapsed, cap, &shared.pending));
    let record = recording.and_then(|r| r.primary_answered(&parts, elapsed, &shared.pending));
    Response::from_parts(
        parts,
        Either::Left(TeeBody::with_record(body, capture, record)),
    )
}

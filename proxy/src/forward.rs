//! The v1 path: route, maybe start a mirror, forward to v1, stream v1's answer back through a tee.
//!
//! Nothing here waits for v2. The mirror task is spawned before v1 is called and only ever
//! receives copies; a candidate error has no way back into this function.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use tokio::sync::oneshot;

use crate::access;
use crate::capture::{Capture, TeeBody};
use crate::headers::{add_forwarded, strip_hop_by_hop};
use crate::lane::{Lane, LaneError};
use crate::mirror::{self, MirrorJob, PrimaryHead};
use crate::route::RouteRuntime;
use crate::state::{Shared, Snapshot};

/// v1's streamed body, or a short error body of the proxy's own.
pub type ProxyBody = Either<TeeBody<Incoming>, Full<Bytes>>;

/// How the client reached us, for `X-Forwarded-For` and `X-Forwarded-Proto`, and its lanes;
/// made once per connection and shared by its requests (one reference count each).
#[derive(Debug)]
pub struct Inbound {
    pub peer: SocketAddr,
    /// The peer's IP as a header value, made once per connection.
    pub peer_value: HeaderValue,
    pub proto: &'static str,
    /// This connection's own connections to v1 and v2 (HTTP/1.x clients, `http://` upstreams).
    pub lane: Arc<Lane<TeeBody<Incoming>>>,
    pub mirror_lane: Arc<Lane<Full<Bytes>>>,
}

impl Inbound {
    pub fn new(peer: SocketAddr, proto: &'static str) -> Self {
        Self {
            peer,
            peer_value: crate::headers::peer_value(peer.ip()),
            proto,
            lane: Arc::default(),
            mirror_lane: Arc::default(),
        }
    }
}

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
        access::log(&access::Line {
            route: &route.name,
            method: &method,
            path: &path,
            status: Some(resp.status().as_u16()),
            primary: Some(started.elapsed()),
            candidate_status: None,
            candidate: None,
            verdict: "not_mirrored",
        });
    }
    resp
}

/// Forward to v1 (starting the mirror first when planned); the response, and whether a mirror
/// was started.
async fn forward(
    shared: &Arc<Shared>,
    snap: &Arc<Snapshot>,
    route: &Arc<RouteRuntime>,
    req: Request<Incoming>,
    inbound: Arc<Inbound>,
) -> (Response<ProxyBody>, bool) {
    let (mut parts, body) = req.into_parts();
    // One request at a time on an HTTP/1.x client connection: it can own upstream connections
    // (`lane.rs`).
    let h1_client = parts.version <= Version::HTTP_11;
    let on_lane = h1_client && snap.primary.is_plain_http();
    // HTTP/2 clients send :authority, not Host; v1 still deserves the name the client used.
    if !parts.headers.contains_key(header::HOST) {
        if let Some(host) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(header::HOST, host);
        }
    }
    strip_hop_by_hop(&mut parts.headers);
    add_forwarded(&mut parts.headers, &inbound.peer_value, inbound.proto);

    let planned = mirror::plan(shared, snap, route, &parts.method, &parts.headers);
    let mut request_capture = None;
    let primary_tx = planned.map(|planned| {
        let request_body = (!http_body::Body::is_end_stream(&body)).then(|| {
            let (cap, rx) =
                Capture::new(snap.config.limits.max_request_body_bytes, &shared.pending);
            request_capture = Some(cap);
            rx
        });
        let (tx, primary) = oneshot::channel();
        let job = MirrorJob {
            planned,
            shared: shared.clone(),
            snap: snap.clone(),
            route: route.clone(),
            method: parts.method.clone(),
            path_and_query: parts.uri.path_and_query().cloned(),
            headers: parts.headers.clone(),
            request_body,
            primary,
            lane: h1_client.then(|| inbound.mirror_lane.clone()),
        };
        tokio::spawn(job.run());
        tx
    });
    let mirrored = primary_tx.is_some();

    parts.uri = match snap.primary.uri(parts.uri.path_and_query()) {
        Ok(uri) => uri,
        Err(_) => {
            return (
                error(
                    StatusCode::BAD_REQUEST,
                    "shadowdiff: request target cannot be forwarded\n",
                ),
                mirrored,
            )
        }
    };
    // The upstream leg speaks its own protocol version; the pool picks it.
    parts.version = Version::HTTP_11;
    if on_lane && !parts.headers.contains_key(header::HOST) {
        // An HTTP/1.0 client may send no Host; v1 then gets its own authority, as the pooled
        // client would send.
        if let Ok(host) = HeaderValue::from_str(snap.primary.authority().as_str()) {
            parts.headers.insert(header::HOST, host);
        }
    }
    let upstream_req = Request::from_parts(parts, TeeBody::new(body, request_capture));

    let started = Instant::now();
    let timeout = snap.primary.timeout;
    let sent = if on_lane {
        let lane = inbound.lane.send(
            snap.primary.authority(),
            snap.primary.connect_timeout,
            upstream_req,
        );
        tokio::time::timeout(timeout, lane)
            .await
            .map(|r| r.map_err(PrimaryError::Lane))
    } else {
        tokio::time::timeout(timeout, snap.primary_client.request(upstream_req))
            .await
            .map(|r| r.map_err(PrimaryError::Pooled))
    };
    let m = &route.metrics;
    let resp = match sent {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) if e.is_connect() => {
            m.primary_connect.inc();
            tracing::warn!(error = %e, "primary unreachable");
            return (
                error(StatusCode::BAD_GATEWAY, "shadowdiff: primary unreachable\n"),
                mirrored,
            );
        }
        // The client's request body broke off (it went away mid-upload, or sent a malformed
        // chunk): v1 did nothing wrong, so this is not a primary error — counting it as one
        // made every impatient client look like a v1 outage. Its mirror is skipped (the body
        // capture failed) as `primary_failed`.
        Ok(Err(e)) if request_body_failed(&e) => {
            tracing::debug!(error = %e, "client request body failed");
            return (
                error(
                    StatusCode::BAD_REQUEST,
                    "shadowdiff: request body ended early or was malformed\n",
                ),
                mirrored,
            );
        }
        Ok(Err(e)) => {
            m.primary_other.inc();
            tracing::warn!(error = %e, "primary failed");
            return (
                error(
                    StatusCode::BAD_GATEWAY,
                    "shadowdiff: primary closed the connection or sent an invalid response\n",
                ),
                mirrored,
            );
        }
        Err(_) => {
            m.primary_timeout.inc();
            return (
                error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "shadowdiff: primary timed out\n",
                ),
                mirrored,
            );
        }
    };
    let elapsed = started.elapsed();
    m.primary_duration.observe(elapsed.as_secs_f64());

    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let capture = primary_tx.map(|tx| {
        let (cap, body_rx) = Capture::new(snap.config.limits.max_capture_bytes, &shared.pending);
        let head = PrimaryHead {
            status: parts.status.as_u16(),
            headers: parts.headers.clone(),
            elapsed,
            body: body_rx,
        };
        // The mirror task may have ended already (v2 failed): then nobody needs the copy.
        tx.send(head).is_ok().then_some(cap)
    });
    let body = Either::Left(TeeBody::new(body, capture.flatten()));
    (Response::from_parts(parts, body), mirrored)
}

/// Why v1 gave no response, from either way of reaching it.
#[derive(Debug, thiserror::Error)]
enum PrimaryError {
    #[error(transparent)]
    Lane(LaneError),
    #[error(transparent)]
    Pooled(hyper_util::client::legacy::Error),
}

impl PrimaryError {
    fn is_connect(&self) -> bool {
        match self {
            PrimaryError::Lane(e) => e.is_connect(),
            PrimaryError::Pooled(e) => e.is_connect(),
        }
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

/// A short plain-text response of the proxy's own.
pub fn error(status: StatusCode, msg: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from_static(msg.as_bytes()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

//! The admin listener, separate from the data port (loopback by default).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/metrics` | Prometheus text exposition |
//! | GET | `/healthz/live` | 200 while the process runs |
//! | GET | `/healthz/ready` | 200 once both listeners are bound, 503 while draining |
//! | GET | `/api/summary` | per-route totals, skips by reason, windowed rate and budget |
//! | GET | `/api/mismatches?route=R&limit=N` | recent mismatch exemplars, newest first |
//! | PUT | `/api/mirror-percent` | `{"percent": P, "route": "optional"}`: live share; 0 is the brake |
//! | POST | `/api/reload` | re-read the config file; a bad one is rejected and the old one kept |

pub mod control;
pub mod cutover;
pub mod findings;
pub mod reply;
pub mod report;
pub mod summary;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::admin::reply::{json, text, Query};
use crate::listen::first_bytes::FirstBytes;
use crate::listen::{accept_loop, ConnectionCap};
use crate::net::builder::http1_builder;
use crate::state::Shared;

/// At most this many admin connections at once. The admin port serves operators and a
/// Prometheus or two, never traffic, and every descriptor it holds is one the data port lacks.
pub const MAX_CONNECTIONS: usize = 64;

/// Serve the admin API until `stop`: HTTP/1.1 only, the data port's request-head deadline (also
/// on a connection's first bytes), at most [`MAX_CONNECTIONS`] open.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: impl Future<Output = ()>) {
    let header_timeout = shared.snapshot.load().config.header_read_timeout;
    let builder = http1_builder(header_timeout);
    let waits = shared.metrics.admin_connection_limit_waits.clone();
    let cap = ConnectionCap::new(MAX_CONNECTIONS, waits);
    accept_loop(listener, "admin", Some(cap), stop, |stream, _, slot| {
        let (shared, builder) = (shared.clone(), builder.clone());
        async move {
            let _slot = slot;
            let svc = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            });
            let io = TokioIo::new(FirstBytes::new(stream, header_timeout));
            let _ = builder.serve_connection(io, svc).await;
        }
    })
    .await;
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            summary::refresh_budget_gauges(shared);
            let mut r = Response::new(Full::new(Bytes::from(shared.metrics.encode())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        (&Method::GET, "/") => report::page(),
        (&Method::GET, "/healthz/live") => text(StatusCode::OK, "live\n"),
        (&Method::GET, "/healthz/ready") => {
            if shared.is_ready() {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        (&Method::GET, "/api/summary") => json(StatusCode::OK, &summary::summary(shared)),
        (&Method::GET, "/api/mismatches") => {
            let q = Query::parse(req.uri().query());
            let limit = q
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(50usize)
                .min(1000);
            json(
                StatusCode::OK,
                &shared.exemplars.recent(q.get("route"), limit),
            )
        }
        (&Method::PUT, "/api/mirror-percent") => control::set_mirror_percent(shared, req).await,
        (&Method::POST, "/api/reload") => control::reload(shared, &req).await,
        (&Method::GET, "/api/cutover") => cutover::status(shared, &req),
        (&Method::GET, "/api/signatures") => findings::signatures(shared, &req),
        (&Method::POST, "/api/signatures/reset") => findings::reset(shared, &req),
        (&Method::GET, "/api/noise/suggestions") => findings::suggestions(shared, &req),
        (&Method::PUT, "/api/cutover/weight") => cutover::command(shared, req, "weight").await,
        (&Method::POST, path) if path.starts_with("/api/cutover/") => {
            let name = path.trim_start_matches("/api/cutover/").to_owned();
            cutover::command(shared, req, &name).await
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

//! What the comparisons found, grouped: `GET /api/signatures` (mismatches by signature, most
//! frequent first, each with its own exemplars), `POST /api/signatures/reset` (a new run: the
//! signatures and the learned noise forgotten; token-protected), and `GET /api/noise/suggestions`
//! (learned noise, with its evidence and the config lines that silence it, ready to paste).

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;

use crate::admin::control::unauthorized;
use crate::admin::reply::{json, Query};
use crate::observe::noise;
use crate::state::Shared;

pub fn signatures(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let q = Query::parse(req.uri().query());
    // The page polls this every 2 s: a bounded answer, the most frequent first.
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(200usize)
        .min(10_000);
    let mut list = shared.outlets.signatures.list(q.get("route"));
    let total = list.len();
    list.truncate(limit);
    json(
        StatusCode::OK,
        &json!({
            "signatures": list,
            "total": total,
            "evicted": shared.metrics.signatures_evicted.get(),
        }),
    )
}

pub fn reset(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !shared.admin_token.allows(req) {
        return unauthorized();
    }
    shared.outlets.signatures.reset();
    shared.outlets.noise.reset();
    tracing::info!("signatures and learned noise reset: a new run begins");
    json(StatusCode::OK, &json!({ "status": "reset" }))
}

pub fn suggestions(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let q = Query::parse(req.uri().query());
    let snap = shared.snapshot.load();
    let routes = noise::suggestions(&shared.outlets.noise, &snap.config, q.get("route"));
    json(StatusCode::OK, &json!({ "routes": routes }))
}

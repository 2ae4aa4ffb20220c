//! The cutover's admin API: `GET /api/cutover` (every route's state, gates and history) and the
//! operator's one-command moves, `POST /api/cutover/{abort,pause,resume,promote}` and
//! `PUT /api/cutover/weight` `{"weight": W}`. A move acts on `?route=NAME` (or the body's
//! `route`), else on every route whose mode is not shadow; it needs the admin token when one is
//! set, takes effect on the next request, and is written to the state file.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::control::{bad_request, read_body, unauthorized};
use crate::admin::reply::{json, Query};
use crate::cutover::Command;
use crate::state::Shared;

pub fn status(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let q = Query::parse(req.uri().query());
    let snap = shared.snapshot.load();
    let routes: Vec<Value> = snap
        .all_routes()
        .filter(|r| q.get("route").is_none_or(|n| n == r.name))
        .map(|r| r.cutover.status())
        .collect();
    json(StatusCode::OK, &json!({ "routes": routes }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pin {
    weight: f64,
    route: Option<String>,
}

/// `POST /api/cutover/<name>`, or `PUT /api/cutover/weight`.
pub async fn command(shared: &Shared, req: Request<Incoming>, name: &str) -> Response<Full<Bytes>> {
    if !shared.admin_token.allows(&req) {
        return unauthorized();
    }
    let mut route = Query::parse(req.uri().query())
        .get("route")
        .map(str::to_owned);
    let cmd = match name {
        "abort" => Command::Abort,
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "promote" => Command::Promote,
        "weight" => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(r) => return r,
            };
            let pin: Pin = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(e) => {
                    return bad_request(format!(
                        "expected {{\"weight\": W, \"route\": \"optional\"}}: {e}"
                    ))
                }
            };
            if !(pin.weight.is_finite() && (0.0..=100.0).contains(&pin.weight)) {
                return bad_request(format!(
                    "weight must be between 0 and 100, got {}",
                    pin.weight
                ));
            }
            route = route.or(pin.route);
            Command::Pin(pin.weight)
        }
        _ => {
            return json(
                StatusCode::NOT_FOUND,
                &json!({ "error": "no such cutover command" }),
            )
        }
    };
    let snap = shared.snapshot.load();
    let targets: Vec<_> = match &route {
        Some(n) => snap.all_routes().filter(|r| &r.name == n).collect(),
        None => snap
            .all_routes()
            .filter(|r| r.cutover_mode() != config::CutoverMode::Shadow)
            .collect(),
    };
    if targets.is_empty() {
        return bad_request(match route {
            Some(n) => format!("no route named {n:?}"),
            None => "no route is in canary or promoted mode".to_owned(),
        });
    }
    let mut results = serde_json::Map::new();
    let mut refused = false;
    for r in &targets {
        let outcome = match r.cutover.command(cmd) {
            Ok(_) => r.cutover.status(),
            Err(e) => {
                refused = true;
                json!({ "route": r.name, "error": e.to_string() })
            }
        };
        results.insert(r.name.clone(), outcome);
    }
    shared.cutovers.save();
    let status = if refused {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    json(status, &json!({ "command": cmd.name(), "routes": results }))
}

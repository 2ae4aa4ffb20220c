//! Live control on the admin listener: the mirror brake and config reload.
//!
//! `PUT /api/mirror-percent` `{"percent": P, "route": "optional"}` takes effect on the next
//! request (`{"percent": 0}` is the one-command brake); `POST /api/reload` re-reads the config
//! file like SIGHUP. Both need `Authorization: Bearer TOKEN` when `[admin_auth]` names a token.
//! A live percentage survives a reload unless the new file changes that route's share.

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::admin::reply::json;
use crate::cutover::persist::Brake;
use crate::state::Shared;

/// Control requests are tiny; anything bigger is refused.
const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetPercent {
    percent: f64,
    route: Option<String>,
}

pub async fn set_mirror_percent(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if !shared.admin_token.allows(&req) {
        return unauthorized();
    }
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let cmd: SetPercent = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return bad_request(format!(
                "expected {{\"percent\": P, \"route\": \"optional\"}}: {e}"
            ))
        }
    };
    if !(0.0..=100.0).contains(&cmd.percent) {
        return bad_request(format!(
            "percent must be between 0 and 100, got {}",
            cmd.percent
        ));
    }
    let snap = shared.snapshot.load();
    let targets: Vec<_> = snap
        .all_routes()
        .filter(|r| cmd.route.as_deref().is_none_or(|n| n == r.name))
        .collect();
    if targets.is_empty() {
        return bad_request(format!(
            "no route named {:?}",
            cmd.route.unwrap_or_default()
        ));
    }
    for r in &targets {
        r.set_percent(cmd.percent);
        // Kept in the state file (when one is set) so that the brake holds across a restart.
        let brake = (cmd.percent != r.configured_percent).then_some(Brake {
            percent: cmd.percent,
            configured: r.configured_percent,
        });
        shared.cutovers.set_brake(&r.name, brake);
    }
    tracing::info!(percent = cmd.percent, route = ?cmd.route, "mirror percent changed");
    let routes: serde_json::Map<String, serde_json::Value> = snap
        .all_routes()
        .map(|r| (r.name.clone(), json!(r.percent())))
        .collect();
    json(StatusCode::OK, &json!({ "routes": routes }))
}

pub async fn reload(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !shared.admin_token.allows(req) {
        return unauthorized();
    }
    match shared.reload_from_source() {
        Ok(()) => json(StatusCode::OK, &json!({ "status": "reloaded" })),
        Err(e) => {
            tracing::error!(error = %e, "reload rejected; keeping the old configuration");
            json(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() }))
        }
    }
}

pub(crate) async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(bad_request(format!(
            "body missing or over {MAX_BODY} bytes"
        ))),
    }
}

pub(crate) fn bad_request(msg: String) -> Response<Full<Bytes>> {
    json(StatusCode::BAD_REQUEST, &json!({ "error": msg }))
}

pub(crate) fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = json(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "missing or wrong bearer token" }),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    r
}

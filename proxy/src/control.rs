//! Live control on the admin listener: the mirror brake and config reload.
//!
//! `PUT /api/mirror-percent` `{"percent": P, "route": "optional"}` takes effect on the next
//! request (`{"percent": 0}` is the one-command brake); `POST /api/reload` re-reads the config
//! file like SIGHUP. Both need `Authorization: Bearer TOKEN` when `[admin_auth]` names a token.
//! A reload resets live percentages to the file's values.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use config::{AdminAuth, Config, Overrides};

use crate::admin;
use crate::state::Shared;

/// Control requests are tiny; anything bigger is refused.
const MAX_BODY: usize = 64 * 1024;

/// Where a reload reads from: the file and flags the process started with.
#[derive(Debug, Clone, Default)]
pub struct ReloadSource {
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
}

/// The admin bearer token, if one is configured.
#[derive(Default)]
pub struct Token(Mutex<Option<blake3::Hash>>);

impl Token {
    /// Read the token named by `[admin_auth]` (file or environment variable).
    pub fn load(&self, auth: &AdminAuth) -> anyhow::Result<()> {
        let token = match (&auth.token_file, &auth.token_env) {
            (Some(f), _) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| anyhow::anyhow!("admin_auth.token_file {}: {e}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            (None, Some(var)) => Some(
                std::env::var(var)
                    .map_err(|_| anyhow::anyhow!("admin_auth.token_env: ${var} is not set"))?,
            ),
            (None, None) => None,
        };
        if token.as_deref() == Some("") {
            anyhow::bail!("admin_auth: the token is empty");
        }
        // Kept as a digest: comparing blake3 hashes is constant-time.
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            token.map(|t| blake3::hash(t.as_bytes()));
        Ok(())
    }

    fn allows(&self, req: &Request<Incoming>) -> bool {
        let Some(want) = *self.0.lock().unwrap_or_else(PoisonError::into_inner) else {
            return true;
        };
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| blake3::hash(given.trim().as_bytes()) == want)
    }
}

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
    }
    tracing::info!(percent = cmd.percent, route = ?cmd.route, "mirror percent changed");
    let routes: serde_json::Map<String, serde_json::Value> = snap
        .all_routes()
        .map(|r| (r.name.clone(), json!(r.percent())))
        .collect();
    admin::json(StatusCode::OK, &json!({ "routes": routes }))
}

pub async fn reload(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if !shared.admin_token.allows(req) {
        return unauthorized();
    }
    match reload_from_source(shared) {
        Ok(()) => admin::json(StatusCode::OK, &json!({ "status": "reloaded" })),
        Err(e) => {
            tracing::error!(error = %e, "reload rejected; keeping the old configuration");
            admin::json(StatusCode::BAD_REQUEST, &json!({ "error": e.to_string() }))
        }
    }
}

/// Re-read the config (file + start-up flags) and install it, or keep the old one and say why.
pub fn reload_from_source(shared: &Shared) -> anyhow::Result<()> {
    let source = shared
        .reload_source
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let config = Config::load(source.file.as_deref(), &source.overrides)?;
    shared.admin_token.load(&config.admin_auth)?;
    shared.reload(config)?;
    tracing::info!("configuration reloaded");
    Ok(())
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Full<Bytes>>> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(bad_request(format!(
            "body missing or over {MAX_BODY} bytes"
        ))),
    }
}

fn bad_request(msg: String) -> Response<Full<Bytes>> {
    admin::json(StatusCode::BAD_REQUEST, &json!({ "error": msg }))
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut r = admin::json(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": "missing or wrong bearer token" }),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    r
}

//! The demo's sample services. v1 is the reference; v2 differs on purpose:
//!
//! | path | v2 compared with v1 | expected verdict |
//! |---|---|---|
//! | `/users/{id}` | same JSON, other key order, whitespace and number spelling | match |
//! | `/orders/{id}` | `/total` changed | mismatch at `/total` |
//! | `/catalog` | byte-identical | match |
//! | `/slow` | same body, 300 ms late | match (and the client never waits) |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::listen::accept_loop;
use crate::net::builder::http_builder;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    V1,
    V2,
}

/// v2's extra latency on `/slow`.
pub const SLOW_DELAY: Duration = Duration::from_millis(300);

/// Bind and serve in the background; the bound address.
pub async fn spawn(role: Role, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(role, listener));
    Ok(bound)
}

pub async fn serve_forever(role: Role, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(role = ?role, addr = %listener.local_addr()?, "sample service listening");
    tokio::select! {
        () = serve(role, listener) => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    Ok(())
}

async fn serve(role: Role, listener: TcpListener) {
    let builder = http_builder();
    let on_conn = |stream, _, _| {
        let builder = builder.clone();
        async move {
            let svc =
                service_fn(move |req| async move { Ok::<_, Infallible>(respond(role, req).await) });
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        }
    };
    accept_loop(listener, "sample", None, std::future::pending(), on_conn).await;
}

async fn respond(role: Role, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let mut segments = path.trim_start_matches('/').split('/');
    match (
        segments.next(),
        segments.next().and_then(|s| s.parse::<u64>().ok()),
        segments.next(),
    ) {
        (Some("users"), Some(id), None) => json(user(role, id)),
        (Some("orders"), Some(id), None) => json(order(role, id)),
        (Some("catalog"), None, None) => json(CATALOG.to_string()),
        (Some("slow"), None, None) => {
            if role == Role::V2 {
                tokio::time::sleep(SLOW_DELAY).await;
            }
            json(r#"{"slow":true,"ok":1}"#.to_string())
        }
        (Some("health"), None, None) => plain(StatusCode::OK, "ok\n"),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn user(role: Role, id: u64) -> String {
    match role {
        Role::V1 => format!(
            r#"{{"id":{id},"name":"user {id}","email":"user{id}@example.com","score":1.5,"roles":["admin","dev"],"account":{{"tier":"gold","since":2019}}}}"#
        ),
        // Same document: keys reordered, spaced out, 1.5 spelled 15e-1, 2019 as-is.
        Role::V2 => format!(
            "{{\n  \"account\": {{ \"since\": 2019, \"tier\": \"gold\" }},\n  \"roles\": [\"admin\", \"dev\"],\n  \"score\": 15e-1,\n  \"email\": \"user{id}@example.com\",\n  \"name\": \"user {id}\",\n  \"id\": {id}\n}}\n"
        ),
    }
}

fn order(role: Role, id: u64) -> String {
    let total = match role {
        Role::V1 => format!("{}.50", 100 + id),
        // The deliberate regression: v2 rounds the total up.
        Role::V2 => format!("{}", 101 + id),
    };
    format!(
        r#"{{"id":{id},"currency":"EUR","total":{total},"items":[{{"sku":"A-1","qty":2}},{{"sku":"B-7","qty":1}}]}}"#
    )
}

const CATALOG: &str =
    r#"{"items":[{"sku":"A-1","price":10.25},{"sku":"B-7","price":80}],"count":2}"#;

fn json(body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

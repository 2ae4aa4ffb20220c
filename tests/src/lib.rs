//! Test support: in-process upstreams on 127.0.0.1:0, a proxy under test, a client, and readers
//! for the proxy's metrics. Never fixed ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod faults;
pub mod grpc;

pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: http::Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An in-process HTTP/1.1 upstream that records what it receives.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    /// Serve `handler(seen request) -> response` on an ephemeral port.
    pub async fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Seen) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        Self::serve_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), handler).await
    }

    /// Serve on a listener the caller bound (e.g. to bring an upstream back on its old port).
    pub async fn serve_on<F, Fut>(listener: TcpListener, handler: F) -> Self
    where
        F: Fn(Seen) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (seen.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (handler, s, h) = (handler.clone(), s.clone(), h.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (handler, s, h) = (handler.clone(), s.clone(), h.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let seen = Seen {
                                method: parts.method,
                                path: parts
                                    .uri
                                    .path_and_query()
                                    .map_or("/".into(), |p| p.to_string()),
                                headers: parts.headers,
                                body,
                            };
                            s.lock().unwrap().push(seen.clone());
                            h.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Infallible>(handler(seen).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, seen, hits }
    }

    /// An upstream that answers every request with the same JSON body.
    pub async fn json(body: &'static str) -> Self {
        Self::start(move |_| async move { json(body) }).await
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

pub fn json(body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    r
}

/// A port nothing listens on (bound, then released).
pub async fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A proxy under test on ephemeral ports.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub running: shadowdiff::Running,
}

impl TestProxy {
    /// Start a proxy in front of `primary` and `candidate`; `extra` is more TOML (top-level keys
    /// first, then tables).
    pub async fn start(primary: &str, candidate: &str, extra: &str) -> Self {
        let text = format!(
            "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n{extra}\n[primary]\nurl = \"{primary}\"\n[candidate]\nurl = \"{candidate}\"\n"
        );
        Self::from_toml(&text).await
    }

    pub async fn from_toml(text: &str) -> Self {
        let cfg = config::Config::from_toml_str(text, &config::Overrides::default())
            .expect("test config");
        let shared = shadowdiff::Shared::new(cfg).expect("proxy state");
        let running = shadowdiff::start(shared).await.expect("proxy start");
        Self {
            addr: running.listen,
            admin: running.admin,
            running,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn metrics(&self) -> Metrics {
        let (status, _, body) = get(&format!("http://{}/metrics", self.admin)).await;
        assert_eq!(status, StatusCode::OK);
        Metrics(String::from_utf8(body.to_vec()).unwrap())
    }

    /// Wait until every mirror has ended as a comparison or a skip.
    pub async fn settle(&self) {
        let shared = &self.running.shared;
        eventually(Duration::from_secs(10), || shared.is_idle()).await;
    }
}

/// Poll `cond` until it holds or `limit` passes (then panic).
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET a URL on a fresh pooled client: status, headers, body.
pub async fn get(url: &str) -> (StatusCode, HeaderMap, Bytes) {
    send(&client(), http::Method::GET, url, Bytes::new()).await
}

pub async fn send(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    method: http::Method,
    url: &str,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .unwrap();
    let resp = client.request(req).await.expect("request");
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

pub fn empty_client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A scraped `/metrics` page.
pub struct Metrics(pub String);

impl Metrics {
    /// `shadowdiff_comparisons_total{route, result}`.
    pub fn comparisons(&self, route: &str, result: &str) -> f64 {
        self.value(
            "shadowdiff_comparisons_total",
            &[("route", route), ("result", result)],
        )
    }

    /// `shadowdiff_mirror_skipped_total{route, reason}`.
    pub fn skipped(&self, route: &str, reason: &str) -> f64 {
        self.value(
            "shadowdiff_mirror_skipped_total",
            &[("route", route), ("reason", reason)],
        )
    }

    /// The value of the series `name{labels}` (labels as written, e.g. `route="default"`), 0 if absent.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .find(|(series, _)| {
                let (n, rest) = series.split_once('{').unwrap_or((series, ""));
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
            .map_or(0.0, |(_, v)| v.parse().unwrap())
    }
}

//! Upstreams: where each leg's requests go ([`Target`]), the pooled client, a client
//! connection's own lanes to v1 and v2, how the mirrored copy is shaped, and the breaker that
//! stops mirroring while v2 is failing.

pub mod breaker;
pub mod cap;
pub mod capped;
pub mod lane;
pub mod retry;
pub mod shaping;

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use config::Upstream;

use crate::upstream::cap::ConnectionCap;
use crate::upstream::capped::CappedConnector;

/// Where a leg's requests go: scheme and authority, plus an optional path prefix.
#[derive(Debug, Clone)]
pub struct Target {
    scheme: Scheme,
    authority: Authority,
    /// Without a trailing slash; empty when the URL has no path.
    prefix: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Target {
    pub fn new(up: &Upstream) -> anyhow::Result<Self> {
        let scheme = up.url.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = up
            .url
            .authority()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("upstream URL {} has no host", up.url))?;
        let prefix = up.url.path().trim_end_matches('/').to_string();
        Ok(Self {
            scheme,
            authority,
            prefix,
            timeout: up.timeout,
            connect_timeout: up.connect_timeout,
        })
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Plain `http://`: no TLS, so no ALPN and never h2 on the upstream leg.
    pub fn is_plain_http(&self) -> bool {
        self.scheme == Scheme::HTTP
    }

    /// The upstream URI for a request's path and query.
    pub fn uri(&self, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        let builder = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone());
        match (pq, self.prefix.is_empty()) {
            // The common case: no prefix, and a `PathAndQuery` clone is a reference count.
            (Some(pq), true) => builder.path_and_query(pq.clone()).build(),
            (pq, _) => {
                let rest = pq.map_or("/", |p| p.as_str());
                builder
                    .path_and_query(format!("{}{}", self.prefix, rest))
                    .build()
            }
        }
    }
}

/// The connector of both legs: plain TCP for `http://`, rustls for `https://` (SNI from the URL,
/// ALPN h2 or http/1.1), each connection under the upstream's cap.
pub type Connector = CappedConnector<HttpsConnector<HttpConnector>>;

/// A pooled HTTP client: TCP_NODELAY, connect timeout, and an idle timeout that actually fires
/// (hyper-util's pool needs a timer for that, or idle connections are only reaped on reuse).
pub fn client<B>(up: &Upstream, cap: &Arc<ConnectionCap>) -> anyhow::Result<Client<Connector, B>>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(up.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    // `https://` URLs need the TLS layer to see them.
    http.enforce_http(false);
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(crate::net::tls::client_config(up)?)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let connector = CappedConnector::new(connector, cap.clone());
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(up.pool_idle_timeout)
        .pool_max_idle_per_host(up.pool_max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector))
}

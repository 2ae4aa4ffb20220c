//! Upstreams: where each leg's requests go ([`Target`]), the pooled client, a client
//! connection's own lanes to v1 and v2, how the mirrored copy is shaped, and the breaker that
//! stops mirroring while v2 is failing.

pub mod breaker;
pub mod cap;
pub mod capped;
pub mod lane;
pub mod plain;
pub mod raw;
pub mod retry;
pub mod shaping;
pub mod shelf;

use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use config::{Upstream, UpstreamProtocol};

use crate::upstream::cap::ConnectionCap;
use crate::upstream::capped::CappedConnector;
use crate::upstream::lane::LaneShelf;
use crate::upstream::raw::RawConn;
use crate::upstream::shelf::Shelf;

/// Where a leg's requests go: scheme and authority, plus an optional path prefix.
#[derive(Debug, Clone)]
pub struct Target {
    scheme: Scheme,
    authority: Authority,
    /// Without a trailing slash; empty when the URL has no path.
    prefix: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub protocol: UpstreamProtocol,
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
            protocol: up.protocol,
        })
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// HTTP/1.1 over plain TCP (`http://`, protocol `auto` or `http1`): a client connection
    /// may keep its own connection here (`lane.rs`).
    pub fn uses_lanes(&self) -> bool {
        self.scheme == Scheme::HTTP
            && matches!(
                self.protocol,
                UpstreamProtocol::Auto | UpstreamProtocol::Http1
            )
    }

    /// The URL's path, without a trailing slash, that goes before every request's path.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `https://`.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// Only HTTP/1.1 can reach it: no HTTP/2 stream, so no gRPC.
    pub fn http1_only(&self) -> bool {
        match self.protocol {
            UpstreamProtocol::Http1 => true,
            UpstreamProtocol::Auto => self.scheme == Scheme::HTTP,
            UpstreamProtocol::H2c | UpstreamProtocol::H2 => false,
        }
    }

    /// The upstream URI for a request's path and query.
    pub fn uri(&self, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        self.uri_as(&self.authority, pq)
    }

    /// The URI of a pooled request: its authority is the `Host` the request carries (taken out
    /// of the headers), so that over HTTP/2 `:authority` says what `Host` would have said and no
    /// `host` field goes beside it; the connector still dials this target. Without a usable Host,
    /// the target's own authority.
    pub fn pooled_uri(
        &self,
        pq: Option<&PathAndQuery>,
        headers: &mut http::HeaderMap,
    ) -> Result<Uri, http::Error> {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| Authority::try_from(h.as_bytes()).ok());
        let uri = self.uri_as(host.as_ref().unwrap_or(&self.authority), pq)?;
        headers.remove(http::header::HOST);
        Ok(uri)
    }

    fn uri_as(&self, authority: &Authority, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        let builder = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(authority.clone());
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

/// The most a pooled v2 connection (TLS, h2, or a mirror whose client connection's plain one is
/// busy) buffers of a response before the mirror reads it: bounds what a mirror in flight holds
/// outside the byte budget (hyper's default is about 400 KiB; the plain leg reads 16 KiB at a
/// time).
pub const CANDIDATE_READ_BUFFER: usize = 64 * 1024;

/// hyper's own default read buffer cap (`http1_max_buf_size`), kept for v1.
const DEFAULT_READ_BUFFER: usize = 8192 + 4096 * 100;

/// The connector of both legs: plain TCP for `http://`, rustls for `https://` (SNI from the
/// target, ALPN as `protocol` says), each connection to the target under the upstream's cap.
pub type Connector = CappedConnector<HttpsConnector<HttpConnector>>;

/// A pooled HTTP client: TCP_NODELAY, connect timeout, and an idle timeout that actually fires
/// (hyper-util's pool needs a timer for that, or idle connections are only reaped on reuse).
pub fn client<B>(
    up: &Upstream,
    cap: &Arc<ConnectionCap>,
    read_buffer: Option<usize>,
) -> anyhow::Result<Client<Connector, B>>
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
    let tls = HttpsConnectorBuilder::new()
        .with_tls_config(crate::net::tls::client_config(up)?)
        .https_or_http();
    let connector = match up.protocol {
        UpstreamProtocol::Auto => tls.enable_http1().enable_http2().wrap_connector(http),
        UpstreamProtocol::Http1 => tls.enable_http1().wrap_connector(http),
        UpstreamProtocol::H2c | UpstreamProtocol::H2 => tls.enable_http2().wrap_connector(http),
    };
    let target = Target::new(up)?;
    let connector = CappedConnector::new(connector, cap.clone(), target.authority.clone());
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(up.pool_idle_timeout)
        .pool_max_idle_per_host(up.pool_max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http1_max_buf_size(read_buffer.unwrap_or(DEFAULT_READ_BUFFER))
        // Prior knowledge on `h2c`; on `h2` ALPN offers nothing else anyway.
        .http2_only(matches!(
            up.protocol,
            UpstreamProtocol::H2c | UpstreamProtocol::H2
        ));
    Ok(builder.build(connector))
}

/// The shelves a client connection's lanes take from and leave their connection on: to v1, to
/// v2 for mirrors, to v2 for the requests a canary serves. They outlive reloads, as the caps do.
pub struct Shelves<P> {
    pub primary: Arc<LaneShelf<P>>,
    /// Plain connections to v2 for mirrors (`raw.rs`, `plain.rs`).
    pub mirror: Arc<Shelf<RawConn>>,
    pub serve: Arc<LaneShelf<P>>,
    /// The relay's plain connections to v1 (`raw.rs`).
    pub raw: Arc<Shelf<RawConn>>,
}

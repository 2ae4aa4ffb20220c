//! A small HTTP client for the control plane — Prometheus gate queries, rollback webhooks and
//! `shadowdiff ctl` — apart from the legs' pools: its calls are rare, and must never take a
//! connection or a cap slot that serves traffic.

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Answers bigger than this are refused: a gate reads one number, `ctl` one status.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Fetcher {
    pub fn new() -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let tls = HttpsConnectorBuilder::new()
            .with_tls_config(crate::net::tls::public_client_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(tls),
        })
    }

    /// Send `req` and read the whole answer within `timeout`.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let uri = req.uri().clone();
        let exchange = async {
            let resp = self.client.request(req).await?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            anyhow::Ok((status, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {timeout:?}"))
            .and_then(|r| r)
            .with_context(|| format!("{uri}"))
    }
}

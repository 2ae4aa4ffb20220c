//! A real gRPC service (tonic, from `proto/quotes.proto`) to put behind the proxy: one method of
//! each streaming kind, errors with text and binary metadata, delays, large messages. A
//! [`Behaviour`] makes a v2 differ from v1 on purpose.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_stream::{Stream, StreamExt};
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::{Code, Request, Response, Status, Streaming};

pub mod pb {
    tonic::include_proto!("quotes.v1");
}

use pb::quotes_server::{Quotes, QuotesServer};
use pb::{ListRequest, Quote, QuoteRequest, Summary, Trade};

/// The descriptor set of `quotes.proto`, as `[grpc] descriptor_set` reads it.
pub const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/quotes.bin"));

/// How a server answers; the default is v1's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Behaviour {
    /// Added to every price (a v2 that changed one field).
    pub price_offset: f64,
    /// Every stream ends with this status instead of OK (a v2 that fails differently).
    pub stream_end: Option<Code>,
}

#[derive(Clone)]
struct Service(Behaviour);

type QuoteStream = Pin<Box<dyn Stream<Item = Result<Quote, Status>> + Send>>;

fn failure(code: u32, symbol: &str) -> Status {
    let mut status = Status::new(Code::from(code as i32), format!("quote failed: {symbol}"));
    status
        .metadata_mut()
        .insert("x-detail", MetadataValue::from_static("why-not"));
    status.metadata_mut().insert_bin(
        "x-detail-bin",
        BinaryMetadataValue::from_bytes(&[0, 1, 2, 255]),
    );
    status
}

#[tonic::async_trait]
impl Quotes for Service {
    async fn get_quote(&self, req: Request<QuoteRequest>) -> Result<Response<Quote>, Status> {
        let q = req.into_inner();
        tokio::time::sleep(Duration::from_millis(q.delay_ms.into())).await;
        if q.fail_code != 0 {
            return Err(failure(q.fail_code, &q.symbol));
        }
        Ok(Response::new(Quote {
            symbol: q.symbol,
            price: 10.5 + self.0.price_offset,
            id: 9_007_199_254_740_993,
            blob: vec![7; q.size as usize],
        }))
    }

    type ListQuotesStream = QuoteStream;

    async fn list_quotes(
        &self,
        req: Request<ListRequest>,
    ) -> Result<Response<Self::ListQuotesStream>, Status> {
        let q = req.into_inner();
        let (tx, rx) = mpsc::channel(4);
        let behaviour = self.0;
        tokio::spawn(async move {
            for i in 0..q.count {
                tokio::time::sleep(Duration::from_millis(q.delay_ms.into())).await;
                let quote = Quote {
                    symbol: q.symbol.clone(),
                    price: f64::from(i) + behaviour.price_offset,
                    id: i64::from(i),
                    blob: Vec::new(),
                };
                if tx.send(Ok(quote)).await.is_err() {
                    return;
                }
            }
            let end = match (behaviour.stream_end, q.fail_code) {
                (Some(code), _) => Some(Status::new(code, "ended by v2")),
                (None, 0) => None,
                (None, code) => Some(failure(code, &q.symbol)),
            };
            if let Some(status) = end {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn record_trades(
        &self,
        req: Request<Streaming<Trade>>,
    ) -> Result<Response<Summary>, Status> {
        let mut trades = req.into_inner();
        let (mut total, mut count) = (0i64, 0u32);
        while let Some(t) = trades.next().await {
            total += t?.qty;
            count += 1;
        }
        Ok(Response::new(Summary { total, count }))
    }

    type ChatStream = QuoteStream;

    async fn chat(
        &self,
        req: Request<Streaming<Quote>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let offset = self.0.price_offset;
        let out = req.into_inner().map(move |q| {
            q.map(|mut q| {
                q.price = q.price * 2.0 + offset;
                q
            })
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// A gRPC server over h2c (HTTP/2 with prior knowledge) on an ephemeral port.
pub async fn serve_h2c(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(QuotesServer::new(Service(behaviour)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// The same server over TLS (ALPN h2) with `issued`'s certificate.
pub async fn serve_tls(behaviour: Behaviour, issued: &crate::tls::Issued) -> SocketAddr {
    let mut cfg = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            crate::tls::certs(&issued.cert),
            crate::tls::key(&issued.key),
        )
        .expect("certificate");
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let routes = tonic::service::Routes::new(QuotesServer::new(Service(behaviour))).prepare();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, routes) = (acceptor.clone(), routes.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(routes);
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
            });
        }
    });
    addr
}

/// A client for `addr` over h2c.
pub async fn client(
    addr: SocketAddr,
) -> pb::quotes_client::QuotesClient<tonic::transport::Channel> {
    pb::quotes_client::QuotesClient::connect(format!("http://{addr}"))
        .await
        .expect("gRPC client connects")
}

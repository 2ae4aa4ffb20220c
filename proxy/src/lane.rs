//! A client connection's own HTTP/1.1 connection to v1 (plain `http://` upstreams).
//!
//! An HTTP/1.1 client sends one request at a time on a connection, so one upstream connection
//! per client connection is always enough, and handing it straight back to the same client's
//! next request needs no shared pool: no checkout future, no pool lock, no key hashing, and no
//! task spawned per response to notice when the connection is idle again (all of which the
//! pooled client does on every request). The upstream connection lives and dies with the client
//! connection. h2 clients (many streams on one connection) and `https://` upstreams keep using
//! the pooled client.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::capture::TeeBody;

type Body = TeeBody<Incoming>;

/// Why the lane could not deliver a request.
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    #[error("connecting to {authority}: {source}")]
    Connect {
        authority: Authority,
        source: std::io::Error,
    },
    #[error("connecting to {authority}: timed out after {timeout:?}")]
    ConnectTimeout {
        authority: Authority,
        timeout: Duration,
    },
    #[error("HTTP/1.1 handshake with {authority}: {source}")]
    Handshake {
        authority: Authority,
        source: hyper::Error,
    },
    #[error("exchange with v1: {0}")]
    Send(#[source] hyper::Error),
}

impl LaneError {
    /// v1 could not be reached at all (as opposed to failing mid-exchange).
    pub fn is_connect(&self) -> bool {
        !matches!(self, LaneError::Send(_))
    }
}

/// The connection kept between a client's requests, and where it goes.
struct Kept {
    authority: Authority,
    sender: http1::SendRequest<Body>,
}

/// One per client connection.
#[derive(Default)]
pub struct Lane {
    kept: Mutex<Option<Kept>>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

impl Lane {
    /// Send `req` (origin-form URI, `Host` set) to `authority`, on the kept connection when it is
    /// still open and goes there, else on a new one.
    pub async fn send(
        &self,
        authority: &Authority,
        connect_timeout: Duration,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, LaneError> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|k| k.authority == *authority);
        let reused = match kept {
            // Ready once v1's previous response has been read to its end; an error means v1
            // closed the connection while it was idle.
            Some(mut k) => k.sender.ready().await.is_ok().then_some(k.sender),
            None => None,
        };
        let fresh = reused.is_none();
        let mut sender = match reused {
            Some(s) => s,
            None => connect(authority, connect_timeout).await?,
        };
        let resp = match sender.try_send_request(req).await {
            Ok(resp) => resp,
            Err(mut e) => match (fresh, e.take_message()) {
                // v1 closed an idle connection just as we wrote to it, and the request never
                // left: send it once more on a new connection (the pooled client does the same).
                (false, Some(req)) => {
                    sender = connect(authority, connect_timeout).await?;
                    sender.send_request(req).await.map_err(LaneError::Send)?
                }
                _ => return Err(LaneError::Send(e.into_error())),
            },
        };
        *self.kept.lock().unwrap_or_else(PoisonError::into_inner) = Some(Kept {
            authority: authority.clone(),
            sender,
        });
        Ok(resp)
    }
}

async fn connect(
    authority: &Authority,
    timeout: Duration,
) -> Result<http1::SendRequest<Body>, LaneError> {
    let port = authority.port_u16().unwrap_or(80);
    // IP literals are parsed in place; names are resolved (off the runtime) by tokio.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => s,
        Ok(Err(source)) => {
            return Err(LaneError::Connect {
                authority: authority.clone(),
                source,
            })
        }
        Err(_) => {
            return Err(LaneError::ConnectTimeout {
                authority: authority.clone(),
                timeout,
            })
        }
    };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|source| LaneError::Handshake {
            authority: authority.clone(),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "v1 connection ended with an error");
        }
    });
    Ok(sender)
}

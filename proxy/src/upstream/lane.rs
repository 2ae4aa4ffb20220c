//! A client connection's own HTTP/1.1 connection to v1 (plain `http://` upstreams).
//!
//! An HTTP/1.1 client sends one request at a time on a connection, so one upstream connection
//! per client connection is always enough, and handing it straight back to the same client's
//! next request needs no shared pool: no checkout future, no pool lock, no key hashing, and no
//! task spawned per response to notice when the connection is idle again (all of which the
//! pooled client does on every request). The upstream connection lives and dies with the client
//! connection. h2 clients (many streams on one connection) and `https://` upstreams keep using
//! the pooled client.
//!
//! When a client connection ends, its lanes put their idle connection on the upstream's
//! [`Shelf`], where the next client connection's lane finds it before dialling: a client that
//! sends one request per connection costs v1 no connection of its own (nginx's upstream
//! `keepalive` pool does the same).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::uri::Authority;
use http::{HeaderMap, Request, Response, Uri};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::net::response::expiry_of;
use crate::upstream::cap::{self, ConnectionCap, Overloaded, Reclaim};
use crate::upstream::shelf::{Shelf, Shelved};

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
    #[error("exchange: {0}")]
    Send(#[source] hyper::Error),
    #[error(transparent)]
    Overloaded(Overloaded),
    /// The relay's exchange on a plain connection broke (`before_response`: no byte of an
    /// answer had arrived).
    #[error("exchange: {source}")]
    Io {
        source: std::io::Error,
        before_response: bool,
    },
    /// The relay read an answer it cannot pass on.
    #[error("invalid response: {0}")]
    Invalid(&'static str),
    /// The client's request body, read by the relay, stalled or ended early.
    #[error("request body: {0}")]
    ClientBody(#[source] ClientBody),
}

/// How a client's request body failed on the relay.
#[derive(Debug, thiserror::Error)]
pub enum ClientBody {
    #[error("stalled")]
    Stalled(#[source] crate::net::idle::Stalled),
    #[error("the client closed before its body ended")]
    Ended,
}

impl LaneError {
    /// The upstream could not be reached at all (as opposed to failing mid-exchange).
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            LaneError::Connect { .. }
                | LaneError::ConnectTimeout { .. }
                | LaneError::Handshake { .. }
        )
    }
}

/// The connection kept between a client's requests, and where it goes.
pub struct Kept<B> {
    authority: Authority,
    sender: Conn<B>,
    /// Past this the upstream may close it (its `Keep-Alive: timeout=N`): not reused then.
    expires: Option<Instant>,
}

/// An open connection and its slot under the upstream's connection cap.
type Conn<B> = (http1::SendRequest<B>, cap::Slot);

struct State<B> {
    kept: Option<Kept<B>>,
    /// Known to the cap as a keeper of idle connections (see `cap.rs`).
    registered: bool,
}

impl<B> State<B> {
    /// The kept connection, if it goes to `authority` (a reload may have moved the upstream).
    fn take_for(&mut self, authority: &Authority) -> Option<Conn<B>> {
        self.kept
            .take()
            .filter(|k| k.authority == *authority)
            .filter(|k| k.expires.is_none_or(|at| Instant::now() < at))
            .map(|k| k.sender)
    }

    fn keep(&mut self, authority: &Authority, sender: Conn<B>, expires: Option<Instant>) {
        self.kept = Some(Kept {
            authority: authority.clone(),
            sender,
            expires,
        });
    }
}

/// One per client connection and leg.
pub struct Lane<B> {
    slot: Mutex<State<B>>,
    /// Where its idle connection goes when the client connection ends (none: it closes).
    shelf: Option<Arc<LaneShelf<B>>>,
}

impl<B> Default for Lane<B> {
    fn default() -> Self {
        Self::with(None)
    }
}

impl<B> Lane<B> {
    /// A lane that takes idle connections from `shelf` and leaves its own there.
    pub fn shelved(shelf: &Arc<LaneShelf<B>>) -> Self {
        Self::with(Some(shelf.clone()))
    }

    fn with(shelf: Option<Arc<LaneShelf<B>>>) -> Self {
        Self {
            slot: Mutex::new(State {
                kept: None,
                registered: false,
            }),
            shelf,
        }
    }
}

impl<B> Drop for Lane<B> {
    fn drop(&mut self) {
        let kept = self
            .slot
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .kept
            .take();
        if let (Some(shelf), Some(kept)) = (&self.shelf, kept) {
            shelf.put(kept);
        }
    }
}

/// Where lanes of body type `B` leave their idle connection.
pub type LaneShelf<B> = Shelf<Kept<B>>;

/// A lane's connection waits on a shelf while idle and open.
impl<B> Shelved for Kept<B> {
    fn keepable(&self, now: Instant) -> bool {
        self.sender.0.is_ready() && self.expires.is_none_or(|at| now < at)
    }

    fn usable(&self, authority: &Authority, now: Instant) -> bool {
        self.authority == *authority
            && !self.sender.0.is_closed()
            && self.expires.is_none_or(|at| now < at)
    }
}

impl<B> std::fmt::Debug for Lane<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

impl<B> Lane<B> {
    fn slot(&self) -> std::sync::MutexGuard<'_, State<B>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B: Send + 'static> Reclaim for Lane<B> {
    fn reclaim_idle(&self) -> bool {
        // Only a connection kept between requests: one in use is not in the slot.
        self.slot().kept.take().is_some()
    }
}

/// Where a lane's connections go, and under which cap.
pub struct Dial<'a> {
    pub authority: &'a Authority,
    pub connect_timeout: Duration,
    pub cap: &'a Arc<ConnectionCap>,
}

impl<B> Lane<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Send `req` to `authority` on the kept connection when it is still open and goes there,
    /// else on a new one, and keep that connection for the next request. The connection is
    /// handed back once the response head is in: the next request waits (briefly) until this
    /// response's body has been read.
    pub async fn send(
        self: &Arc<Self>,
        dial: &Dial<'_>,
        req: Request<B>,
    ) -> Result<Response<Incoming>, LaneError> {
        let kept = self.slot().take_for(dial.authority);
        let mut sender = kept.or_else(|| Some(self.shelf.as_ref()?.take(dial.authority)?.sender));
        let resp = exchange(&mut sender, dial, req).await;
        if let (Some(s), Ok(r)) = (sender, &resp) {
            let mut slot = self.slot();
            slot.keep(dial.authority, s, expiry(r.headers()));
            if !std::mem::replace(&mut slot.registered, true) {
                let me: Arc<dyn Reclaim> = self.clone();
                dial.cap.register(Arc::downgrade(&me));
            }
        }
        resp
    }
}

/// When a kept connection should no longer be reused: a little before the upstream's announced
/// `Keep-Alive: timeout=N` runs out, so the request is not written onto a connection it is
/// closing. `None` when it announced none.
fn expiry(headers: &HeaderMap) -> Option<Instant> {
    expiry_of(headers.get("keep-alive")?.as_bytes())
}

/// One exchange on `sender` (a kept connection) or, when it is gone or closed, on a new one,
/// which is left in `sender`.
async fn exchange<B>(
    sender: &mut Option<Conn<B>>,
    dial: &Dial<'_>,
    mut req: Request<B>,
) -> Result<Response<Incoming>, LaneError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // On a connection of our own the request line carries the origin form; `Host` has the
    // authority.
    if let Some(pq) = req
        .uri()
        .path_and_query()
        .filter(|_| req.uri().scheme().is_some())
    {
        *req.uri_mut() = Uri::from(pq.clone());
    }
    let reused = match sender.take() {
        // Ready once the previous response has been read to its end; an error means the peer
        // closed the connection while it was idle.
        Some(mut s) => s.0.ready().await.is_ok().then_some(s),
        None => None,
    };
    let fresh = reused.is_none();
    let mut s = match reused {
        Some(s) => s,
        None => connect(dial).await?,
    };
    let resp = match s.0.try_send_request(req).await {
        Ok(resp) => resp,
        Err(mut e) => match (fresh, e.take_message()) {
            // The peer closed an idle connection just as we wrote to it, and the request never
            // left: send it once more on a new connection (the pooled client does the same).
            (false, Some(req)) => {
                s = connect(dial).await?;
                s.0.send_request(req).await.map_err(LaneError::Send)?
            }
            _ => return Err(LaneError::Send(e.into_error())),
        },
    };
    *sender = Some(s);
    Ok(resp)
}

async fn connect<B>(dial: &Dial<'_>) -> Result<Conn<B>, LaneError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // The slot first: at the cap no connect is even tried.
    let slot = dial.cap.acquire().await.map_err(LaneError::Overloaded)?;
    let stream = dial_tcp(dial.authority, dial.connect_timeout).await?;
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|source| LaneError::Handshake {
            authority: dial.authority.clone(),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok((sender, slot))
}

/// A TCP connection to `authority` within `timeout`, Nagle off.
pub async fn dial_tcp(authority: &Authority, timeout: Duration) -> Result<TcpStream, LaneError> {
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
    Ok(stream)
}

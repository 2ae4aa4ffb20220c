//! The client side of the v1 path: how the client reached us, and the fix-ups every request
//! gets before it leaves for an upstream.

use std::net::SocketAddr;
use std::sync::Arc;

use http::request::Parts;
use http::{header, HeaderValue};

use crate::net::headers::{add_forwarded, peer_value, strip_hop_by_hop};
use crate::state::PrimaryBody;
use crate::upstream::lane::Lane;
use crate::upstream::raw::Keeper;
use crate::upstream::Shelves;

/// How the client reached us, for `X-Forwarded-For` and `X-Forwarded-Proto`, and its lanes;
/// made once per connection and shared by its requests (one reference count each).
#[derive(Debug)]
pub struct Inbound {
    pub peer: SocketAddr,
    /// The peer's IP as a header value, made once per connection.
    pub peer_value: HeaderValue,
    pub proto: &'static str,
    /// This connection's own connections to v1 and v2 (HTTP/1.x clients, `http://` upstreams).
    pub lane: Arc<Lane<PrimaryBody>>,
    pub mirror_lane: Arc<Keeper>,
    /// Its own connection to v2 for the requests a canary serves from v2.
    pub serve_lane: Arc<Lane<PrimaryBody>>,
}

impl Inbound {
    pub fn new(peer: SocketAddr, proto: &'static str, shelves: &Shelves<PrimaryBody>) -> Self {
        Self {
            peer,
            peer_value: peer_value(peer.ip()),
            proto,
            lane: Arc::new(Lane::shelved(&shelves.primary)),
            mirror_lane: Keeper::new(&shelves.mirror),
            serve_lane: Arc::new(Lane::shelved(&shelves.serve)),
        }
    }

    /// Host from `:authority` for h2 clients, hop-by-hop headers out, `X-Forwarded-*` in.
    pub fn prepare(&self, parts: &mut Parts) {
        // HTTP/2 clients send :authority, not Host; v1 still deserves the name the client used.
        if !parts.headers.contains_key(header::HOST) {
            if let Some(host) = parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                parts.headers.insert(header::HOST, host);
            }
        }
        strip_hop_by_hop(&mut parts.headers);
        add_forwarded(&mut parts.headers, &self.peer_value, self.proto);
    }
}

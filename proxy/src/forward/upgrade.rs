//! Protocol upgrades (WebSocket and the like): the request goes to v1 with its `Upgrade` and
//! `Connection: upgrade` intact, is never mirrored (a handshake replayed to v2 would open a second
//! session), and on v1's 101 the two connections become one tunnel, bytes both ways until either
//! side closes.

use http::header::{CONNECTION, UPGRADE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// A request asking to switch protocols: HTTP/1.1, `Connection` naming `upgrade`, an `Upgrade`.
pub struct Upgrade {
    protocol: HeaderValue,
    client: OnUpgrade,
}

impl Upgrade {
    /// Take the upgrade out of the request, before its hop-by-hop headers go.
    pub fn take(parts: &mut Parts) -> Option<Self> {
        if parts.version != Version::HTTP_11 || !names_upgrade(&parts.headers) {
            return None;
        }
        let protocol = parts.headers.get(UPGRADE)?.clone();
        let client = parts.extensions.remove::<OnUpgrade>()?;
        Some(Self { protocol, client })
    }

    /// Put the upgrade back on the request v1 gets (its hop-by-hop headers are gone by now).
    pub fn restore(&self, headers: &mut HeaderMap) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, self.protocol.clone());
    }

    /// v1 answered. On 101, join the client's connection and v1's in a tunnel; the protocol to
    /// name in the client's 101 (put back with [`Upgrade::switched`] once the hop-by-hop headers
    /// are gone). Otherwise `None`: the answer is an ordinary one.
    pub fn answered(self, resp: &mut Response<Incoming>) -> Option<HeaderValue> {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return None;
        }
        let protocol = resp
            .headers()
            .get(UPGRADE)
            .cloned()
            .unwrap_or(self.protocol);
        let v1 = resp.extensions_mut().remove::<OnUpgrade>()?;
        let client = self.client;
        tokio::spawn(async move {
            let (client, v1) = match tokio::try_join!(client, v1) {
                Ok(both) => both,
                Err(e) => {
                    tracing::debug!(error = %e, "upgrade did not complete");
                    return;
                }
            };
            let (mut client, mut v1) = (TokioIo::new(client), TokioIo::new(v1));
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut v1).await {
                tracing::debug!(error = %e, "upgraded connection ended with an error");
            }
        });
        Some(protocol)
    }

    /// The client's 101 names the protocol it switches to.
    pub fn switched(headers: &mut HeaderMap, protocol: HeaderValue) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, protocol);
    }
}

fn names_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

//! When an upstream request may be sent once more (RFC 9110 §9.2.2): the connection broke before
//! any response byte arrived — typically a reused keep-alive connection that the upstream closed
//! just as the request was written — and sending it again cannot do what the first did not
//! already do (an idempotent method, and a body that is held whole).

use std::error::Error;
use std::io::ErrorKind;

use http::{Method, Request};

/// The same request head with `body`: what a second attempt sends (`Request` is not `Clone`:
/// its extensions are not, and a retry needs none of them).
pub fn resend<A, B>(req: &Request<A>, body: B) -> Request<B> {
    let mut again = Request::new(body);
    *again.method_mut() = req.method().clone();
    *again.uri_mut() = req.uri().clone();
    *again.version_mut() = req.version();
    *again.headers_mut() = req.headers().clone();
    again
}

/// GET, HEAD, OPTIONS, TRACE, PUT and DELETE: repeating them has the effect of sending them once.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Did the connection close or reset before a response head arrived? Somewhere in `e`'s chain
/// there is hyper's "closed before a message could complete" / "connection closed" / "request
/// canceled", or a reset or broken-pipe I/O error. A response that arrived but could not be
/// parsed is not this: the upstream did answer.
pub fn closed_before_response(e: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_user() || h.is_timeout() {
                return false;
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return true;
            }
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            );
        }
        cause = c.source();
    }
    false
}

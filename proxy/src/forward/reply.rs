//! What the client gets back: v1's streamed body, or a short error of the proxy's own.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::tee::TeeBody;

/// v1's streamed body, or a short error body of the proxy's own.
pub type ProxyBody = Either<TeeBody<Incoming>, Full<Bytes>>;

/// A short plain-text response of the proxy's own.
pub fn error(status: StatusCode, msg: &'static str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from_static(msg.as_bytes()))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

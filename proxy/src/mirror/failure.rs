//! How an exchange with v2 failed, before it is reduced to a label.

use crate::observe::outcome::CandidateErrorKind;
use crate::tee::CaptureEnd;
use crate::upstream::cap::Overloaded;
use crate::upstream::lane::LaneError;
use crate::upstream::plain::PlainError;
use crate::upstream::retry::closed_before_response;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("request: {0}")]
    Request(Box<hyper_util::client::legacy::Error>),
    #[error("request: {0}")]
    Lane(LaneError),
    #[error("body: {0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    #[error("timed out")]
    Timeout,
    #[error("body over the capture cap")]
    TooLarge,
    #[error("pending-bytes budget exhausted")]
    Overloaded,
    /// Every connection to v2 was in use: v2 was never asked.
    #[error("connection cap reached")]
    Capped,
}

impl Failure {
    pub fn from_lane(e: LaneError) -> Self {
        match e {
            LaneError::Overloaded(_) => Failure::Capped,
            e => Failure::Lane(e),
        }
    }

    /// A plain connection's failure (`upstream/plain.rs`).
    pub fn from_plain(e: PlainError) -> Self {
        match e {
            PlainError::Lane(e) => Self::from_lane(e),
            PlainError::Capture(CaptureEnd::Overloaded) => Failure::Overloaded,
            PlainError::Capture(_) => Failure::TooLarge,
        }
    }

    pub fn from_pool(e: hyper_util::client::legacy::Error) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<Overloaded>() {
                return Failure::Capped;
            }
            cause = c.source();
        }
        Failure::Request(Box::new(e))
    }

    /// The connection broke before v2 sent a byte of its answer (see `upstream/retry.rs`).
    pub fn closed_before_response(&self) -> bool {
        match self {
            Failure::Request(e) => !e.is_connect() && closed_before_response(e.as_ref()),
            Failure::Lane(LaneError::Send(e)) => closed_before_response(e),
            Failure::Lane(LaneError::Io {
                before_response, ..
            }) => *before_response,
            Failure::Lane(_)
            | Failure::Body(_)
            | Failure::Timeout
            | Failure::TooLarge
            | Failure::Overloaded
            | Failure::Capped => false,
        }
    }

    pub fn kind(&self) -> CandidateErrorKind {
        match self {
            Failure::Timeout => CandidateErrorKind::Timeout,
            Failure::Request(e) if e.is_connect() => CandidateErrorKind::Connect,
            Failure::Request(e) => hyper_kind(std::error::Error::source(e.as_ref())),
            Failure::Lane(e) if e.is_connect() => CandidateErrorKind::Connect,
            Failure::Lane(LaneError::Invalid(_)) => CandidateErrorKind::Protocol,
            Failure::Lane(e) => hyper_kind(std::error::Error::source(e)),
            Failure::Body(e) => hyper_kind(Some(e.as_ref())),
            // Counted as skips, not errors; never reached through `kind`.
            Failure::TooLarge | Failure::Overloaded | Failure::Capped => {
                CandidateErrorKind::Protocol
            }
        }
    }
}

/// Reset when the connection broke, protocol when v2 sent something that is not HTTP.
fn hyper_kind(source: Option<&(dyn std::error::Error + 'static)>) -> CandidateErrorKind {
    match source.and_then(|e| e.downcast_ref::<hyper::Error>()) {
        Some(h) if h.is_parse() || h.is_parse_status() || h.is_user() => {
            CandidateErrorKind::Protocol
        }
        _ => CandidateErrorKind::Reset,
    }
}

//! The access log (`log.access_log`, `--access-log`): one line per request, target
//! `shadowdiff::access`, written when the request's story ends — at v1's response for requests
//! that are not mirrored, and when the verdict is known for those that are.

use std::fmt;
use std::time::Duration;

use http::Method;

use crate::observe::outcome::SkipReason;

/// How the request's story ended (the `verdict` field).
#[derive(Debug, Clone, Copy)]
pub enum Verdict {
    NotMirrored,
    Match,
    Mismatch,
    /// Every difference was learned noise (`noise.suppress`).
    Noise,
    Skipped(SkipReason),
    /// The client went away before the response (logged with status 499).
    Cancelled,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::NotMirrored => f.write_str("not_mirrored"),
            Verdict::Match => f.write_str("match"),
            Verdict::Mismatch => f.write_str("mismatch"),
            Verdict::Noise => f.write_str("noise"),
            Verdict::Skipped(r) => write!(f, "skipped:{}", r.as_str()),
            Verdict::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// One access-log line; what a leg did not produce is logged as absent.
pub struct Line<'a> {
    route: &'a str,
    method: &'a Method,
    path: &'a str,
    primary: Option<(u16, Duration)>,
    candidate: Option<(u16, Duration)>,
}

impl<'a> Line<'a> {
    pub fn new(route: &'a str, method: &'a Method, path: &'a str) -> Self {
        Self {
            route,
            method,
            path,
            primary: None,
            candidate: None,
        }
    }

    /// v1's status and time to response headers.
    pub fn primary(mut self, status: u16, elapsed: Duration) -> Self {
        self.primary = Some((status, elapsed));
        self
    }

    /// v2's status and time to its whole response.
    pub fn candidate(mut self, status: u16, elapsed: Duration) -> Self {
        self.candidate = Some((status, elapsed));
        self
    }

    pub fn log(&self, verdict: Verdict) {
        let status = |leg: Option<(u16, Duration)>| leg.map(|(s, _)| s);
        let ms = |leg: Option<(u16, Duration)>| leg.map(|(_, d)| d.as_secs_f64() * 1000.0);
        tracing::info!(
            target: "shadowdiff::access",
            route = self.route,
            method = %self.method,
            path = self.path,
            status = status(self.primary),
            primary_ms = ms(self.primary),
            candidate_status = status(self.candidate),
            candidate_ms = ms(self.candidate),
            verdict = %verdict,
        );
    }
}

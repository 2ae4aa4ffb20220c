//! The access log (`log.access_log`, `--access-log`): one line per request, target
//! `shadowdiff::access`, written when the request's story ends — at v1's response for requests
//! that are not mirrored, and when the verdict is known for those that are.

use std::time::Duration;

use http::Method;

/// One access-log line; absent fields are logged as such.
pub struct Line<'a> {
    pub route: &'a str,
    pub method: &'a Method,
    pub path: &'a str,
    pub status: Option<u16>,
    pub primary: Option<Duration>,
    pub candidate_status: Option<u16>,
    pub candidate: Option<Duration>,
    /// `not_mirrored`, `match`, `mismatch`, or `skipped:<reason>`.
    pub verdict: &'a str,
}

pub fn log(l: &Line<'_>) {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    tracing::info!(
        target: "shadowdiff::access",
        route = l.route,
        method = %l.method,
        path = l.path,
        status = l.status,
        primary_ms = ms(l.primary),
        candidate_status = l.candidate_status,
        candidate_ms = ms(l.candidate),
        verdict = l.verdict,
    );
}

//! Routes: which policy a request falls under (first match wins, else `default`), and whether it
//! is sampled for mirroring.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use http::{HeaderMap, Method};
use rand::Rng;
use tokio::sync::Semaphore;

use config::SampleBy;
use diff_engine::RuleSet;

use crate::metrics::RouteMetrics;
use crate::redact::Redactor;
use crate::stats::RouteStats;

/// The `route` label of requests no configured route matches.
pub const DEFAULT_ROUTE: &str = "default";

/// Sampling resolution: parts per million, so fractional percentages (0.05 %) are exact.
const PPM: u32 = 1_000_000;

pub fn percent_to_ppm(percent: f64) -> u32 {
    (percent.clamp(0.0, 100.0) * 10_000.0).round() as u32
}

/// A route as the request path sees it: matcher, live mirror share, rules, series.
pub struct RouteRuntime {
    pub name: String,
    matcher: Matcher,
    /// Live share, changed by `PUT /api/mirror-percent` without a reload.
    percent_ppm: AtomicU32,
    pub allow_unsafe_methods: bool,
    sample_by: SampleBy,
    pub rules: Arc<RuleSet>,
    pub metrics: RouteMetrics,
    pub stats: Arc<RouteStats>,
    /// What mismatch records of this route may show (`[report]`, shared by all routes).
    pub redact: Arc<Redactor>,
    /// This route's own in-flight mirror cap (`routes[].max_in_flight_mirrors`), if any.
    pub in_flight: Option<Arc<Semaphore>>,
    /// Write access-log lines for this route's requests (`log.access_log`).
    pub access_log: bool,
}

impl RouteRuntime {
    #[allow(clippy::too_many_arguments)] // one per route property; a builder would only rename them
    pub fn new(
        name: &str,
        matcher: Matcher,
        percent: f64,
        allow_unsafe_methods: bool,
        sample_by: SampleBy,
        rules: Arc<RuleSet>,
        metrics: RouteMetrics,
        stats: Arc<RouteStats>,
        redact: Arc<Redactor>,
    ) -> Self {
        metrics.mirror_percent.set(percent);
        Self {
            name: name.to_string(),
            matcher,
            percent_ppm: AtomicU32::new(percent_to_ppm(percent)),
            allow_unsafe_methods,
            sample_by,
            rules,
            metrics,
            stats,
            redact,
            in_flight: None,
            access_log: false,
        }
    }

    pub fn with_access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Cap this route's mirrors in flight, within the global cap.
    pub fn with_in_flight_cap(mut self, cap: Option<usize>) -> Self {
        self.in_flight = cap.map(|n| Arc::new(Semaphore::new(n)));
        self
    }

    pub fn percent(&self) -> f64 {
        f64::from(self.percent_ppm.load(Ordering::Relaxed)) / 10_000.0
    }

    pub fn set_percent(&self, percent: f64) {
        self.percent_ppm
            .store(percent_to_ppm(percent), Ordering::Relaxed);
        self.metrics.mirror_percent.set(percent);
    }

    pub fn matches(&self, method: &Method, path: &str) -> bool {
        self.matcher.matches(method, path)
    }

    /// Whether this request is in the mirrored share. Keyed sampling gives the same answer for the
    /// same key every time (and on every instance); a request without the key is sampled randomly.
    pub fn sampled(&self, headers: &HeaderMap) -> bool {
        let ppm = self.percent_ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        if ppm >= PPM {
            return true;
        }
        let key = match &self.sample_by {
            SampleBy::Random => None,
            SampleBy::Header(name) => headers.get(name.as_str()).map(|v| v.as_bytes()),
            SampleBy::Cookie(name) => cookie(headers, name),
        };
        match key {
            Some(k) => key_bucket(k) < ppm,
            None => rand::thread_rng().gen_range(0..PPM) < ppm,
        }
    }
}

/// A stable bucket in `0..PPM` for a sampling key.
pub fn key_bucket(key: &[u8]) -> u32 {
    let h = blake3::hash(key);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    (u64::from_le_bytes(first) % u64::from(PPM)) as u32
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_bytes())
}

/// Path and method conditions of a route; every given condition must hold.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    prefix: Option<String>,
    /// Template segments; `None` is a `{placeholder}` matching any one non-empty segment.
    template: Option<Vec<Option<String>>>,
    methods: Vec<Method>,
}

impl Matcher {
    pub fn new(prefix: Option<&str>, template: Option<&str>, methods: &[Method]) -> Self {
        let template = template.map(|t| {
            segments(t)
                .map(|s| {
                    if s.starts_with('{') && s.ends_with('}') {
                        None
                    } else {
                        Some(s.to_string())
                    }
                })
                .collect()
        });
        Self {
            prefix: prefix.map(str::to_string),
            template,
            methods: methods.to_vec(),
        }
    }

    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return false;
        }
        if let Some(p) = &self.prefix {
            if !path.starts_with(p.as_str()) {
                return false;
            }
        }
        match &self.template {
            None => true,
            Some(t) => {
                let mut got = segments(path);
                t.iter().all(|want| match (want, got.next()) {
                    (_, None) => false,
                    (None, Some(s)) => !s.is_empty(),
                    (Some(w), Some(s)) => w == s,
                }) && got.next().is_none()
            }
        }
    }
}

fn segments(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments_only() {
        let m = Matcher::new(None, Some("/orders/{id}"), &[]);
        assert!(m.matches(&Method::GET, "/orders/42"));
        assert!(!m.matches(&Method::GET, "/orders/"));
        assert!(!m.matches(&Method::GET, "/orders/42/items"));
        assert!(!m.matches(&Method::GET, "/orders"));
        assert!(!m.matches(&Method::GET, "/order/42"));
    }

    #[test]
    fn prefix_and_methods_both_must_hold() {
        let m = Matcher::new(Some("/api/"), None, &[Method::GET]);
        assert!(m.matches(&Method::GET, "/api/x"));
        assert!(!m.matches(&Method::POST, "/api/x"));
        assert!(!m.matches(&Method::GET, "/apix"));
    }

    #[test]
    fn percent_resolution_keeps_fractions() {
        assert_eq!(percent_to_ppm(0.05), 500);
        assert_eq!(percent_to_ppm(100.0), PPM);
        assert_eq!(percent_to_ppm(150.0), PPM);
    }

    #[test]
    fn cookie_lookup_finds_the_named_pair() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, "session"), Some(&b"abc"[..]));
        assert_eq!(cookie(&h, "missing"), None);
    }
}

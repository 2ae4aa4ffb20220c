//! Routes: which policy a request falls under (first match wins, else `default`), and whether it
//! is sampled for mirroring.

pub mod matcher;
pub mod sample;

use std::sync::Arc;

use http::{HeaderMap, Method};
use tokio::sync::Semaphore;

use config::{AssignBy, SampleBy};
use diff_engine::RuleSet;

use crate::cutover::{Backend, Cutover};
use crate::observe::metrics::RouteMetrics;
use crate::observe::redact::Redactor;
use crate::observe::stats::RouteStats;

pub use matcher::Matcher;
use sample::Sampler;

/// The `route` label of requests no configured route matches.
pub const DEFAULT_ROUTE: &str = "default";

/// What a route does: built from a `[[routes]]` entry, or from the top-level keys for `default`.
pub struct Policy {
    pub matcher: Matcher,
    pub percent: f64,
    pub allow_unsafe_methods: bool,
    pub sample_by: SampleBy,
    pub rules: Arc<RuleSet>,
    /// This route's own in-flight mirror cap (`routes[].max_in_flight_mirrors`), if any.
    pub max_in_flight_mirrors: Option<usize>,
    /// Write access-log lines for this route's requests (`log.access_log`).
    pub access_log: bool,
    /// The budget window (`budget.window`).
    pub window: std::time::Duration,
    /// What this route records (`[record]` with `[routes.record]` laid over it).
    pub record: config::RecordPolicy,
    /// Who serves this route (`[cutover]` with `[routes.cutover]` laid over it).
    pub cutover: config::CutoverPolicy,
    /// Count a comparison whose every difference is learned noise as `noise` (`noise.suppress`).
    pub noise_suppress: bool,
}

/// Where a route's outcomes go.
pub struct Observers {
    pub metrics: RouteMetrics,
    pub stats: Arc<RouteStats>,
    /// What mismatch records of this route may show (`[report]`, shared by all routes).
    pub redact: Arc<Redactor>,
    /// This route's cutover: its live state outlives reloads.
    pub cutover: Arc<Cutover>,
}

/// A route as the request path sees it: matcher, live mirror share, rules, series.
pub struct RouteRuntime {
    pub name: String,
    matcher: Matcher,
    sampler: Sampler,
    pub allow_unsafe_methods: bool,
    pub rules: Arc<RuleSet>,
    pub metrics: RouteMetrics,
    pub stats: Arc<RouteStats>,
    pub redact: Arc<Redactor>,
    /// This route's own in-flight mirror cap, within the global cap.
    pub in_flight: Option<Arc<Semaphore>>,
    pub access_log: bool,
    /// The share the config file gives (the live one may differ: the brake).
    pub configured_percent: f64,
    /// The budget window its statistics use (`budget.window`), applied on install.
    pub window: std::time::Duration,
    pub record: RecordRoute,
    /// The live cutover (which backend serves), shared with the controller.
    pub cutover: Arc<Cutover>,
    /// What keeps a user on one backend (`cutover.assign_by`).
    pub assign_by: AssignBy,
    /// The cutover policy this config gives, put in force on activation.
    cutover_policy: config::CutoverPolicy,
    pub noise_suppress: bool,
}

/// A route's recording share and caps, as the request path sees them.
pub struct RecordRoute {
    /// Random, whatever the route's `sample_by`: recording is independent of mirroring.
    sampler: Sampler,
    pub max_body_bytes: usize,
    pub include_candidate: bool,
}

impl RecordRoute {
    fn new(policy: &config::RecordPolicy) -> Self {
        Self {
            sampler: Sampler::new(policy.percent, SampleBy::Random),
            max_body_bytes: policy.max_body_bytes,
            include_candidate: policy.include_candidate,
        }
    }

    /// Whether this request is in the recorded share: one atomic load when the share is 0.
    pub fn sampled(&self, headers: &HeaderMap) -> bool {
        self.sampler.sampled(headers)
    }
}

impl RouteRuntime {
    pub fn new(name: &str, policy: Policy, observers: Observers) -> Self {
        Self {
            name: name.to_string(),
            matcher: policy.matcher,
            sampler: Sampler::new(policy.percent, policy.sample_by),
            allow_unsafe_methods: policy.allow_unsafe_methods,
            rules: policy.rules,
            metrics: observers.metrics,
            stats: observers.stats,
            redact: observers.redact,
            in_flight: policy
                .max_in_flight_mirrors
                .map(|n| Arc::new(Semaphore::new(n))),
            access_log: policy.access_log,
            configured_percent: policy.percent,
            window: policy.window,
            record: RecordRoute::new(&policy.record),
            cutover: observers.cutover,
            assign_by: policy.cutover.assign_by.clone(),
            cutover_policy: policy.cutover,
            noise_suppress: policy.noise_suppress,
        }
    }

    /// This route has gone into force: its gauge and its statistics' window follow it. Not done
    /// while building, so a rejected reload shows nothing of what it would have set.
    pub fn activate(&self) {
        self.metrics.mirror_percent.set(self.percent());
        self.stats.set_window(self.window);
        self.cutover.install(self.cutover_policy.clone());
    }

    pub fn cutover_mode(&self) -> config::CutoverMode {
        self.cutover_policy.mode
    }

    /// Which backend serves this request.
    pub fn serving(&self, headers: &HeaderMap, peer: std::net::IpAddr) -> Backend {
        self.cutover.serve(&self.assign_by, headers, peer)
    }

    pub fn percent(&self) -> f64 {
        self.sampler.percent()
    }

    pub fn set_percent(&self, percent: f64) {
        self.sampler.set_percent(percent);
        self.metrics.mirror_percent.set(percent);
    }

    pub fn matches(&self, method: &Method, path: &str) -> bool {
        self.matcher.matches(method, path)
    }

    /// Whether this request is in the mirrored share (see [`sample`]).
    pub fn sampled(&self, headers: &HeaderMap) -> bool {
        self.sampler.sampled(headers)
    }

    /// No request of this route is mirrored, recorded or served by v2 right now: v1 alone
    /// answers, and nothing needs a copy (the relay's condition, `relay/`).
    pub fn copies_nothing(&self) -> bool {
        !self.sampler.may_sample() && !self.record.sampler.may_sample() && !self.cutover.v2_serves()
    }
}

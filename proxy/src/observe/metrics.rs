//! Prometheus metrics on an explicit registry (never the global one).
//!
//! Label values are bounded: `route` is a configured route name or `default`; `reason`, `kind`,
//! `part`, `result` and `upstream` come from closed enums. Per-route handles are resolved once
//! ([`RouteMetrics`]) so the request path pays an atomic add, not a label lookup.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::observe::outcome::{
    CandidateErrorKind, MirrorOutcome, RecordDropReason, SkipReason, RETRY_STALE_CONNECTION,
};

/// Upstream latency buckets: tens of microseconds (a local v1) up to the default v1 timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];
/// Candidate minus primary: negative when v2 is faster.
const DELTA_BUCKETS: &[f64] = &[
    -1.0, -0.25, -0.1, -0.05, -0.01, -0.005, -0.001, 0.0, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 1.0,
    2.5, 5.0,
];
const COMPARE_BUCKETS: &[f64] = &[
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
];

/// Status classes for the v1 × v2 status-pair counter.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"];

pub struct Metrics {
    pub registry: Registry,
    /// The families labelled by route, resolved per route by [`Metrics::route`].
    routes: RouteFamilies,
    pub breaker_open: IntGauge,
    pub breaker_trips: IntCounter,
    pub mirrors_in_flight: IntGauge,
    /// The adaptive limit on mirrors in flight (`mirror/limit.rs`).
    pub mirror_concurrency_limit: IntGauge,
    pub client_connections: IntGauge,
    /// Open connections to v1 and to v2, pooled and lanes (`shadowdiff_upstream_connections`).
    pub primary_connections: IntGauge,
    pub candidate_connections: IntGauge,
    pub client_connections_accepted: IntCounter,
    pub connection_limit_waits: IntCounter,
    pub admin_connection_limit_waits: IntCounter,
    /// Requests the HTTP/1.1 relay carried, and connections it handed to hyper, by why.
    pub relay_requests: IntCounter,
    pub relay_handoffs: IntCounterVec,
    pub compare_queue_depth: IntGauge,
    pub pending_bytes: IntGauge,
    pub compare_duration: Histogram,
    pub record: RecordMetrics,
    cutover: CutoverFamilies,
    /// Mismatch signatures kept, and those dropped past `report.max_signatures`.
    pub signatures: IntGauge,
    pub signatures_evicted: IntCounter,
}

/// The cutover's families, per route (`cutover/`).
#[derive(Clone)]
struct CutoverFamilies {
    weight: GaugeVec,
    step: IntGaugeVec,
    state: IntGaugeVec,
    gate_value: GaugeVec,
    gate_max: GaugeVec,
    gate_failures: IntCounterVec,
    rollbacks: IntCounterVec,
}

impl CutoverFamilies {
    fn register(r: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            weight: gauge_vec(r, "shadowdiff_cutover_weight", "Share of users served by v2, in percent.", &["route"])?,
            step: int_gauge_vec(r, "shadowdiff_cutover_step", "Index of the current step of the cutover schedule.", &["route"])?,
            state: int_gauge_vec(
                r,
                "shadowdiff_cutover_state",
                "1 for the cutover's current state (shadow, progressing, paused, aborted, promoted).",
                &["route", "state"],
            )?,
            gate_value: gauge_vec(
                r,
                "shadowdiff_cutover_gate_value",
                "Each gate's value in the last judged interval (error_rate and mismatch: ratios; latency: v2 p95 over v1 p95, minus 1).",
                &["route", "gate"],
            )?,
            gate_max: gauge_vec(
                r,
                "shadowdiff_cutover_gate_max",
                "Each gate's threshold: the gate fails when its value is above this.",
                &["route", "gate"],
            )?,
            gate_failures: counter(
                r,
                "shadowdiff_cutover_gate_failures_total",
                "Intervals in which a gate failed.",
                &["route", "gate"],
            )?,
            rollbacks: counter(
                r,
                "shadowdiff_cutover_rollbacks_total",
                "Cutovers rolled back to weight 0, by reason (the failing gate, or manual).",
                &["route", "reason"],
            )?,
        })
    }
}

/// One route's cutover series.
pub struct CutoverMetrics {
    route: String,
    families: CutoverFamilies,
    pub weight: Gauge,
    pub step: IntGauge,
    /// In the order of `Phase::ALL`.
    pub state: Vec<IntGauge>,
}

impl CutoverMetrics {
    pub fn gate_value(&self, gate: &str) -> Gauge {
        self.families
            .gate_value
            .with_label_values(&[&self.route, gate])
    }

    pub fn gate_max(&self, gate: &str) -> Gauge {
        self.families
            .gate_max
            .with_label_values(&[&self.route, gate])
    }

    pub fn gate_failures(&self, gate: &str) -> IntCounter {
        self.families
            .gate_failures
            .with_label_values(&[&self.route, gate])
    }

    pub fn rollback(&self, reason: &str) -> IntCounter {
        self.families
            .rollbacks
            .with_label_values(&[&self.route, reason])
    }
}

/// The recording's counters (`record/`): what reached the disk and what did not, by reason.
#[derive(Clone)]
pub struct RecordMetrics {
    pub written: IntCounter,
    pub written_bytes: IntCounter,
    dropped: [IntCounter; RecordDropReason::ALL.len()],
}

impl RecordMetrics {
    fn register(r: &Registry) -> prometheus::Result<Self> {
        let dropped = counter(
            r,
            "shadowdiff_record_dropped_total",
            "Exchanges chosen for recording that were not written, by reason.",
            &["reason"],
        )?;
        Ok(Self {
            written: int_counter(
                r,
                "shadowdiff_record_written_total",
                "Exchanges written to recording files.",
            )?,
            written_bytes: int_counter(
                r,
                "shadowdiff_record_written_bytes_total",
                "Compressed bytes written to recording files.",
            )?,
            dropped: RecordDropReason::ALL.map(|d| dropped.with_label_values(&[d.as_str()])),
        })
    }

    pub fn drop(&self, reason: RecordDropReason) {
        self.dropped[reason as usize].inc();
    }

    pub fn dropped(&self, reason: RecordDropReason) -> u64 {
        self.dropped[reason as usize].get()
    }
}

/// Every family with a `route` label.
struct RouteFamilies {
    requests: IntCounterVec,
    mirrored: IntCounterVec,
    comparisons: IntCounterVec,
    mismatches: IntCounterVec,
    skipped: IntCounterVec,
    candidate_errors: IntCounterVec,
    primary_errors: IntCounterVec,
    client_errors: IntCounterVec,
    mirror_outcomes: IntCounterVec,
    upstream_retries: IntCounterVec,
    upstream_duration: HistogramVec,
    latency_delta: HistogramVec,
    status_pairs: IntCounterVec,
    mismatch_rate: GaugeVec,
    mismatch_budget: GaugeVec,
    budget_exceeded: IntGaugeVec,
    mirror_percent: GaugeVec,
    served: IntCounterVec,
    served_duration: HistogramVec,
    canary_fallbacks: IntCounterVec,
    noise_requests: IntCounterVec,
    noise_refused: IntCounterVec,
}

/// One unit of a gauge from `new` until drop, so the gauge stays right however its holder
/// ends: returned, failed, or its task dropped at shutdown.
pub struct GaugeHold(IntGauge);

impl GaugeHold {
    pub fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn counter(
    reg: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    reg.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(
    reg: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    b: &[f64],
) -> prometheus::Result<HistogramVec> {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(b.to_vec()), labels)?;
    reg.register(Box::new(h.clone()))?;
    Ok(h)
}

fn gauge_vec(
    reg: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<GaugeVec> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    reg.register(Box::new(g.clone()))?;
    Ok(g)
}

fn int_gauge_vec(
    reg: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    reg.register(Box::new(g.clone()))?;
    Ok(g)
}

fn int_gauge(reg: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    reg.register(Box::new(g.clone()))?;
    Ok(g)
}

fn int_counter(reg: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let c = IntCounter::new(name, help)?;
    reg.register(Box::new(c.clone()))?;
    Ok(c)
}

impl RouteFamilies {
    fn register(r: &Registry) -> prometheus::Result<Self> {
        Ok(Self {
            requests: counter(r, "shadowdiff_requests_total", "Requests received on the data listener.", &["route"])?,
            mirrored: counter(r, "shadowdiff_mirrored_requests_total", "Requests sent to the candidate (v2).", &["route"])?,
            comparisons: counter(
                r,
                "shadowdiff_comparisons_total",
                "Completed comparisons of v1 and v2 responses, by result (match, mismatch, or noise: every difference learned noise, with noise.suppress).",
                &["route", "result"],
            )?,
            mismatches: counter(
                r,
                "shadowdiff_mismatches_total",
                "Mismatching comparisons by the part that differs (status, headers, body); one comparison can count in several parts.",
                &["route", "part"],
            )?,
            skipped: counter(
                r,
                "shadowdiff_mirror_skipped_total",
                "Requests not mirrored, or mirrors not compared, by reason.",
                &["route", "reason"],
            )?,
            candidate_errors: counter(
                r,
                "shadowdiff_candidate_errors_total",
                "Failed exchanges with the candidate (v2), by kind.",
                &["route", "kind"],
            )?,
            primary_errors: counter(
                r,
                "shadowdiff_primary_errors_total",
                "Failed exchanges with the primary (v1), by kind; the client got a 502 or 504.",
                &["route", "kind"],
            )?,
            mirror_outcomes: counter(
                r,
                "shadowdiff_mirror_outcomes_total",
                "How mirrored requests ended, exactly one outcome each (match, mismatch, noise, candidate_error, skipped): they add up to shadowdiff_mirrored_requests_total.",
                &["route", "outcome"],
            )?,
            client_errors: counter(
                r,
                "shadowdiff_client_errors_total",
                "Exchanges the client ended or stalled, by kind (body_timeout: 408, body_aborted: 400, cancelled: 499); v1 is not blamed for these.",
                &["route", "kind"],
            )?,
            upstream_retries: counter(
                r,
                "shadowdiff_upstream_retries_total",
                "Requests sent once more on a new connection, by upstream and reason (stale_connection: the connection broke before any response byte).",
                &["route", "upstream", "reason"],
            )?,
            upstream_duration: histogram(
                r,
                "shadowdiff_upstream_duration_seconds",
                "Time from sending the request to receiving response headers, per upstream.",
                &["route", "upstream"],
                LATENCY_BUCKETS,
            )?,
            latency_delta: histogram(
                r,
                "shadowdiff_candidate_latency_delta_seconds",
                "Candidate minus primary time to response headers, for compared pairs.",
                &["route"],
                DELTA_BUCKETS,
            )?,
            status_pairs: counter(
                r,
                "shadowdiff_status_pairs_total",
                "Mirrored exchanges by v1 and v2 status class (error = no response).",
                &["route", "primary_class", "candidate_class"],
            )?,
            mismatch_rate: gauge_vec(
                r,
                "shadowdiff_mismatch_rate",
                "Mismatching share of comparisons over the budget window.",
                &["route"],
            )?,
            mismatch_budget: gauge_vec(
                r,
                "shadowdiff_mismatch_budget",
                "Configured mismatch budget (allowed ratio).",
                &["route"],
            )?,
            budget_exceeded: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "shadowdiff_budget_exceeded",
                        "1 when the windowed mismatch rate is above budget with at least min_samples comparisons.",
                    ),
                    &["route"],
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            mirror_percent: gauge_vec(
                r,
                "shadowdiff_mirror_percent",
                "Share of eligible requests currently mirrored, in percent.",
                &["route"],
            )?,
            served: counter(
                r,
                "shadowdiff_served_requests_total",
                "Requests answered to clients, by the backend that served them (v1, v2) and status class (error = the proxy answered: no response from that backend).",
                &["route", "backend", "code_class"],
            )?,
            served_duration: histogram(
                r,
                "shadowdiff_served_duration_seconds",
                "Time to response headers of served requests, by serving backend.",
                &["route", "backend"],
                LATENCY_BUCKETS,
            )?,
            noise_requests: counter(
                r,
                "shadowdiff_noise_requests_total",
                "Second requests to v1 (or noise.secondary) for learning noise, v1 against itself.",
                &["route"],
            )?,
            noise_refused: counter(
                r,
                "shadowdiff_noise_refused_total",
                "Second v1 requests not sent because noise.max_in_flight were in flight.",
                &["route"],
            )?,
            canary_fallbacks: counter(
                r,
                "shadowdiff_canary_fallbacks_total",
                "Requests assigned to v2 that v2 failed before any byte reached the client, served by v1 instead (safe methods only).",
                &["route"],
            )?,
        })
    }
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let reg = Registry::new();
        let r = &reg;
        let upstream_connections = IntGaugeVec::new(
            Opts::new(
                "shadowdiff_upstream_connections",
                "Open connections per upstream, pooled and per client connection (lanes).",
            ),
            &["upstream"],
        )?;
        r.register(Box::new(upstream_connections.clone()))?;
        let m = Metrics {
            routes: RouteFamilies::register(r)?,
            breaker_open: int_gauge(r, "shadowdiff_breaker_open", "1 while the candidate circuit breaker is open.")?,
            breaker_trips: int_counter(r, "shadowdiff_breaker_trips_total", "Times the candidate circuit breaker opened.")?,
            mirrors_in_flight: int_gauge(r, "shadowdiff_mirrors_in_flight", "Mirrors currently in flight.")?,
            mirror_concurrency_limit: int_gauge(
                r,
                "shadowdiff_mirror_concurrency_limit",
                "Mirrors allowed in flight at once: the adaptive limit (limits.max_in_flight_mirrors when limits.adaptive_mirrors is off). Past it mirrors are skipped as overloaded.",
            )?,
            client_connections: int_gauge(r, "shadowdiff_client_connections", "Open client connections on the data listener.")?,
            client_connections_accepted: int_counter(
                r,
                "shadowdiff_client_connections_total",
                "Client connections accepted on the data listener.",
            )?,
            connection_limit_waits: int_counter(
                r,
                "shadowdiff_connection_limit_waits_total",
                "Times the data listener stopped accepting because limits.max_connections client connections were open.",
            )?,
            primary_connections: upstream_connections.with_label_values(&["primary"]),
            candidate_connections: upstream_connections.with_label_values(&["candidate"]),
            relay_requests: int_counter(
                r,
                "shadowdiff_relay_requests_total",
                "HTTP/1.1 requests carried by the relay (http1_relay) rather than by hyper.",
            )?,
            relay_handoffs: counter(
                r,
                "shadowdiff_relay_handoffs_total",
                "Client connections the relay handed to hyper, by reason: head (a request the relay does not carry: HTTP/1.0, h2c, Upgrade, Expect, TE, Transfer-Encoding, a head httparse refuses), canary (a route where v2 may serve), grpc, upstream (v1 over TLS or HTTP/2).",
                &["reason"],
            )?,
            admin_connection_limit_waits: int_counter(
                r,
                "shadowdiff_admin_connection_limit_waits_total",
                "Times the admin listener stopped accepting because its 64 connections were open.",
            )?,
            compare_queue_depth: int_gauge(r, "shadowdiff_compare_queue_depth", "Comparisons waiting for a worker.")?,
            pending_bytes: int_gauge(
                r,
                "shadowdiff_pending_bytes",
                "Bytes of captured bodies held for pending comparisons.",
            )?,
            compare_duration: {
                let h = Histogram::with_opts(
                    HistogramOpts::new("shadowdiff_compare_duration_seconds", "Time spent comparing one pair.")
                        .buckets(COMPARE_BUCKETS.to_vec()),
                )?;
                r.register(Box::new(h.clone()))?;
                h
            },
            record: RecordMetrics::register(r)?,
            cutover: CutoverFamilies::register(r)?,
            signatures: int_gauge(r, "shadowdiff_signatures", "Mismatch signatures kept (GET /api/signatures).")?,
            signatures_evicted: int_counter(
                r,
                "shadowdiff_signatures_evicted_total",
                "Signatures dropped, the rarest first, past report.max_signatures.",
            )?,
            registry: reg.clone(),
        };
        let build = Gauge::with_opts(
            Opts::new(
                "shadowdiff_build_info",
                "Build information; the value is always 1.",
            )
            .const_label("version", env!("CARGO_PKG_VERSION"))
            .const_label("commit", crate::COMMIT),
        )?;
        build.set(1.0);
        reg.register(Box::new(build))?;
        Ok(m)
    }

    /// Resolve every label set of one route up front.
    pub fn route(&self, name: &str) -> RouteMetrics {
        let f = &self.routes;
        let skipped = SkipReason::ALL.map(|r| f.skipped.with_label_values(&[name, r.as_str()]));
        let candidate_errors = CandidateErrorKind::ALL
            .map(|k| f.candidate_errors.with_label_values(&[name, k.as_str()]));
        let status_pairs = STATUS_CLASSES
            .map(|p| STATUS_CLASSES.map(|c| f.status_pairs.with_label_values(&[name, p, c])));
        RouteMetrics {
            requests: f.requests.with_label_values(&[name]),
            mirrored: f.mirrored.with_label_values(&[name]),
            matched: f.comparisons.with_label_values(&[name, "match"]),
            mismatched: f.comparisons.with_label_values(&[name, "mismatch"]),
            noise: f.comparisons.with_label_values(&[name, "noise"]),
            noise_requests: f.noise_requests.with_label_values(&[name]),
            noise_refused: f.noise_refused.with_label_values(&[name]),
            mismatch_parts: diff_engine::Part::ALL
                .map(|p| f.mismatches.with_label_values(&[name, p.as_str()])),
            skipped,
            candidate_errors,
            primary_connect: f.primary_errors.with_label_values(&[name, "connect"]),
            primary_timeout: f.primary_errors.with_label_values(&[name, "timeout"]),
            primary_other: f.primary_errors.with_label_values(&[name, "protocol"]),
            primary_overloaded: f.primary_errors.with_label_values(&[name, "overloaded"]),
            outcomes: MirrorOutcome::ALL
                .map(|o| f.mirror_outcomes.with_label_values(&[name, o.as_str()])),
            primary_body: f.primary_errors.with_label_values(&[name, "body"]),
            client_body_timeout: f.client_errors.with_label_values(&[name, "body_timeout"]),
            client_body_aborted: f.client_errors.with_label_values(&[name, "body_aborted"]),
            client_cancelled: f.client_errors.with_label_values(&[name, "cancelled"]),
            primary_retries: f.upstream_retries.with_label_values(&[
                name,
                "primary",
                RETRY_STALE_CONNECTION,
            ]),
            candidate_retries: f.upstream_retries.with_label_values(&[
                name,
                "candidate",
                RETRY_STALE_CONNECTION,
            ]),
            primary_duration: f.upstream_duration.with_label_values(&[name, "primary"]),
            candidate_duration: f.upstream_duration.with_label_values(&[name, "candidate"]),
            latency_delta: f.latency_delta.with_label_values(&[name]),
            status_pairs,
            mismatch_rate: f.mismatch_rate.with_label_values(&[name]),
            mismatch_budget: f.mismatch_budget.with_label_values(&[name]),
            budget_exceeded: f.budget_exceeded.with_label_values(&[name]),
            mirror_percent: f.mirror_percent.with_label_values(&[name]),
            served: ["v1", "v2"]
                .map(|b| STATUS_CLASSES.map(|c| f.served.with_label_values(&[name, b, c]))),
            served_duration: ["v1", "v2"].map(|b| f.served_duration.with_label_values(&[name, b])),
            canary_fallbacks: f.canary_fallbacks.with_label_values(&[name]),
        }
    }

    /// One route's cutover series. The built-in gates' counters start at 0, so that the first
    /// failure or rollback is an increase Prometheus can see.
    pub fn cutover(&self, name: &str) -> CutoverMetrics {
        let f = &self.cutover;
        for gate in ["error_rate", "latency", "mismatch"] {
            f.gate_failures.with_label_values(&[name, gate]);
            f.rollbacks.with_label_values(&[name, gate]);
        }
        f.rollbacks.with_label_values(&[name, "manual"]);
        CutoverMetrics {
            route: name.to_owned(),
            weight: f.weight.with_label_values(&[name]),
            step: f.step.with_label_values(&[name]),
            state: ["shadow", "progressing", "paused", "aborted", "promoted"]
                .iter()
                .map(|s| f.state.with_label_values(&[name, s]))
                .collect(),
            families: f.clone(),
        }
    }

    /// The registry in Prometheus text exposition format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail on I/O; a failure would be a bad family, which `new` rejects.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
        }
        out
    }
}

/// One route's pre-resolved series.
#[derive(Clone)]
pub struct RouteMetrics {
    pub requests: IntCounter,
    pub mirrored: IntCounter,
    pub matched: IntCounter,
    pub mismatched: IntCounter,
    /// Comparisons whose every difference was learned noise (`noise.suppress`).
    pub noise: IntCounter,
    pub noise_requests: IntCounter,
    pub noise_refused: IntCounter,
    pub mismatch_parts: [IntCounter; 3],
    skipped: [IntCounter; SkipReason::ALL.len()],
    candidate_errors: [IntCounter; CandidateErrorKind::ALL.len()],
    pub primary_connect: IntCounter,
    pub primary_timeout: IntCounter,
    pub primary_other: IntCounter,
    pub primary_overloaded: IntCounter,
    outcomes: [IntCounter; MirrorOutcome::ALL.len()],
    /// v1's response body broke off after its head (reset, closed early, stalled).
    pub primary_body: IntCounter,
    pub client_body_timeout: IntCounter,
    pub client_body_aborted: IntCounter,
    pub client_cancelled: IntCounter,
    pub primary_retries: IntCounter,
    pub candidate_retries: IntCounter,
    pub primary_duration: Histogram,
    pub candidate_duration: Histogram,
    pub latency_delta: Histogram,
    status_pairs: [[IntCounter; 6]; 6],
    pub mismatch_rate: Gauge,
    pub mismatch_budget: Gauge,
    pub budget_exceeded: IntGauge,
    pub mirror_percent: Gauge,
    /// By backend (v1, v2), then status class.
    served: [[IntCounter; 6]; 2],
    served_duration: [Histogram; 2],
    pub canary_fallbacks: IntCounter,
}

impl RouteMetrics {
    /// A request answered to the client by `backend` (index: 0 = v1, 1 = v2); `None` status
    /// when that backend gave no response and the proxy answered.
    pub fn served(
        &self,
        backend: usize,
        status: Option<u16>,
        elapsed: Option<std::time::Duration>,
    ) {
        self.served[backend][status_class(status)].inc();
        if let Some(e) = elapsed {
            self.served_duration[backend].observe(e.as_secs_f64());
        }
    }

    /// A mirrored request ended as `o`.
    pub fn outcome(&self, o: MirrorOutcome) {
        self.outcomes[o as usize].inc();
    }

    pub fn outcomes(&self, o: MirrorOutcome) -> u64 {
        self.outcomes[o as usize].get()
    }

    pub fn skip(&self, reason: SkipReason) {
        self.skipped[reason as usize].inc();
    }

    pub fn skipped(&self, reason: SkipReason) -> u64 {
        self.skipped[reason as usize].get()
    }

    pub fn candidate_error(&self, kind: CandidateErrorKind) {
        self.candidate_errors[kind as usize].inc();
    }

    /// Count a v1 × v2 status pair; `None` means that leg produced no response.
    pub fn status_pair(&self, primary: Option<u16>, candidate: Option<u16>) {
        self.status_pairs[status_class(primary)][status_class(candidate)].inc();
    }
}

fn status_class(status: Option<u16>) -> usize {
    match status {
        Some(s @ 100..=599) => usize::from(s / 100) - 1,
        _ => 5,
    }
}

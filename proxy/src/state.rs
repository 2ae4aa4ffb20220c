//! What every request sees: long-lived parts ([`Shared`]) and the config-derived [`Snapshot`],
//! swapped whole on reload so a request runs under one consistent config from start to end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::Method;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use tokio::sync::Semaphore;

use config::Config;
use diff_engine::{CompareLimits, RuleSet};

use crate::breaker::Breaker;
use crate::capture::{ByteBudget, TeeBody};
use crate::comparator::ComparePool;
use crate::control::{ReloadSource, Token};
use crate::exemplars::Exemplars;
use crate::metrics::Metrics;
use crate::redact::Redactor;
use crate::route::{Matcher, RouteRuntime, DEFAULT_ROUTE};
use crate::shaping::Shaping;
use crate::stats::StatsRegistry;
use crate::tls::ServerTls;
use crate::upstream::{self, Connector, Target};

pub type PrimaryClient = Client<Connector, TeeBody<Incoming>>;
pub type CandidateClient = Client<Connector, Full<Bytes>>;

pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub snapshot: ArcSwap<Snapshot>,
    pub pending: Arc<ByteBudget>,
    pub breaker: Breaker,
    pub compare: ComparePool,
    pub exemplars: Arc<Exemplars>,
    pub stats: StatsRegistry,
    pub ready: AtomicBool,
    /// File and flags to re-read on `POST /api/reload` and SIGHUP.
    pub reload_source: Mutex<ReloadSource>,
    pub admin_token: Token,
    /// The data listener's TLS, when `[tls]` (or `--tls-cert`/`--tls-key`) is set at start.
    pub server_tls: Option<ServerTls>,
}

pub struct Snapshot {
    pub config: Config,
    pub routes: Vec<Arc<RouteRuntime>>,
    pub default_route: Arc<RouteRuntime>,
    pub primary: Target,
    pub primary_client: PrimaryClient,
    pub candidate: Target,
    pub candidate_client: CandidateClient,
    /// How the mirrored copy is shaped (`[candidate]` host, headers, path).
    pub shaping: Shaping,
    /// Mirrors in flight, all routes.
    pub in_flight: Arc<Semaphore>,
}

impl Shared {
    pub fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        let metrics = Arc::new(Metrics::new()?);
        let exemplars = Arc::new(Exemplars::from_config(&config.report)?);
        let limits = CompareLimits {
            max_decoded_bytes: config.limits.max_decoded_bytes,
            ..CompareLimits::default()
        };
        let compare = ComparePool::new(
            config.limits.compare_workers,
            config.limits.compare_queue,
            limits,
            metrics.clone(),
            exemplars.clone(),
        )?;
        let pending = ByteBudget::new(
            config.limits.max_pending_bytes,
            metrics.pending_bytes.clone(),
        );
        let breaker = Breaker::new(
            config.breaker.failure_threshold,
            config.breaker.backoff,
            metrics.breaker_open.clone(),
            metrics.breaker_trips.clone(),
        );
        let stats = StatsRegistry::default();
        let server_tls = config.tls.as_ref().map(ServerTls::new).transpose()?;
        let admin_token = Token::default();
        admin_token.load(&config.admin_auth)?;
        let snapshot = Snapshot::build(config, &metrics, &stats)?;
        Ok(Arc::new(Self {
            metrics,
            snapshot: ArcSwap::from_pointee(snapshot),
            pending,
            breaker,
            compare,
            exemplars,
            stats,
            ready: AtomicBool::new(false),
            reload_source: Mutex::new(ReloadSource::default()),
            admin_token,
            server_tls,
        }))
    }

    /// No mirror in flight and no comparison queued or running: every mirror so far has ended
    /// as an outcome (for the demo's table and the tests' `settle`).
    pub fn is_idle(&self) -> bool {
        self.metrics.mirrors_in_flight.get() == 0 && self.compare.unfinished() == 0
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Install a new config; requests already running finish under the old one.
    pub fn reload(&self, config: Config) -> anyhow::Result<()> {
        let snap = Snapshot::build(config, &self.metrics, &self.stats)?;
        // New handshakes get the re-read certificate; open connections keep theirs.
        match (&self.server_tls, &snap.config.tls) {
            (Some(current), Some(tls)) => current.reload(tls)?,
            (None, Some(_)) | (Some(_), None) => {
                tracing::warn!("turning TLS on or off needs a restart; the listener keeps its mode")
            }
            (None, None) => {}
        }
        self.snapshot.store(Arc::new(snap));
        Ok(())
    }
}

impl Snapshot {
    fn build(config: Config, metrics: &Metrics, stats: &StatsRegistry) -> anyhow::Result<Self> {
        let redact = Arc::new(Redactor::new(&config.report)?);
        let mut routes = Vec::with_capacity(config.routes.len());
        for r in &config.routes {
            let rules = RuleSet::compile(&r.compare)
                .map_err(|e| anyhow::anyhow!("routes.{}.compare: {e}", r.name))?;
            let rt = RouteRuntime::new(
                &r.name,
                Matcher::new(
                    r.path_prefix.as_deref(),
                    r.path_template.as_deref(),
                    &r.methods,
                ),
                r.mirror_percent.unwrap_or(config.mirror_percent),
                r.allow_unsafe_methods,
                r.sample_by
                    .clone()
                    .unwrap_or_else(|| config.sample_by.clone()),
                Arc::new(rules),
                metrics.route(&r.name),
                stats.get_or_create(&r.name, r.budget.window),
                redact.clone(),
            )
            .with_in_flight_cap(r.max_in_flight_mirrors)
            .with_access_log(config.log.access_log);
            routes.push(Arc::new(rt));
        }
        let rules =
            RuleSet::compile(&config.compare).map_err(|e| anyhow::anyhow!("compare: {e}"))?;
        let default_route = Arc::new(
            RouteRuntime::new(
                DEFAULT_ROUTE,
                Matcher::default(),
                config.mirror_percent,
                false,
                config.sample_by.clone(),
                Arc::new(rules),
                metrics.route(DEFAULT_ROUTE),
                stats.get_or_create(DEFAULT_ROUTE, config.budget.window),
                redact,
            )
            .with_access_log(config.log.access_log),
        );
        Ok(Self {
            primary: Target::new(&config.primary)?,
            primary_client: upstream::client(&config.primary)?,
            candidate: Target::new(&config.candidate.upstream)?,
            candidate_client: upstream::client(&config.candidate.upstream)?,
            shaping: Shaping::new(&config.candidate)?,
            in_flight: Arc::new(Semaphore::new(config.limits.max_in_flight_mirrors)),
            routes,
            default_route,
            config,
        })
    }

    /// First configured route that matches, else `default`.
    pub fn route_for(&self, method: &Method, path: &str) -> &Arc<RouteRuntime> {
        self.routes
            .iter()
            .find(|r| r.matches(method, path))
            .unwrap_or(&self.default_route)
    }

    /// All routes, `default` last.
    pub fn all_routes(&self) -> impl Iterator<Item = &Arc<RouteRuntime>> {
        self.routes
            .iter()
            .chain(std::iter::once(&self.default_route))
    }

    pub fn budget_for(&self, route: &str) -> &config::Budget {
        self.config
            .routes
            .iter()
            .find(|r| r.name == route)
            .map_or(&self.config.budget, |r| &r.budget)
    }
}

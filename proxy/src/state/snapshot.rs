//! The config-derived half of the state: routes, upstream clients and caps, built whole from a
//! [`Config`] and swapped in one step on reload.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http_body_util::{Either, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use tokio::sync::Semaphore;

use config::Config;
use diff_engine::{GrpcSchema, RuleSet};

use crate::cutover::Cutovers;
use crate::net::idle::IdleBody;
use crate::observe::metrics::Metrics;
use crate::observe::redact::Redactor;
use crate::observe::stats::StatsRegistry;
use crate::route::sample::Sampler;
use crate::route::{Matcher, Observers, Policy, RouteRuntime, DEFAULT_ROUTE};
use crate::state::UpstreamCaps;
use crate::tee::TeeBody;
use crate::upstream::shaping::Shaping;
use crate::upstream::{self, Connector, Target};

/// What v1 gets as a request body: the client's, through the tee; or nothing, when a bodiless
/// request is sent once more after its connection broke (`upstream/retry.rs`).
pub type PrimaryBody = Either<TeeBody<IdleBody<Incoming>>, Empty<Bytes>>;
pub type PrimaryClient = Client<Connector, PrimaryBody>;
pub type CandidateClient = Client<Connector, Full<Bytes>>;

pub struct Snapshot {
    pub config: Config,
    pub routes: Vec<Arc<RouteRuntime>>,
    pub default_route: Arc<RouteRuntime>,
    pub primary: Target,
    pub primary_client: PrimaryClient,
    pub candidate: Target,
    pub candidate_client: CandidateClient,
    /// v2 as a serving backend (a canary's users): streaming, like v1's client.
    pub candidate_serving_client: PrimaryClient,
    /// v1 as the mirrored backend (reverse shadow, while v2 serves).
    pub primary_mirror_client: CandidateClient,
    /// How the mirrored copy is shaped (`[candidate]` host, headers, path).
    pub shaping: Shaping,
    /// Mirrors in flight, all routes.
    pub in_flight: Arc<Semaphore>,
    /// `[grpc] descriptor_set`, read.
    pub grpc_schema: Option<Arc<GrpcSchema>>,
    /// `[noise]`: which mirrored requests also get a second v1 answer, where it goes, and how
    /// many may be in flight.
    pub noise: NoiseLeg,
}

/// Where the second v1 answers for learning noise come from (`[noise]`).
pub struct NoiseLeg {
    pub sampler: Sampler,
    /// v1, or `noise.secondary`.
    pub target: Target,
    pub client: CandidateClient,
    pub in_flight: Arc<Semaphore>,
}

impl Snapshot {
    pub(crate) fn build(
        config: Config,
        metrics: &Metrics,
        stats: &StatsRegistry,
        caps: &UpstreamCaps,
        cutovers: &Cutovers,
    ) -> anyhow::Result<Self> {
        let redact = Arc::new(Redactor::new(&config.report)?);
        let observers = |name: &str, window| Observers {
            metrics: metrics.route(name),
            stats: stats.get_or_create(name, window),
            redact: redact.clone(),
            cutover: cutovers.get_or_create(name),
        };
        let mut routes = Vec::with_capacity(config.routes.len());
        for r in &config.routes {
            let rules = RuleSet::compile(&r.compare)
                .map_err(|e| anyhow::anyhow!("routes.{}.compare: {e}", r.name))?;
            let policy = Policy {
                matcher: Matcher::new(
                    r.path_prefix.as_deref(),
                    r.path_template.as_deref(),
                    &r.methods,
                ),
                percent: r.mirror_percent.unwrap_or(config.mirror_percent),
                allow_unsafe_methods: r.allow_unsafe_methods,
                sample_by: r
                    .sample_by
                    .clone()
                    .unwrap_or_else(|| config.sample_by.clone()),
                rules: Arc::new(rules),
                max_in_flight_mirrors: r.max_in_flight_mirrors,
                access_log: config.log.access_log,
                window: r.budget.window,
                record: r.record.clone(),
                cutover: r.cutover.clone(),
                noise_suppress: config.noise.suppress,
            };
            let route = RouteRuntime::new(&r.name, policy, observers(&r.name, r.budget.window));
            routes.push(Arc::new(route));
        }
        let rules =
            RuleSet::compile(&config.compare).map_err(|e| anyhow::anyhow!("compare: {e}"))?;
        let policy = Policy {
            matcher: Matcher::default(),
            percent: config.mirror_percent,
            allow_unsafe_methods: false,
            sample_by: config.sample_by.clone(),
            rules: Arc::new(rules),
            max_in_flight_mirrors: None,
            access_log: config.log.access_log,
            window: config.budget.window,
            record: config.record.policy.clone(),
            cutover: config.cutover.policy.clone(),
            noise_suppress: config.noise.suppress,
        };
        let default_route = Arc::new(RouteRuntime::new(
            DEFAULT_ROUTE,
            policy,
            observers(DEFAULT_ROUTE, config.budget.window),
        ));
        Ok(Self {
            primary: Target::new(&config.primary)?,
            primary_client: upstream::client(&config.primary, &caps.primary, None)?,
            candidate: Target::new(&config.candidate.upstream)?,
            candidate_client: upstream::client(
                &config.candidate.upstream,
                &caps.candidate,
                Some(upstream::CANDIDATE_READ_BUFFER),
            )?,
            candidate_serving_client: upstream::client(
                &config.candidate.upstream,
                &caps.candidate,
                None,
            )?,
            primary_mirror_client: upstream::client(
                &config.primary,
                &caps.primary,
                Some(upstream::CANDIDATE_READ_BUFFER),
            )?,
            shaping: Shaping::new(&config.candidate)?,
            in_flight: Arc::new(Semaphore::new(config.limits.max_in_flight_mirrors)),
            grpc_schema: grpc_schema(&config.grpc)?,
            noise: NoiseLeg::new(&config, caps)?,
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

impl NoiseLeg {
    fn new(config: &Config, caps: &UpstreamCaps) -> anyhow::Result<Self> {
        let up = match &config.noise.secondary {
            Some(url) => config::Upstream {
                url: url.clone(),
                ..config.primary.clone()
            },
            None => config.primary.clone(),
        };
        Ok(Self {
            sampler: Sampler::new(config.noise.percent, config::SampleBy::Random),
            target: Target::new(&up)?,
            client: upstream::client(&up, &caps.primary, Some(upstream::CANDIDATE_READ_BUFFER))?,
            in_flight: Arc::new(Semaphore::new(config.noise.max_in_flight)),
        })
    }
}

/// The descriptor set named by `[grpc] descriptor_set`, read and checked.
fn grpc_schema(grpc: &config::Grpc) -> anyhow::Result<Option<Arc<GrpcSchema>>> {
    let Some(path) = &grpc.descriptor_set else {
        return Ok(None);
    };
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("grpc.descriptor_set {}: {e}", path.display()))?;
    let schema = GrpcSchema::from_descriptor_set(&bytes)
        .map_err(|e| anyhow::anyhow!("grpc.descriptor_set {}: {e}", path.display()))?;
    Ok(Some(Arc::new(schema)))
}

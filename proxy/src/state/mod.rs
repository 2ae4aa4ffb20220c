//! What every request sees: long-lived parts ([`Shared`]) and the config-derived [`Snapshot`],
//! swapped whole on reload so a request runs under one consistent config from start to end.

mod reload;
mod snapshot;
pub mod store;
mod token;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use config::Config;
use diff_engine::CompareLimits;

use crate::compare::record::Outlets;
use crate::compare::ComparePool;
use crate::cutover::Cutovers;
use crate::mirror::limit::MirrorLimit;
use crate::mirror::thread::MirrorThread;
use crate::net::tls::{server_config, ServerTls};
use crate::observe::exemplars::Exemplars;
use crate::observe::metrics::Metrics;
use crate::observe::noise::NoiseLearner;
use crate::observe::signatures::Signatures;
use crate::observe::stats::StatsRegistry;
use crate::record::Recorder;
use crate::tee::ByteBudget;
use crate::upstream::breaker::Breaker;
use crate::upstream::cap::ConnectionCap;
use crate::upstream::shelf::Shelf;
use crate::upstream::Shelves;

pub use reload::ReloadSource;
pub use snapshot::{CandidateClient, NoiseLeg, PrimaryBody, PrimaryClient, Snapshot};
use store::Store;
pub use token::Token;

pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub snapshot: ArcSwap<Snapshot>,
    pub pending: Arc<ByteBudget>,
    pub breaker: Arc<Breaker>,
    /// The adaptive limit on mirrors in flight: its estimate outlives a reload, as v2 does.
    pub mirror_limit: Arc<MirrorLimit>,
    /// Where mirrors run: a thread of their own, below v1's I/O thread in priority.
    pub mirror_thread: MirrorThread,
    pub compare: ComparePool,
    pub exemplars: Arc<Exemplars>,
    /// The recording writer, when `record.dir` is set at start (`record/`).
    pub recorder: Option<Arc<Recorder>>,
    pub stats: StatsRegistry,
    pub ready: AtomicBool,
    /// File and flags to re-read on `POST /api/reload` and SIGHUP.
    pub reload_source: Mutex<ReloadSource>,
    pub admin_token: Token,
    /// The data listener's TLS, when `[tls]` (or `--tls-cert`/`--tls-key`) is set at start.
    pub server_tls: Option<ServerTls>,
    /// Connection caps per upstream: they outlive a reload, as the connections do.
    pub caps: UpstreamCaps,
    /// Idle connections left by client connections that ended, for the next ones' lanes.
    pub shelves: Shelves<PrimaryBody>,
    /// Every route's cutover, and the state file: they outlive a reload.
    pub cutovers: Arc<Cutovers>,
    /// Where verdicts go besides the counters: exemplars, signatures, learned noise.
    pub outlets: Arc<Outlets>,
    /// `state_dir`'s store of signatures and learned noise, when set.
    pub store: Option<Arc<Store>>,
}

/// `[primary] max_connections` and `[candidate] max_connections`, with their waits.
pub struct UpstreamCaps {
    pub primary: Arc<ConnectionCap>,
    pub candidate: Arc<ConnectionCap>,
}

impl Shared {
    pub fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        let metrics = Arc::new(Metrics::new()?);
        let exemplars = Arc::new(Exemplars::from_config(&config.report)?);
        let signatures = Arc::new(Signatures::new(
            config.report.max_signatures,
            metrics.signatures_evicted.clone(),
        ));
        let noise = Arc::new(NoiseLearner::new(config.noise.min_samples));
        // What a previous run learned, before any comparison adds to it.
        let store = config
            .state_dir
            .as_deref()
            .map(|dir| Store::open(dir, &signatures, &noise).map(Arc::new))
            .transpose()?;
        let outlets = Arc::new(Outlets {
            exemplars: exemplars.clone(),
            signatures: signatures.clone(),
            noise: noise.clone(),
        });
        let limits = CompareLimits {
            max_decoded_bytes: config.limits.max_decoded_bytes,
            ..CompareLimits::default()
        };
        let compare = ComparePool::new(
            config.limits.compare_workers,
            config.limits.background_nice,
            config.limits.compare_queue,
            limits,
            metrics.clone(),
            outlets.clone(),
        )?;
        let pending = ByteBudget::new(
            config.limits.max_pending_bytes,
            metrics.pending_bytes.clone(),
            config.limits.max_capture_bytes.saturating_mul(2),
        );
        let breaker = Arc::new(Breaker::new(
            config.breaker.failure_threshold,
            config.breaker.backoff,
            metrics.breaker_open.clone(),
            metrics.breaker_trips.clone(),
        ));
        let mirror_thread = MirrorThread::start(config.limits.background_nice)?;
        let mirror_limit =
            MirrorLimit::new(&config.limits, metrics.mirror_concurrency_limit.clone());
        let recorder = Recorder::start(&config.record, metrics.record.clone())?;
        let stats = StatsRegistry::default();
        let server_tls = config.tls.as_ref().map(ServerTls::new).transpose()?;
        let admin_token = Token::default();
        admin_token.load(&config.admin_auth)?;
        let caps = UpstreamCaps {
            primary: ConnectionCap::new(
                config.primary.max_connections,
                config.primary.queue_timeout,
                metrics.primary_connections.clone(),
            ),
            candidate: ConnectionCap::new(
                config.candidate.upstream.max_connections,
                config.candidate.upstream.queue_timeout,
                metrics.candidate_connections.clone(),
            ),
        };
        let shelves = Shelves {
            primary: Shelf::new(&caps.primary),
            mirror: Shelf::new(&caps.candidate),
            serve: Shelf::new(&caps.candidate),
            raw: Shelf::new(&caps.primary),
        };
        let cutovers = Arc::new(Cutovers::open(&config.cutover, metrics.clone())?);
        let snapshot = Snapshot::build(config, &metrics, &stats, &caps, &cutovers)?;
        for r in snapshot.all_routes() {
            // An operator's brake from before the restart, unless the file changed that share.
            if let Some(b) = cutovers.saved_brake(&r.name) {
                if b.configured == r.configured_percent {
                    r.set_percent(b.percent);
                    tracing::info!(route = %r.name, percent = b.percent, "kept the live mirror percent across the restart");
                }
            }
            r.activate();
        }
        Ok(Arc::new(Self {
            metrics,
            snapshot: ArcSwap::from_pointee(snapshot),
            pending,
            breaker,
            mirror_limit,
            mirror_thread,
            shelves,
            compare,
            exemplars,
            recorder,
            stats,
            ready: AtomicBool::new(false),
            reload_source: Mutex::new(ReloadSource::default()),
            admin_token,
            server_tls,
            caps,
            cutovers,
            outlets,
            store,
        }))
    }

    /// Build everything [`Shared::new`] builds from `config` and throw it away: what
    /// `check-config` accepts, the start accepts. Blocking (it starts and joins the comparison
    /// threads); needs no runtime.
    pub fn check(mut config: Config) -> anyhow::Result<()> {
        // Checked without being opened: a running proxy holds its store.
        if let Some(dir) = config.state_dir.take() {
            Store::check(&dir)?;
        }
        let shared = Self::new(config)?;
        shared.compare.close();
        Ok(())
    }

    /// No mirror in flight and no comparison queued or running: every mirror so far has ended
    /// as an outcome (for the demo's table and the tests' `settle`).
    pub fn is_idle(&self) -> bool {
        self.metrics.mirrors_in_flight.get() == 0 && self.compare.unfinished() == 0
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Install a new config; requests already running finish under the old one. Everything is
    /// built first — routes, rules, clients, TLS, the admin token — and put in force in one step
    /// only when every piece built: a rejected reload changes nothing at all.
    pub fn reload(&self, config: Config) -> anyhow::Result<()> {
        let current = &self.snapshot.load().config.record;
        let new = &config.record;
        if (&current.dir, current.max_file_bytes, current.max_files)
            != (&new.dir, new.max_file_bytes, new.max_files)
        {
            tracing::warn!("record.dir, max_file_bytes and max_files are read at start; a restart applies them");
        }
        let token = Token::read(&config.admin_auth)?;
        // New handshakes get the re-read certificate; open connections keep theirs.
        let tls = match (&self.server_tls, &config.tls) {
            (Some(_), Some(tls)) => Some(server_config(tls)?),
            (None, Some(_)) | (Some(_), None) => {
                tracing::warn!(
                    "turning TLS on or off needs a restart; the listener keeps its mode"
                );
                None
            }
            (None, None) => None,
        };
        let snap = Snapshot::build(
            config,
            &self.metrics,
            &self.stats,
            &self.caps,
            &self.cutovers,
        )?;
        // Nothing below can fail.
        self.keep_live_shares(&snap);
        for r in snap.all_routes() {
            r.activate();
        }
        let (primary, candidate) = (&snap.config.primary, &snap.config.candidate.upstream);
        self.caps
            .primary
            .resize(primary.max_connections, primary.queue_timeout);
        self.caps
            .candidate
            .resize(candidate.max_connections, candidate.queue_timeout);
        self.mirror_limit.configure(&snap.config.limits);
        if let (Some(current), Some(config)) = (&self.server_tls, tls) {
            current.install(config);
        }
        self.admin_token.set(token);
        self.snapshot.store(Arc::new(snap));
        self.cutovers.save();
        Ok(())
    }

    /// An operator's live share (the brake, a per-route share) survives a reload, unless the new
    /// file changes that route's share itself; the log says which were kept.
    fn keep_live_shares(&self, next: &Snapshot) {
        let current = self.snapshot.load();
        for old in current.all_routes() {
            let live = old.percent();
            let Some(new) = next.all_routes().find(|r| r.name == old.name) else {
                continue;
            };
            if new.configured_percent != old.configured_percent {
                // The file changed this share itself: an operator's brake no longer applies.
                self.cutovers.set_brake(&new.name, None);
                continue;
            }
            if live != old.configured_percent {
                new.set_percent(live);
                tracing::info!(
                    route = %new.name,
                    percent = live,
                    file = new.configured_percent,
                    "kept the live mirror percent across the reload"
                );
            }
        }
    }

    /// Remember where [`Shared::reload_from_source`] reads from.
    pub fn set_reload_source(&self, source: ReloadSource) {
        *self
            .reload_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = source;
    }

    /// Re-read the config (file + start-up flags) and install it, or keep the old one and say why.
    pub fn reload_from_source(&self) -> anyhow::Result<()> {
        let source = self
            .reload_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let config = source.load()?;
        self.reload(config)?;
        tracing::info!("configuration reloaded");
        Ok(())
    }
}

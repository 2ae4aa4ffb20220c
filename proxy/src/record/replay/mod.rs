//! `shadowdiff replay`: recorded requests sent to v2 (and, with `--primary`, to a live v1),
//! compared by the proxy's own machinery — the config loaded and the routes built as the proxy
//! builds them (`state::Shared`), each request through the mirror's v2 leg
//! (`mirror::candidate::CandidateLeg`) and the candidate shaping, each pair through the
//! comparison pool's own compare-and-record and its single fan-out (`compare/`) — so a config
//! tested in CI is the config that runs in production.
//!
//! Shape: a reader thread decodes the files and cuts them into lines (slices of the decompressed
//! text), into a bounded channel; `C` workers (the concurrency) each own a connection to v2, as
//! a client connection's lane does in the proxy, take the next lines (paced under the same lock,
//! for `--rate` and `--speed`), parse each into an exchange ready to send (its strings and
//! bodies still slices of the text), send it and compare the pair where they are: a replay
//! serves no client whose latency a comparison could steal, so there is no hand-off to a
//! comparison thread to pay for.
//!
//! Exit codes: 0 every route within its budget, 1 some route over it (named), 2 usage errors
//! and replays that cannot run (bad config, v2 unreachable, nothing readable).

mod merge;
mod pace;
mod progress;
pub mod recorded;
mod report;
mod send;
mod source;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::{mpsc, Mutex};

use config::{Config, Overrides};

use crate::observe::redact::Redactor;
use crate::state::Shared;

use recorded::Recorded;

pub use report::Outcome;

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Args {
    pub files: Vec<PathBuf>,
    pub candidate: String,
    pub primary: Option<String>,
    pub config: Option<PathBuf>,
    /// Requests per second, open loop (at most [`RATE_CONCURRENCY`] in flight).
    pub rate: Option<f64>,
    /// Requests in flight at once (closed loop) when no rate is given.
    pub concurrency: Option<usize>,
    /// Replay at the recorded pace, this many times faster.
    pub speed: Option<f64>,
    pub report: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    /// Sent with every request, to v2 and a live v1, replacing any of that name (`--header`).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// In flight when no `--concurrency` is given.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// In flight at most under `--rate` or `--speed`: high enough not to limit a rate, bounded so a
/// stalled v2 cannot pile up tasks.
pub const RATE_CONCURRENCY: usize = 512;

/// Why a replay could not run (exit 2), as opposed to one that ran and judged (0 or 1).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Unusable(pub anyhow::Error);

/// Run a replay to its verdict.
pub async fn run(args: Args) -> Result<Outcome, Unusable> {
    let config = load(&args).map_err(Unusable)?;
    let redactor = Redactor::new(&config.report).map_err(Unusable)?;
    let config = for_replay(config, &redactor, args.primary.is_some());
    let shared = Shared::new(config).map_err(Unusable)?;
    let live = send::Legs::new(&shared, args.primary.is_some(), &args.headers).map_err(Unusable)?;
    live.reachable().await.map_err(Unusable)?;

    let total = source::count(&args.files);
    let bar = progress::Progress::new(total);
    // At the recorded pace, the files' lines go in the order they were recorded across files
    // (one file is already in its own order).
    let by_time = args.speed.is_some() && args.rate.is_none() && args.files.len() > 1;
    let (lines, parser, read) = source::spawn(args.files.clone(), by_time);
    let started = Instant::now();
    let next = Arc::new(Mutex::new(Next {
        batches: lines,
        batch: std::collections::VecDeque::new(),
        pace: pace::Pace::new(args.rate, args.speed),
    }));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency(&args) {
        let (live, bar, next, parser) = (live.clone(), bar.clone(), next.clone(), parser.clone());
        workers.spawn(async move {
            let lanes = send::Lanes::new(&live.shared);
            while let Some(taken) = take(&next, &parser).await {
                for line in taken.into_exchanges(&parser) {
                    live.replay(line, &lanes).await;
                    bar.done(&live.shared);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    bar.finish(&shared);
    let bad = parser.take_bad();
    let read = read
        .await
        .context("reading the files")
        .map_err(Unusable)?
        .with_bad(bad);
    if read.lines == 0 {
        return Err(Unusable(anyhow::anyhow!(
            "nothing to replay: no readable exchange in {} file(s){}",
            args.files.len(),
            read.describe_problems()
        )));
    }
    let outcome = report::Outcome::judge(&shared, read, started.elapsed(), live.refused.counts());
    outcome.print();
    if let Some(path) = &args.report {
        outcome.write_json(path).map_err(Unusable)?;
    }
    if let Some(path) = &args.junit {
        outcome.write_junit(path).map_err(Unusable)?;
    }
    let shared2 = shared.clone();
    let _ = tokio::task::spawn_blocking(move || shared2.compare.close()).await;
    Ok(outcome)
}

fn concurrency(args: &Args) -> usize {
    match (args.concurrency, args.rate.or(args.speed)) {
        (Some(c), _) => c.max(1),
        (None, Some(_)) => RATE_CONCURRENCY,
        (None, None) => DEFAULT_CONCURRENCY,
    }
}

/// The config as the proxy would load it, with `--candidate` (and `--primary`) laid over it.
fn load(args: &Args) -> anyhow::Result<Config> {
    let overrides = Overrides {
        candidate: Some(args.candidate.clone()),
        primary: args.primary.clone(),
        ..Overrides::default()
    };
    crate::record::load_config(args.config.as_deref(), &overrides)
}

/// The proxy's config, less what a replay must not touch or cannot compare.
fn for_replay(mut config: Config, redactor: &Redactor, live_primary: bool) -> Config {
    // A replay must not append to the proxy's mismatch file, nor record itself; nor open what
    // the proxy keeps across restarts: the store in `state_dir` is locked by a running proxy
    // (and held by a replay, would stop a restarting proxy from opening it), and neither it
    // nor the cutover's state file has a say in a replay's verdict. It serves nobody, so the
    // listener's certificate and the admin token are not read either: the production config
    // runs in CI, where none of those paths exist.
    config.report.jsonl_path = None;
    config.record.dir = None;
    config.state_dir = None;
    config.cutover.state_file = None;
    config.tls = None;
    config.admin_auth = config::AdminAuth::default();
    // An upstream's CA and client certificate serve `https://` only: v1 is the recording
    // without `--primary`, and a v2 under test in CI is usually plain HTTP on the runner.
    for (up, live) in [
        (&mut config.primary, live_primary),
        (&mut config.candidate.upstream, true),
    ] {
        if !live || up.url.scheme() != Some(&http::uri::Scheme::HTTPS) {
            (up.ca_file, up.client_cert, up.client_key) = (None, None, None);
        }
    }
    // Values redacted when recorded cannot be compared with v2's real ones: those headers and
    // body paths are left out of the comparison (the rest of the rules stand as written).
    let hidden: Vec<String> = redactor.header_names().map(str::to_owned).collect();
    let paths = config.report.redact_paths.clone();
    let widen = |spec: &mut diff_engine::RuleSpec| {
        spec.ignore_headers.extend(hidden.iter().cloned());
        if let Some(only) = &mut spec.compare_headers {
            only.retain(|h| !hidden.contains(h));
        }
        spec.ignore_paths.extend(paths.iter().cloned());
    };
    widen(&mut config.compare);
    for r in &mut config.routes {
        widen(&mut r.compare);
    }
    config
}

/// Where the workers take lines from.
struct Next {
    batches: mpsc::Receiver<Vec<source::RawLine>>,
    /// The rest of a batch, paced: one line at a time.
    batch: std::collections::VecDeque<source::RawLine>,
    pace: pace::Pace,
}

/// What a worker takes: unpaced, a whole batch as read (one lock per batch, and still one
/// request in flight per worker), each line parsed just before it is sent; paced, one line,
/// parsed to learn when it is due, once it is.
enum Taken {
    Batch(Vec<source::RawLine>),
    Due(Box<Recorded>),
}

impl Taken {
    fn into_exchanges(self, parser: &source::Parser) -> impl Iterator<Item = Recorded> + '_ {
        let (batch, due) = match self {
            Taken::Batch(b) => (b, None),
            Taken::Due(r) => (Vec::new(), Some(*r)),
        };
        due.into_iter()
            .chain(batch.into_iter().filter_map(|l| parser.parse(l)))
    }
}

/// A worker's next lines. The pace is kept under the same lock as the queue, so the workers
/// together leave at the rate (or the recorded pace) asked for.
async fn take(next: &Mutex<Next>, parser: &source::Parser) -> Option<Taken> {
    let mut next = next.lock().await;
    loop {
        if next.batch.is_empty() {
            let batch = next.batches.recv().await?;
            if !next.pace.is_paced() {
                return Some(Taken::Batch(batch));
            }
            next.batch = batch.into();
        }
        let Some(line) = next.batch.pop_front().and_then(|l| parser.parse(l)) else {
            continue;
        };
        next.pace.wait(line.time_ms).await;
        return Some(Taken::Due(Box::new(line)));
    }
}

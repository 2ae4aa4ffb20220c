//! The command line: flags, subcommands, and the process around the proxy (logging, signals,
//! exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use config::{Config, LogFormat, Overrides};

use crate::app::run::{runtime, until_signalled};
use crate::observe::logging::init_logging;

/// Every bound the proxy enforces, with its default: past one, the mirror or comparison is skipped
/// and counted (`shadowdiff_mirror_skipped_total{reason}`), never queued.
const BOUNDS: &str = "\
Bounds (config keys; past a bound the request or mirror is refused or skipped, and counted):
  limits.max_connections          4096     open client connections               -> accepting pauses
  limits.h2_max_concurrent_streams 100     h2 streams per client connection      -> the client queues
  header_read_timeout             75s      request head / idle connection        -> closed (h2: GOAWAY)
  client_body_timeout             60s      pause in a request body               -> client gets 408
  primary.max_connections         1024     connections to v1 (queue_timeout)     -> client gets 503
  candidate.max_connections       1024     connections to v2 (queue_timeout)     -> overloaded
  limits.max_in_flight_mirrors    1024     mirrors in flight, all routes         -> overloaded
  limits.adaptive_mirrors         true     limit moved down to min_in_flight_mirrors (8) when v2's or
                                           v1's latency, or the proxy's scheduling delay, rises -> overloaded
  limits.max_pending_bytes        64MiB    bodies held + 64KiB per mirror        -> overloaded
  limits.max_capture_bytes        1MiB     body bytes kept per side              -> body_too_large
  limits.max_request_body_bytes   1MiB     request body bytes copied for v2      -> body_too_large
  limits.compare_queue            1024     comparisons waiting for a worker      -> queue_full
  limits.compare_workers          1        comparison threads (off the I/O runtime)
  limits.max_decoded_bytes        8MiB     decompressed body size                -> decoded_too_large
  candidate.connect_timeout       1s       v2 TCP/TLS connect                    -> candidate error connect
  candidate.timeout               5s       v2 whole exchange                     -> candidate error timeout
  primary.connect_timeout         2s       v1 TCP/TLS connect                    -> client gets 502
  primary.timeout                 30s      v1 response head                      -> client gets 504
  stream_idle_timeout             60s      pause in v1's response body           -> response cut
  breaker.failure_threshold       5        consecutive v2 failures that stop mirroring for breaker.backoff (10s)
  shutdown_grace                  30s      in-flight exchanges on SIGTERM/SIGINT -> shutdown
Every key: config/README.md. Admin endpoints and metrics: README.md.";

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SHADOWDIFF_COMMIT"),
    ")"
);

/// Shadow-traffic mirroring proxy: serves every response from v1 (primary), mirrors a share of
/// requests to v2 (candidate), compares the two, and exports drift to Prometheus.
///
/// Precedence: built-in defaults < config file (--config) < flags.
#[derive(Debug, Parser)]
#[command(name = "shadowdiff", version = VERSION, args_conflicts_with_subcommands = true, after_long_help = BOUNDS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Data listener address [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Admin listener (metrics, health, report, control) [default: 127.0.0.1:9901]
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// v1 base URL; every response the client gets comes from here (required, flag or config)
    #[arg(long, value_name = "URL")]
    pub primary: Option<String>,
    /// v2 base URL; mirrored requests go here (required, flag or config)
    #[arg(long, value_name = "URL")]
    pub candidate: Option<String>,
    /// Share of eligible requests mirrored, 0-100, fractions allowed [default: 10]
    #[arg(long, value_name = "P")]
    pub mirror_percent: Option<f64>,
    /// TOML config file (see config/README.md for every key)
    #[arg(long, value_name = "FILE", env = "SHADOWDIFF_CONFIG")]
    pub config: Option<PathBuf>,
    /// TLS certificate chain (PEM) for the data listener
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for the data listener
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Log format [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Log filter, e.g. `info` or `shadowdiff=debug` [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log one line per request (route, statuses, durations) [default: off]
    #[arg(long)]
    pub access_log: bool,
    /// I/O threads; 1 runs a single-threaded runtime, the cheapest per request [default: 1]
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run sample v1 and v2 services and the proxy in process, drive traffic, print a report
    Demo {
        /// Exit after the report instead of serving until Ctrl-C
        #[arg(long)]
        once: bool,
        /// Requests to drive
        #[arg(long, default_value_t = 400)]
        requests: usize,
    },
    /// Validate a config file: exit 0 if it is good, 2 with the reason if not
    CheckConfig {
        /// The TOML file
        file: PathBuf,
    },
    /// Run one of the demo's sample services (for compose stacks and manual tests)
    SampleService {
        /// Which one: v1, or v2 with deliberate differences
        #[arg(value_enum)]
        role: crate::app::demo::Role,
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
    },
    /// Probe a health endpoint (http or https): exit 0 on a 2xx answer within 3 s, 1 otherwise
    /// with the URL named (for container HEALTHCHECKs without a shell)
    Healthcheck {
        /// URL to probe
        #[arg(long, default_value = "http://127.0.0.1:9901/healthz/ready")]
        url: String,
    },
    /// Convert recordings to and from HAR 1.2
    Record {
        #[command(subcommand)]
        action: RecordCommand,
    },
    /// Send recorded requests to v2 (and v1 with --primary), compare under the config's routes
    /// and rules, and judge each route against its budget: exit 0 within, 1 over, 2 usage or
    /// nothing compared
    Replay(ReplayArgs),
    /// Drive a cutover on one proxy or a fleet (status, abort, pause, resume, promote, weight W)
    Ctl(crate::app::ctl::CtlArgs),
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Write recordings (*.jsonl.zst) as one HAR 1.2 file
    Export {
        /// The HAR file to write
        #[arg(long, value_name = "OUT")]
        har: PathBuf,
        /// Recording files
        #[arg(required = true, value_name = "FILE.zst")]
        files: Vec<PathBuf>,
    },
    /// Read a HAR 1.2 file (from a browser or another tool) into one recording file, redacted
    /// as a live capture is
    Import {
        /// The HAR file to read
        #[arg(long, value_name = "IN")]
        har: PathBuf,
        /// The recording file to write
        #[arg(value_name = "OUT.zst")]
        out: PathBuf,
        /// Config whose [report] redact_headers and redact_paths apply too
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Recording files (*.jsonl.zst, or JSON lines decompressed), replayed in the order given
    /// (under --speed, merged by recorded time)
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// v2 base URL
    #[arg(long, value_name = "URL")]
    pub candidate: String,
    /// v1 base URL: send each request to v1 live too (staging A/B) instead of comparing with
    /// the recorded v1 response
    #[arg(long, value_name = "URL")]
    pub primary: Option<String>,
    /// The proxy's config file: its routes, [compare] rules, budgets, timeouts and [candidate]
    /// shaping apply
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Requests per second (open loop), at least 0.001
    #[arg(long, value_name = "R", conflicts_with = "concurrency", value_parser = pace_arg)]
    pub rate: Option<f64>,
    /// Requests in flight at once, 1–100000 [default: 16]
    #[arg(long, value_name = "C",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub concurrency: Option<usize>,
    /// Replay at the recorded pace, X times faster (2 = twice as fast; at least 0.001); the
    /// files' lines go in recorded-time order across files (recordings of several proxies
    /// interleave)
    #[arg(long, value_name = "X", conflicts_with = "rate", value_parser = pace_arg)]
    pub speed: Option<f64>,
    /// Write the per-route results as JSON
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a JUnit XML file: one test case per route
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// A header sent with every replayed request, to v2 and (with --primary) to v1, replacing
    /// any of that name: a test credential, since recorded ones were redacted (repeatable)
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = header_arg)]
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// A rate or a speed: a number from 0.001 up (zero, a negative or `inf` used to run unpaced
/// without a word, and a tiny one overflowed the time of the next request).
fn pace_arg(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.001 => Ok(x),
        Ok(_) => Err(format!("`{text}`: must be a number from 0.001 up")),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// `NAME: VALUE` (or `NAME:VALUE`), as curl's `-H`.
fn header_arg(text: &str) -> Result<(http::HeaderName, http::HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: expected NAME: VALUE"))?;
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a header name", name.trim()))?;
    let value = http::HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of `{name}` is not a header value"))?;
    Ok((name, value))
}

impl RunArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            admin: self.admin.clone(),
            primary: self.primary.clone(),
            candidate: self.candidate.clone(),
            mirror_percent: self.mirror_percent,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            log_format: self.log_format.map(|f| match f {
                LogFormatArg::Text => "text".to_string(),
                LogFormatArg::Json => "json".to_string(),
            }),
            log_level: self.log_level.clone(),
            access_log: self.access_log.then_some(true),
            workers: self.workers,
        }
    }
}

/// Parse the command line and run; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig { file }) => check_config(&file),
        Some(Command::Demo { once, requests }) => {
            exit(runtime(1).and_then(|rt| rt.block_on(crate::app::demo::run(once, requests))))
        }
        Some(Command::SampleService { role, listen }) => {
            init_logging(LogFormat::Text, "info");
            exit(
                runtime(1).and_then(|rt| {
                    rt.block_on(crate::app::demo::sample::serve_forever(role, listen))
                }),
            )
        }
        Some(Command::Healthcheck { url }) => {
            exit(runtime(1).and_then(|rt| rt.block_on(healthcheck(&url))))
        }
        Some(Command::Record { action }) => record(action),
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Ctl(args)) => crate::app::ctl::run(args),
        None => {
            let config = match Config::load(cli.run.config.as_deref(), &cli.run.overrides()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("shadowdiff: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(config.log.format, &config.log.level);
            crate::app::fd_limit::prepare(&config);
            exit(runtime(config.workers).and_then(|rt| {
                rt.block_on(until_signalled(
                    config,
                    cli.run.config.clone(),
                    cli.run.overrides(),
                ))
            }))
        }
    }
}

/// `check-config`: validate, then build everything the start builds short of binding sockets
/// (token files, certificates and keys, CAs, rules, clients), so what it accepts starts.
fn check_config(file: &std::path::Path) -> ExitCode {
    let built = Config::load(Some(file), &Overrides::default())
        .map_err(anyhow::Error::from)
        .and_then(|c| {
            let summary = format!(
                "{} route(s); primary {}, candidate {}",
                c.routes.len(),
                c.primary.url,
                c.candidate.upstream.url
            );
            let fds = crate::app::fd_limit::check(&c);
            crate::state::Shared::check(c)?;
            Ok((summary, fds))
        });
    match built {
        Ok((summary, fds)) => {
            println!("{}: ok ({summary})", file.display());
            if let Some(warning) = fds {
                eprintln!("{}: warning: {warning}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e:#}", file.display());
            ExitCode::from(2)
        }
    }
}

fn record(action: RecordCommand) -> ExitCode {
    use crate::record::har;
    let done = match action {
        RecordCommand::Export { har: out, files } => har::export(&files, &out),
        RecordCommand::Import {
            har: input,
            out,
            config,
        } => {
            // Only [report] matters here.
            let report = match crate::record::load_config(config.as_deref(), &Overrides::default())
            {
                Ok(c) => c.report,
                Err(e) => {
                    eprintln!("shadowdiff: configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            crate::observe::redact::Redactor::new(&report)
                .and_then(|r| har::import(&input, &out, &r))
        }
    };
    match done {
        Ok(done) => {
            for p in &done.problems {
                eprintln!("shadowdiff: skipped {p}");
            }
            println!("{} exchange(s) converted", done.entries);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shadowdiff: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn replay(args: ReplayArgs) -> ExitCode {
    init_logging(LogFormat::Text, "warn");
    let args = crate::record::replay::Args {
        files: args.files,
        candidate: args.candidate,
        primary: args.primary,
        config: args.config,
        rate: args.rate,
        concurrency: args.concurrency,
        speed: args.speed,
        report: args.report,
        junit: args.junit,
        headers: args.headers,
    };
    let outcome = runtime(1)
        .map_err(crate::record::replay::Unusable)
        .and_then(|rt| rt.block_on(crate::record::replay::run(args)));
    match outcome {
        Ok(o) => ExitCode::from(o.exit_code()),
        Err(e) => {
            eprintln!("shadowdiff replay: {e}");
            ExitCode::from(2)
        }
    }
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shadowdiff: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Probe `url` (http or https, the system's web PKI roots): 2xx within 3 s, or an error that
/// names the URL.
async fn healthcheck(url: &str) -> anyhow::Result<()> {
    use http_body_util::Empty;
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("parsing --url {url}"))?;
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS versions")?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(connector);
    let resp = tokio::time::timeout(std::time::Duration::from_secs(3), client.get(uri))
        .await
        .with_context(|| format!("{url}: no answer within 3 s"))?
        .with_context(|| format!("{url}: request failed"))?;
    anyhow::ensure!(
        resp.status().is_success(),
        "{url} answered {}",
        resp.status()
    );
    Ok(())
}

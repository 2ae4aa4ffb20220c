//! Stage 2: raw structs + command-line overrides → validated [`Config`].
//!
//! Each value is taken from the flag if given, else the file, else the default, and checked
//! under the name of wherever it came from (`--mirror-percent` or `mirror_percent`).

mod cutover;
mod record;
mod rules;
mod upstream;

use crate::bounds as max;
use crate::check::{self, invalid, Result};
use crate::defaults as d;
use crate::raw::{RawAdminAuth, RawConfig, RawLimits, RawLog, RawNoise, RawReport, RawTls};
use crate::{
    AdminAuth, Breaker, Config, Grpc, Limits, Log, LogFormat, Noise, Overrides, Report, SampleBy,
    Tls,
};

/// The source of a value: a file key or a flag, used as the key in errors.
type Sourced<T> = Option<(T, String)>;

/// The flag's value if given, else the file's.
fn layer<T>(file: Option<T>, file_key: &str, flag: Option<T>, flag_key: &str) -> Sourced<T> {
    match flag {
        Some(v) => Some((v, flag_key.to_owned())),
        None => file.map(|v| (v, file_key.to_owned())),
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = crate::ConfigError;

    /// Validate a file's contents without command-line overrides.
    fn try_from(raw: RawConfig) -> Result<Config> {
        build(raw, &Overrides::default())
    }
}

pub(crate) fn build(raw: RawConfig, ov: &Overrides) -> Result<Config> {
    let listen = addr(
        layer(raw.listen, "listen", ov.listen.clone(), "--listen"),
        d::LISTEN,
    )?;
    let admin_src = layer(raw.admin, "admin", ov.admin.clone(), "--admin");
    let admin_key = admin_src
        .as_ref()
        .map_or("admin".to_owned(), |(_, k)| k.clone());
    let admin = addr(admin_src, d::ADMIN)?;
    // Port 0 asks the OS for a free port, so two `:0` listeners never collide.
    if listen == admin && listen.port() != 0 {
        return invalid(
            &admin_key,
            format!("must differ from listen, both are {admin}"),
        );
    }

    let mirror_percent = match layer(
        raw.mirror_percent,
        "mirror_percent",
        ov.mirror_percent,
        "--mirror-percent",
    ) {
        Some((v, key)) => check::percent(&key, v)?,
        None => d::MIRROR_PERCENT,
    };
    let sample_by = match raw.sample_by {
        Some(text) => check::sample_by("sample_by", &text)?,
        None => SampleBy::Random,
    };
    let primary = upstream::primary(raw.primary, ov)?;
    let candidate = upstream::candidate(raw.candidate, ov)?;
    let compare = rules::compare("compare", &raw.compare, &Default::default())?;
    let budget = rules::budget("budget", &raw.budget, &rules::default_budget())?;
    let record = record::record(raw.record)?;
    let cutover = cutover::cutover(raw.cutover)?;
    let routes = rules::routes(
        raw.routes,
        &compare,
        &budget,
        &record.policy,
        &cutover.policy,
    )?;
    record::needs_dir(&record, &routes)?;

    Ok(Config {
        listen,
        admin,
        primary,
        candidate,
        mirror_percent,
        sample_by,
        limits: limits(raw.limits)?,
        breaker: Breaker {
            failure_threshold: check::in_range(
                "breaker.failure_threshold",
                raw.breaker
                    .failure_threshold
                    .unwrap_or(d::FAILURE_THRESHOLD),
                0,
                max::FAILURE_THRESHOLD,
            )?,
            backoff: check::positive_duration(
                "breaker.backoff",
                raw.breaker.backoff.as_ref(),
                d::BACKOFF,
            )?,
            trip_on_5xx: raw.breaker.trip_on_5xx.unwrap_or(false),
        },
        compare,
        budget,
        routes,
        tls: tls(raw.tls, ov)?,
        log: log(raw.log, ov)?,
        report: report(raw.report)?,
        grpc: Grpc {
            descriptor_set: check::path("grpc.descriptor_set", raw.grpc.descriptor_set)?,
            max_timeout: check::positive_duration(
                "grpc.max_timeout",
                raw.grpc.max_timeout.as_ref(),
                d::GRPC_MAX_TIMEOUT,
            )?,
        },
        admin_auth: admin_auth(raw.admin_auth)?,
        record,
        cutover,
        noise: noise(raw.noise)?,
        state_dir: check::path("state_dir", raw.state_dir)?,
        shutdown_grace: check::duration(
            "shutdown_grace",
            raw.shutdown_grace.as_ref(),
            d::SHUTDOWN_GRACE,
        )?,
        workers: match ov.workers {
            Some(n) => check::in_range("--workers", n, 1, max::WORKERS)?,
            None => check::in_range(
                "workers",
                raw.workers.unwrap_or(d::WORKERS),
                1,
                max::WORKERS,
            )?,
        },
        header_read_timeout: check::positive_duration(
            "header_read_timeout",
            raw.header_read_timeout.as_ref(),
            d::HEADER_READ_TIMEOUT,
        )?,
        client_body_timeout: check::positive_duration(
            "client_body_timeout",
            raw.client_body_timeout.as_ref(),
            d::CLIENT_BODY_TIMEOUT,
        )?,
        stream_idle_timeout: check::positive_duration(
            "stream_idle_timeout",
            raw.stream_idle_timeout.as_ref(),
            d::STREAM_IDLE_TIMEOUT,
        )?,
        http1_relay: raw.http1_relay.unwrap_or(true),
    })
}

fn addr(src: Sourced<String>, default: &str) -> Result<std::net::SocketAddr> {
    match src {
        Some((text, key)) => check::socket_addr(&key, &text),
        None => check::socket_addr("(default)", default),
    }
}

fn limits(raw: RawLimits) -> Result<Limits> {
    let count = |key: &str, v: Option<usize>, default: usize, max: usize| {
        check::in_range(&format!("limits.{key}"), v.unwrap_or(default), 1, max)
    };
    let mut limits = Limits {
        max_connections: count(
            "max_connections",
            raw.max_connections,
            d::MAX_CONNECTIONS,
            max::MAX_CONNECTIONS,
        )?,
        max_in_flight_mirrors: count(
            "max_in_flight_mirrors",
            raw.max_in_flight_mirrors,
            d::MAX_IN_FLIGHT_MIRRORS,
            max::MAX_IN_FLIGHT_MIRRORS,
        )?,
        adaptive_mirrors: raw.adaptive_mirrors.unwrap_or(d::ADAPTIVE_MIRRORS),
        // Checked against the ceiling below; unset, it follows a ceiling lower than its default.
        min_in_flight_mirrors: count(
            "min_in_flight_mirrors",
            raw.min_in_flight_mirrors,
            d::MIN_IN_FLIGHT_MIRRORS,
            max::MAX_IN_FLIGHT_MIRRORS,
        )?,
        max_capture_bytes: check::mem_size(
            "limits.max_capture_bytes",
            raw.max_capture_bytes.as_ref(),
            d::MAX_CAPTURE_BYTES,
            max::BODY_BYTES,
        )?,
        max_request_body_bytes: check::mem_size(
            "limits.max_request_body_bytes",
            raw.max_request_body_bytes.as_ref(),
            d::MAX_REQUEST_BODY_BYTES,
            max::BODY_BYTES,
        )?,
        compare_queue: count(
            "compare_queue",
            raw.compare_queue,
            d::COMPARE_QUEUE,
            max::COMPARE_QUEUE,
        )?,
        compare_workers: count(
            "compare_workers",
            raw.compare_workers,
            d::COMPARE_WORKERS,
            max::COMPARE_WORKERS,
        )?,
        background_nice: check::in_range(
            "limits.background_nice",
            raw.background_nice.unwrap_or(d::BACKGROUND_NICE),
            0,
            19,
        )?,
        max_pending_bytes: check::mem_size(
            "limits.max_pending_bytes",
            raw.max_pending_bytes.as_ref(),
            d::MAX_PENDING_BYTES,
            max::MAX_PENDING_BYTES,
        )?,
        max_decoded_bytes: check::mem_size(
            "limits.max_decoded_bytes",
            raw.max_decoded_bytes.as_ref(),
            d::MAX_DECODED_BYTES,
            max::BODY_BYTES,
        )?,
        h2_max_concurrent_streams: check::in_range(
            "limits.h2_max_concurrent_streams",
            raw.h2_max_concurrent_streams
                .unwrap_or(d::H2_MAX_CONCURRENT_STREAMS),
            1,
            max::H2_MAX_CONCURRENT_STREAMS,
        )?,
    };
    if raw.min_in_flight_mirrors.is_none() {
        limits.min_in_flight_mirrors = limits
            .min_in_flight_mirrors
            .min(limits.max_in_flight_mirrors);
    } else if limits.min_in_flight_mirrors > limits.max_in_flight_mirrors {
        return invalid(
            "limits.min_in_flight_mirrors",
            format!(
                "must be at most limits.max_in_flight_mirrors ({}), got {}",
                limits.max_in_flight_mirrors, limits.min_in_flight_mirrors
            ),
        );
    }
    // One comparison holds two captures (v1 and v2), and a mirror in flight 64 KiB besides
    // (the proxy's `MIRROR_OVERHEAD`): a smaller total could never admit one.
    let need = limits
        .max_capture_bytes
        .saturating_mul(2)
        .saturating_add(MIRROR_OVERHEAD);
    if limits.max_pending_bytes < need {
        return invalid(
            "limits.max_pending_bytes",
            format!(
                "must be at least 2 × limits.max_capture_bytes + 64 KiB for a mirror in flight ({need} bytes), got {}",
                limits.max_pending_bytes
            ),
        );
    }
    Ok(limits)
}

/// What a mirror in flight holds of the byte budget besides its bodies (`proxy::mirror::plan`).
const MIRROR_OVERHEAD: usize = 64 * 1024;

fn tls(raw: RawTls, ov: &Overrides) -> Result<Option<Tls>> {
    let cert = layer(raw.cert, "tls.cert", ov.tls_cert.clone(), "--tls-cert");
    let key = layer(raw.key, "tls.key", ov.tls_key.clone(), "--tls-key");
    match (cert, key) {
        (None, None) => Ok(None),
        (Some((cert, ck)), Some((key, kk))) => Ok(Some(Tls {
            cert: check::path(&ck, Some(cert))?.unwrap_or_default(),
            key: check::path(&kk, Some(key))?.unwrap_or_default(),
        })),
        (Some((_, ck)), None) => invalid(&ck, "requires a private key too (tls.key or --tls-key)"),
        (None, Some((_, kk))) => {
            invalid(&kk, "requires a certificate too (tls.cert or --tls-cert)")
        }
    }
}

fn log(raw: RawLog, ov: &Overrides) -> Result<Log> {
    let format = match layer(
        raw.format,
        "log.format",
        ov.log_format.clone(),
        "--log-format",
    ) {
        None => LogFormat::Text,
        Some((f, _)) if f == "text" => LogFormat::Text,
        Some((f, _)) if f == "json" => LogFormat::Json,
        Some((f, key)) => {
            return invalid(&key, format!("must be \"text\" or \"json\", got \"{f}\""))
        }
    };
    // The directive grammar belongs to tracing-subscriber, which the proxy parses it with.
    let level = match layer(raw.level, "log.level", ov.log_level.clone(), "--log-level") {
        None => d::LOG_LEVEL.to_owned(),
        Some((l, key)) if l.trim().is_empty() => return invalid(&key, "must not be empty"),
        Some((l, _)) => l.trim().to_owned(),
    };
    Ok(Log {
        format,
        level,
        access_log: ov.access_log.or(raw.access_log).unwrap_or(false),
    })
}

fn report(raw: RawReport) -> Result<Report> {
    let redact_paths = raw.redact_paths.unwrap_or_default();
    rules::engine_paths("report.redact_paths", &redact_paths)?;
    Ok(Report {
        max_exemplars: check::in_range(
            "report.max_exemplars",
            raw.max_exemplars.unwrap_or(d::MAX_EXEMPLARS),
            0,
            max::MAX_EXEMPLARS,
        )?,
        max_signatures: check::in_range(
            "report.max_signatures",
            raw.max_signatures.unwrap_or(d::MAX_SIGNATURES),
            1,
            max::MAX_SIGNATURES,
        )?,
        redact_headers: check::header_names(
            "report.redact_headers",
            &raw.redact_headers.unwrap_or_default(),
        )?,
        redact_paths,
        redact_query: check::query_names(
            "report.redact_query",
            &raw.redact_query.unwrap_or_default(),
        )?,
        jsonl_path: check::path("report.jsonl_path", raw.jsonl_path)?,
        jsonl_max_bytes: check::size(
            "report.jsonl_max_bytes",
            raw.jsonl_max_bytes.as_ref(),
            d::JSONL_MAX_BYTES,
            max::JSONL_MAX_BYTES,
        )?,
        jsonl_max_files: check::in_range(
            "report.jsonl_max_files",
            raw.jsonl_max_files.unwrap_or(d::JSONL_MAX_FILES),
            1,
            max::JSONL_MAX_FILES,
        )?,
    })
}

fn noise(raw: RawNoise) -> Result<Noise> {
    Ok(Noise {
        percent: match raw.percent {
            Some(p) => check::percent("noise.percent", p)?,
            None => d::NOISE_PERCENT,
        },
        secondary: raw
            .secondary
            .map(|u| check::upstream_url("noise.secondary", &u))
            .transpose()?,
        suppress: raw.suppress.unwrap_or(false),
        max_in_flight: check::in_range(
            "noise.max_in_flight",
            raw.max_in_flight.unwrap_or(d::NOISE_MAX_IN_FLIGHT),
            1,
            max::MAX_IN_FLIGHT_MIRRORS,
        )?,
        min_samples: check::in_range(
            "noise.min_samples",
            raw.min_samples.unwrap_or(d::NOISE_MIN_SAMPLES),
            1,
            max::MIN_SAMPLES,
        )?,
    })
}

fn admin_auth(raw: RawAdminAuth) -> Result<AdminAuth> {
    if raw.token_file.is_some() && raw.token_env.is_some() {
        return invalid("admin_auth", "set token_file or token_env, not both");
    }
    if let Some(name) = &raw.token_env {
        if name.is_empty() || name.contains(['=', '\0']) {
            return invalid(
                "admin_auth.token_env",
                format!("`{name}` is not an environment variable name"),
            );
        }
    }
    Ok(AdminAuth {
        token_file: check::path("admin_auth.token_file", raw.token_file)?,
        token_env: raw.token_env,
    })
}

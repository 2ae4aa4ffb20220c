//! `[primary]` and `[candidate]`.

use std::time::Duration;

use http::uri::Authority;
use http::HeaderValue;

use super::layer;
use crate::bounds as max;
use crate::check::{self, invalid, Result};
use crate::defaults as d;
use crate::raw::{RawCandidate, RawUpstream};
use crate::{Candidate, Overrides, Upstream, UpstreamProtocol};

pub(super) fn primary(raw: RawUpstream, ov: &Overrides) -> Result<Upstream> {
    let timeouts = (d::PRIMARY_CONNECT_TIMEOUT, d::PRIMARY_TIMEOUT);
    upstream("primary", raw, ov.primary.clone(), timeouts)
}

pub(super) fn candidate(raw: RawCandidate, ov: &Overrides) -> Result<Candidate> {
    let timeouts = (d::CANDIDATE_CONNECT_TIMEOUT, d::CANDIDATE_TIMEOUT);
    let upstream = upstream("candidate", raw.upstream(), ov.candidate.clone(), timeouts)?;

    let mut add_headers = Vec::new();
    for (name, value) in raw.add_headers.unwrap_or_default() {
        let key = format!("candidate.add_headers.{name}");
        let name = check::header_name(&key, &name)?;
        // The proxy owns framing and connection management; overriding them breaks the exchange.
        if MANAGED.contains(&name.as_str()) {
            return invalid(
                &key,
                format!("`{name}` is managed by the proxy and cannot be set"),
            );
        }
        if HeaderValue::from_str(&value).is_err() {
            return invalid(&key, format!("`{value}` is not a valid header value"));
        }
        if add_headers.iter().any(|(n, _)| *n == name) {
            return invalid(
                &key,
                format!("`{name}` is set twice (header names ignore case)"),
            );
        }
        add_headers.push((name, value));
    }

    let remove_headers = check::header_names(
        "candidate.remove_headers",
        &raw.remove_headers.unwrap_or_default(),
    )?;
    if let Some(name) = remove_headers
        .iter()
        .find(|r| add_headers.iter().any(|(a, _)| a == *r))
    {
        return invalid(
            "candidate.remove_headers",
            format!("`{name}` is also in candidate.add_headers; keep it in one of them"),
        );
    }

    let rewrite_path_prefix = match raw.rewrite_path_prefix {
        None => None,
        Some(rw) => {
            let part = |name: &str, v: Option<String>| {
                let key = format!("candidate.rewrite_path_prefix.{name}");
                match v {
                    None => invalid(&key, "required"),
                    Some(p) if !p.starts_with('/') => {
                        invalid(&key, format!("must start with '/', got \"{p}\""))
                    }
                    Some(p) => Ok(p),
                }
            };
            Some((part("from", rw.from)?, part("to", rw.to)?))
        }
    };

    let shadow_host_suffix = raw.shadow_host_suffix.unwrap_or(false);
    let host = match raw.host {
        None => None,
        Some(text) => {
            let host = host("candidate.host", text)?;
            let conflict = if shadow_host_suffix {
                Some("candidate.shadow_host_suffix = true")
            } else if add_headers.iter().any(|(n, _)| n == "host") {
                Some("a Host in candidate.add_headers")
            } else if remove_headers.iter().any(|n| n == "host") {
                Some("a Host in candidate.remove_headers")
            } else {
                None
            };
            if let Some(other) = conflict {
                return invalid(
                    "candidate.host",
                    format!("set either candidate.host or {other}, not both"),
                );
            }
            Some(host)
        }
    };
    let mark_header = mark_header(raw.mark_header, &add_headers, &remove_headers)?;

    Ok(Candidate {
        upstream,
        shadow_host_suffix,
        host,
        mark_header,
        add_headers,
        remove_headers,
        rewrite_path_prefix,
    })
}

/// `host` or `host:port`, as the Host header carries it; no credentials, path or spaces.
fn host(key: &str, text: String) -> Result<String> {
    let bad = |why: &str| invalid(key, format!("`{text}` {why}"));
    if text.is_empty() {
        return invalid(key, "must not be empty; leave it out to send v2's own host");
    }
    if text.contains('@') {
        return bad("must not contain credentials");
    }
    let authority: Authority = match text.parse() {
        Ok(a) => a,
        Err(_) => return bad("is not a host or host:port (e.g. \"v2.example.com:8080\")"),
    };
    // `Authority` accepts any text after the colon; a Host port is a number.
    match &text[authority.host().len()..] {
        "" => {}
        port if port
            .strip_prefix(':')
            .is_some_and(|p| p.parse::<u16>().is_ok()) => {}
        _ => return bad("has a bad port; use host or host:port with a port of 0-65535"),
    }
    Ok(text)
}

/// The mark header's name, lower-case; `""` turns the mark off.
fn mark_header(
    raw: Option<String>,
    add_headers: &[(String, String)],
    remove_headers: &[String],
) -> Result<Option<String>> {
    const KEY: &str = "candidate.mark_header";
    let name = match raw.as_deref() {
        None => d::MARK_HEADER.to_owned(),
        Some("") => return Ok(None),
        Some(text) => check::header_name(KEY, text)?,
    };
    if MANAGED.contains(&name.as_str()) || name == "host" {
        return invalid(
            KEY,
            format!("`{name}` is managed by the proxy and cannot mark mirrors"),
        );
    }
    if add_headers.iter().any(|(n, _)| *n == name) {
        return invalid(
            KEY,
            format!("`{name}` is also in candidate.add_headers; keep it in one of them"),
        );
    }
    if remove_headers.contains(&name) {
        return invalid(
            KEY,
            format!("`{name}` is also in candidate.remove_headers; to send no mark, set candidate.mark_header = \"\""),
        );
    }
    Ok(Some(name))
}

/// Headers `add_headers` may not set: hop-by-hop and framing. (`host` is allowed: v2 may be a
/// virtual host that needs its own name.)
const MANAGED: [&str; 7] = [
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
];

fn upstream(
    name: &str,
    raw: RawUpstream,
    url_flag: Option<String>,
    (connect_default, timeout_default): (Duration, Duration),
) -> Result<Upstream> {
    let key = |k: &str| format!("{name}.{k}");
    let (url, url_key) = match layer(raw.url, &key("url"), url_flag, &format!("--{name}")) {
        Some((text, k)) => (check::upstream_url(&k, &text)?, k),
        None => {
            return invalid(
                &key("url"),
                format!("required (set it in [{name}] or with --{name})"),
            )
        }
    };
    let client_cert = check::path(&key("client_cert"), raw.client_cert)?;
    let client_key = check::path(&key("client_key"), raw.client_key)?;
    match (&client_cert, &client_key) {
        (Some(_), None) => {
            return invalid(
                &key("client_cert"),
                format!("requires {name}.client_key too"),
            )
        }
        (None, Some(_)) => {
            return invalid(
                &key("client_key"),
                format!("requires {name}.client_cert too"),
            )
        }
        _ => {}
    }
    let protocol = protocol(&key("protocol"), raw.protocol.as_deref(), &url, &url_key)?;
    let connect_timeout = check::positive_duration(
        &key("connect_timeout"),
        raw.connect_timeout.as_ref(),
        connect_default,
    )?;
    Ok(Upstream {
        url,
        connect_timeout,
        timeout: check::positive_duration(&key("timeout"), raw.timeout.as_ref(), timeout_default)?,
        pool_idle_timeout: check::duration(
            &key("pool_idle_timeout"),
            raw.pool_idle_timeout.as_ref(),
            d::POOL_IDLE_TIMEOUT,
        )?,
        pool_max_idle_per_host: check::in_range(
            &key("pool_max_idle_per_host"),
            raw.pool_max_idle_per_host
                .unwrap_or(d::POOL_MAX_IDLE_PER_HOST),
            0,
            max::UPSTREAM_CONNECTIONS,
        )?,
        max_connections: check::in_range(
            &key("max_connections"),
            raw.max_connections.unwrap_or(d::UPSTREAM_MAX_CONNECTIONS),
            1,
            max::UPSTREAM_CONNECTIONS,
        )?,
        // Waiting for a connection is bounded like making one, unless said otherwise.
        queue_timeout: check::duration(
            &key("queue_timeout"),
            raw.queue_timeout.as_ref(),
            connect_timeout,
        )?,
        protocol,
        ca_file: check::path(&key("ca_file"), raw.ca_file)?,
        client_cert,
        client_key,
    })
}

/// `auto`, `http1`, `h2c` (cleartext: `http://` only) or `h2` (TLS: `https://` only). A
/// mismatch is reported under the protocol key, naming where the URL came from.
fn protocol(
    key: &str,
    text: Option<&str>,
    url: &http::Uri,
    url_key: &str,
) -> Result<UpstreamProtocol> {
    let protocol = match text {
        None | Some("auto") => UpstreamProtocol::Auto,
        Some("http1") => UpstreamProtocol::Http1,
        Some("h2c") => UpstreamProtocol::H2c,
        Some("h2") => UpstreamProtocol::H2,
        Some(other) => {
            return invalid(
                key,
                format!("must be \"auto\", \"http1\", \"h2c\" or \"h2\", got \"{other}\""),
            )
        }
    };
    let https = url.scheme_str() == Some("https");
    match protocol {
        UpstreamProtocol::H2c if https => invalid(
            key,
            format!(
                "\"h2c\" is HTTP/2 without TLS and needs an http:// URL, but {url_key} is {url}; \
                 use \"h2\" for HTTP/2 over TLS"
            ),
        ),
        UpstreamProtocol::H2 if !https => invalid(
            key,
            format!(
                "\"h2\" is HTTP/2 over TLS and needs an https:// URL, but {url_key} is {url}; \
                 use \"h2c\" for HTTP/2 without TLS"
            ),
        ),
        p => Ok(p),
    }
}

//! Field validators. Each takes the key (or flag) it reports under, so a value is checked the same
//! way whether it came from the file or the command line.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::header::HeaderName;
use http::Uri;

use crate::raw::{RawDuration, RawSize};
use crate::units::{parse_duration, parse_size};
use crate::{bounds, ConfigError, SampleBy};

pub(crate) type Result<T> = std::result::Result<T, ConfigError>;

pub(crate) fn invalid<T>(key: &str, why: impl Into<String>) -> Result<T> {
    Err(ConfigError::invalid(key, why))
}

pub(crate) fn socket_addr(key: &str, text: &str) -> Result<SocketAddr> {
    text.trim().parse().or_else(|_| {
        invalid(
            key,
            format!(
                "`{text}` is not an IP:port address (e.g. \"127.0.0.1:8080\" or \"[::]:8080\")"
            ),
        )
    })
}

pub(crate) fn percent(key: &str, value: f64) -> Result<f64> {
    if value.is_finite() && (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        invalid(key, format!("must be between 0 and 100, got {value}"))
    }
}

/// A duration of at most [`bounds::DURATION`] (a day).
pub(crate) fn duration(
    key: &str,
    raw: Option<&RawDuration>,
    default: Duration,
) -> Result<Duration> {
    let Some(RawDuration(text)) = raw else {
        return Ok(default);
    };
    let d = parse_duration(text).or_else(|why| invalid(key, why))?;
    if d > bounds::DURATION {
        return invalid(key, format!("must be at most 24h, got {}", text.trim()));
    }
    Ok(d)
}

pub(crate) fn positive_duration(
    key: &str,
    raw: Option<&RawDuration>,
    default: Duration,
) -> Result<Duration> {
    let d = duration(key, raw, default)?;
    if d.is_zero() {
        return invalid(key, "must be greater than 0");
    }
    Ok(d)
}

/// A size of at most `max` bytes.
pub(crate) fn size(key: &str, raw: Option<&RawSize>, default: u64, max: u64) -> Result<u64> {
    let n = match raw {
        None => return Ok(default),
        Some(raw) => parse_size(raw).or_else(|why| invalid(key, why))?,
    };
    if n > max {
        let bound = match in_units(max) {
            Some(text) => format!("{text} ({max} bytes)"),
            None => format!("{max} bytes"),
        };
        return invalid(key, format!("must be at most {bound}, got {n}"));
    }
    Ok(n)
}

/// A size of at most `max` bytes used as an in-memory count (`usize`).
pub(crate) fn mem_size(key: &str, raw: Option<&RawSize>, default: u64, max: u64) -> Result<usize> {
    let n = size(key, raw, default, max)?;
    usize::try_from(n).or_else(|_| invalid(key, format!("{n} bytes is too large for this machine")))
}

/// `1073741824` → `1GiB`; `None` if `n` is not a whole number of KiB.
fn in_units(n: u64) -> Option<String> {
    let units = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    let (name, shift) = units
        .iter()
        .find(|(_, shift)| n >> shift > 0 && n.trailing_zeros() >= *shift)?;
    Some(format!("{}{name}", n >> shift))
}

/// An integer in `min..=max`; the error names the bound that was crossed.
pub(crate) fn in_range<T: PartialOrd + Display>(key: &str, value: T, min: T, max: T) -> Result<T> {
    if value < min {
        invalid(key, format!("must be at least {min}, got {value}"))
    } else if value > max {
        invalid(key, format!("must be at most {max}, got {value}"))
    } else {
        Ok(value)
    }
}

/// A header name, returned in its canonical lower-case form.
pub(crate) fn header_name(key: &str, name: &str) -> Result<String> {
    HeaderName::from_bytes(name.as_bytes())
        .map(|h| h.as_str().to_owned())
        .or_else(|_| invalid(key, format!("`{name}` is not a valid header name")))
}

pub(crate) fn header_names(key: &str, names: &[String]) -> Result<Vec<String>> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| header_name(&format!("{key}[{i}]"), n))
        .collect()
}

/// Query parameter names, as they appear before `=` (any case; matched without regard to it).
pub(crate) fn query_names(key: &str, names: &[String]) -> Result<Vec<String>> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let ok = !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'&' | b'=' | b'#' | b'?'));
            if ok {
                Ok(n.to_ascii_lowercase())
            } else {
                invalid(
                    &format!("{key}[{i}]"),
                    format!("`{n}` is not a query parameter name (visible ASCII without & = # ?)"),
                )
            }
        })
        .collect()
}

/// `random`, `header:NAME` or `cookie:NAME`.
pub(crate) fn sample_by(key: &str, text: &str) -> Result<SampleBy> {
    let bad = |why: String| invalid(key, why);
    match text.split_once(':') {
        None if text == "random" => Ok(SampleBy::Random),
        Some(("header", name)) => header_name(key, name.trim()).map(SampleBy::Header),
        Some(("cookie", name)) => {
            let name = name.trim();
            if !name.is_empty() && name.bytes().all(is_token_byte) {
                Ok(SampleBy::Cookie(name.to_owned()))
            } else {
                bad(format!("`{name}` is not a valid cookie name"))
            }
        }
        _ => bad(format!(
            "`{text}` is not a sampling mode; use \"random\", \"header:NAME\" or \"cookie:NAME\""
        )),
    }
}

/// RFC 9110 `tchar`: what method names and cookie names are made of.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// An upstream base URL: `http` or `https`, a host, an optional path prefix, nothing else.
pub(crate) fn upstream_url(key: &str, text: &str) -> Result<Uri> {
    let bad = |why: &str| invalid(key, format!("`{text}` {why}"));
    if text.contains('#') {
        return bad("must not have a fragment");
    }
    let uri: Uri = match text.parse() {
        Ok(uri) => uri,
        Err(e) => return bad(&format!("is not a valid URL: {e}")),
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return bad(&format!("has scheme `{other}`; use http:// or https://")),
        None => return bad("has no scheme; use http:// or https://"),
    }
    let Some(authority) = uri.authority() else {
        return bad("has no host");
    };
    if authority.host().is_empty() {
        return bad("has no host");
    }
    // Credentials in the URL would be silently dropped by the client: say so instead.
    if authority.as_str().contains('@') {
        return bad("must not contain credentials; send them with candidate.add_headers");
    }
    if uri.query().is_some() {
        return bad("must not have a query string");
    }
    Ok(uri)
}

pub(crate) fn path(key: &str, p: Option<PathBuf>) -> Result<Option<PathBuf>> {
    match p {
        Some(p) if p.as_os_str().is_empty() => invalid(key, "must not be empty"),
        p => Ok(p),
    }
}

/// `""` or `/`-separated segments; `~` only as `~0` or `~1` (RFC 6901). Wildcards `*` and `**`
/// are plain segments here: the engine's `RuleSet::compile` checks its own pattern syntax on top.
pub(crate) fn json_pointer(key: &str, pointer: &str) -> Result<String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return invalid(
            key,
            format!(
                "`{pointer}` is not a JSON Pointer: it must start with '/' (e.g. \"/data/id\")"
            ),
        );
    }
    let mut tildes = pointer.split('~').skip(1);
    if tildes.any(|after| !(after.starts_with('0') || after.starts_with('1'))) {
        return invalid(
            key,
            format!("`{pointer}` is not a JSON Pointer: '~' must be followed by 0 or 1"),
        );
    }
    Ok(pointer.to_owned())
}

//! Durations (`"250ms"`, `"1m30s"`) and sizes (`65536`, `"64KiB"`, `"1MB"`).
//!
//! Errors are the "why" half of `key: why`; the caller adds the key.

use std::time::Duration;

use crate::raw::RawSize;

const NANOS: [(&str, u128); 4] = [
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parse a sequence of `<number><unit>` parts, units `ms`, `s`, `m`, `h`; a number may have a
/// fraction (`"1.5s"`). A bare number is rejected: `timeout = "30"` is ambiguous.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a duration ({why}); use e.g. \"250ms\", \"2s\", \"5m\", \"1h\" or \"1m30s\"")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() {
            return Err(bad("expected a number"));
        }
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale = match NANOS.iter().find(|(u, _)| *u == unit) {
            Some((_, scale)) => *scale,
            None if unit.is_empty() => return Err(bad("missing unit")),
            None => return Err(bad(&format!("unknown unit `{unit}`"))),
        };
        total = total
            .checked_add(scaled(num, scale).ok_or_else(|| bad("bad number"))?)
            .ok_or_else(|| bad("too large"))?;
        rest = after;
    }
    let nanos = u64::try_from(total).map_err(|_| bad("too large"))?;
    Ok(Duration::from_nanos(nanos))
}

/// `num` (digits with at most one `.`) times `scale`, exactly, truncated to whole units of 1/scale.
fn scaled(num: &str, scale: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int.checked_mul(scale)?;
    let mut place = scale;
    for digit in frac.bytes() {
        place /= 10;
        value = value.checked_add(u128::from(digit - b'0') * place)?;
    }
    Some(value)
}

const SIZE_UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// An integer count of bytes, or a string: digits, optional space, optional unit
/// (`B`, decimal `KB`/`MB`/`GB`/`TB`, binary `KiB`/`MiB`/`GiB`/`TiB`; case-insensitive).
pub(crate) fn parse_size(raw: &RawSize) -> Result<u64, String> {
    let text = match raw {
        RawSize::Bytes(n) => {
            return u64::try_from(*n).map_err(|_| format!("must not be negative, got {n}"))
        }
        RawSize::Text(text) => text,
    };
    let bad = |why: &str| {
        format!("`{text}` is not a size ({why}); use a number of bytes or e.g. \"64KiB\", \"1MiB\", \"10MB\"")
    };
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    if num.is_empty() {
        return Err(bad("expected a whole number"));
    }
    if unit.starts_with(['.', ',']) {
        return Err(bad("fractions are not allowed; use a smaller unit"));
    }
    let unit = unit.trim_start().to_ascii_lowercase();
    let scale = if unit.is_empty() {
        1
    } else {
        match SIZE_UNITS.iter().find(|(u, _)| *u == unit) {
            Some((_, scale)) => *scale,
            None => return Err(bad(&format!("unknown unit `{unit}`"))),
        }
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| bad("too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(s: &str) -> Result<u64, String> {
        parse_size(&RawSize::Text(s.into()))
    }

    #[test]
    fn durations() {
        let ok = [
            ("250ms", 250),
            ("2s", 2_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1m30s", 90_000),
            ("1.5s", 1_500),
            ("0s", 0),
            (" 10s ", 10_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in [
            "", "30", "-1s", "1d", "s", "1.2.3s", "abc", "1s 2", "1 s", ".",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
        assert!(parse_duration("99999999999999999999h")
            .expect_err("overflow")
            .contains("too large"));
    }

    #[test]
    fn sizes() {
        let ok = [
            ("512", 512),
            ("64KiB", 65_536),
            ("1MiB", 1 << 20),
            ("2GiB", 2 << 30),
            ("10KB", 10_000),
            ("1MB", 1_000_000),
            ("1 mib", 1 << 20),
            ("7B", 7),
        ];
        for (text, n) in ok {
            assert_eq!(size(text), Ok(n), "{text}");
        }
        assert_eq!(parse_size(&RawSize::Bytes(4096)), Ok(4096));
        assert!(parse_size(&RawSize::Bytes(-1))
            .expect_err("negative")
            .contains("negative"));
        for bad in ["", "1.5MiB", "MiB", "1 MiBs", "-1", "1Mi", "99999999999TiB"] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }
}

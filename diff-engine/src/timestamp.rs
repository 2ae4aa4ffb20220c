//! A small RFC 3339 parser: `YYYY-MM-DD(T|t| )HH:MM:SS(.frac)?(Z|z|±HH:MM)` to Unix nanoseconds,
//! so that instants written in different zones or precisions compare equal.

/// Nanoseconds since 1970-01-01T00:00:00Z, or `None` if `s` is not RFC 3339.
pub(crate) fn parse_instant(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = num(b, 0, 4)?;
    let (month, day) = (num(b, 5, 2)?, num(b, 8, 2)?);
    let (hour, minute, second) = (num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?);
    // Second 60 is a leap second; it is counted as the next second's start.
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let (nanos, rest) = fraction(&b[19..])?;
    let offset = zone_offset_secs(rest)?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

fn num(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let digits = b.get(at..at + len)?;
    digits.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

/// An optional `.digits` (at least one, any count; beyond nanoseconds ignored).
fn fraction(b: &[u8]) -> Option<(i64, &[u8])> {
    let Some(rest) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let n = rest.iter().take_while(|d| d.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut nanos = 0i64;
    for i in 0..9 {
        let d = rest
            .get(i)
            .filter(|_| i < n)
            .map_or(0, |d| i64::from(d - b'0'));
        nanos = nanos * 10 + d;
    }
    Some((nanos, &rest[n..]))
}

fn zone_offset_secs(b: &[u8]) -> Option<i64> {
    match b {
        b"Z" | b"z" => Some(0),
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(b, 1, 2)?, num(b, 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            Some(if *sign == b'-' { -secs } else { secs })
        }
        _ => None,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_instant_across_zones_and_formats() {
        let base = parse_instant("2026-01-01T00:00:00Z").unwrap();
        for s in [
            "2026-01-01T01:00:00+01:00",
            "2025-12-31T19:00:00-05:00",
            "2026-01-01t00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00.000000000000+00:00",
        ] {
            assert_eq!(parse_instant(s), Some(base), "{s}");
        }
        assert_eq!(base, 1_767_225_600 * 1_000_000_000);
        assert_eq!(parse_instant("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_ne!(parse_instant("2026-01-01T00:00:00.001Z"), Some(base));
    }

    #[test]
    fn rejects_non_rfc3339() {
        for s in [
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00+01:00x",
            "2026-01-01X00:00:00Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_instant(s), None, "{s}");
        }
        assert!(parse_instant("2024-02-29T23:59:60Z").is_some());
    }
}

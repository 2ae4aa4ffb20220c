//! Who is served by v2: a request's key falls in one of 10,000 buckets, and the buckets below
//! the weight's line go to v2. The line only moves the boundary, so raising the weight never
//! sends a key back to v1, and lowering it moves only the keys above the new line.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderMap;

use config::AssignBy;

use crate::route::sample::{cookie, key_hash};

/// Buckets a key can fall in: weight w serves the buckets below `w × 100` from v2.
pub const BUCKETS: u32 = 10_000;

/// The backend that answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    V1,
    V2,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::V1 => "v1",
            Backend::V2 => "v2",
        }
    }
}

/// The line for a weight in percent (fractions to a hundredth of a percent).
pub fn line(weight: f64) -> u32 {
    (weight.clamp(0.0, 100.0) * 100.0).round() as u32
}

/// A key's bucket. The hash's second word, not the first that mirror sampling uses: users on v2
/// must not be exactly the users whose requests are mirrored, or at equal shares no v1-served
/// request would ever be compared.
pub fn bucket(key: &[u8]) -> u32 {
    (key_hash(key).1 % u64::from(BUCKETS)) as u32
}

/// Buckets for requests that are not kept in place (`random`): the golden-ratio sequence
/// `frac(n·φ)`, which spreads any run of consecutive requests evenly over the buckets — the
/// share over 2,000 requests is within a few hundredths of a percent of the weight, where
/// independent draws would stray by a percent (one standard deviation at 50 %).
#[derive(Default)]
pub struct Spread(AtomicU64);

impl Spread {
    fn next(&self) -> u32 {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        // 2^64/φ: the top bits of n × this are frac(n·φ).
        let frac = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (((frac >> 32) * u64::from(BUCKETS)) >> 32) as u32
    }
}

/// Which backend serves this request under `line`. A request without its key (no such header
/// or cookie) stays on v1: a user who cannot be kept in place is not moved.
pub fn assign(
    line: u32,
    by: &AssignBy,
    headers: &HeaderMap,
    peer: IpAddr,
    spread: &Spread,
) -> Backend {
    if line == 0 {
        return Backend::V1;
    }
    if line >= BUCKETS {
        return Backend::V2;
    }
    let bucket = match by {
        AssignBy::Random => spread.next(),
        AssignBy::Header(name) => match headers.get(name.as_str()) {
            Some(v) => bucket(v.as_bytes()),
            None => return Backend::V1,
        },
        AssignBy::Cookie(name) => match cookie(headers, name) {
            Some(v) => bucket(v),
            None => return Backend::V1,
        },
        AssignBy::ClientIp => match peer {
            IpAddr::V4(ip) => bucket(&ip.octets()),
            IpAddr::V6(ip) => bucket(&ip.octets()),
        },
    };
    if bucket < line {
        Backend::V2
    } else {
        Backend::V1
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    fn by_header(key: &str) -> (AssignBy, HeaderMap) {
        let mut h = HeaderMap::new();
        h.insert("x-user", key.parse().unwrap());
        (AssignBy::Header("x-user".into()), h)
    }

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// ±1 % over 10,000 keys is two standard deviations of a binomial share at 50 %: no hash
    /// meets it for every key set (about one in twenty misses it by chance alone at 50 %), so the
    /// claim checked is the honest one, most of them.
    #[test]
    fn most_key_sets_land_within_one_percent() {
        // The documented example's weights, on 40 key sets each.
        let (mut n, mut ok) = (0, 0);
        for weight in [10.0, 25.0, 50.0] {
            for set in 0..40 {
                let keys: Vec<String> = (0..10_000).map(|i| format!("set{set}-user-{i}")).collect();
                let got = share(weight, keys.iter().map(String::as_str));
                n += 1;
                ok += usize::from((got - weight).abs() <= 1.0);
            }
        }
        assert!(ok * 100 >= n * 85, "{ok} of {n} key sets within ±1 %");
    }

    /// Share of `keys` a weight sends to v2, in percent.
    fn share<'a>(weight: f64, keys: impl Iterator<Item = &'a str>) -> f64 {
        let (mut n, mut on_v2) = (0, 0);
        for k in keys {
            let (by, h) = by_header(k);
            n += 1;
            on_v2 +=
                usize::from(assign(line(weight), &by, &h, PEER, &Spread::default()) == Backend::V2);
        }
        on_v2 as f64 * 100.0 / f64::from(n)
    }

    #[test]
    fn random_share_over_two_thousand_requests_is_within_two_percent() {
        let h = HeaderMap::new();
        let spread = Spread::default();
        for weight in [0.5, 10.0, 25.0, 33.3, 50.0, 99.0] {
            let on_v2 = (0..2_000)
                .filter(|_| {
                    assign(line(weight), &AssignBy::Random, &h, PEER, &spread) == Backend::V2
                })
                .count();
            let share = on_v2 as f64 / 20.0;
            // The sequence does far better than the ±2 % asked: within 0.1 %.
            assert!((share - weight).abs() <= 0.1, "weight {weight}: {share} %");
        }
    }

    #[test]
    fn a_request_without_its_key_stays_on_v1() {
        let by = AssignBy::Cookie("session".into());
        let s = Spread::default();
        assert_eq!(
            assign(line(99.0), &by, &HeaderMap::new(), PEER, &s),
            Backend::V1
        );
        assert_eq!(
            assign(line(100.0), &by, &HeaderMap::new(), PEER, &s),
            Backend::V2
        );
    }

    #[test]
    fn client_ip_keys_by_address() {
        let s = Spread::default();
        let on_v2 = (0..=255u8)
            .filter(|i| {
                let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, *i));
                let first = assign(line(50.0), &AssignBy::ClientIp, &HeaderMap::new(), a, &s);
                assert_eq!(
                    assign(line(50.0), &AssignBy::ClientIp, &HeaderMap::new(), a, &s),
                    first
                );
                first == Backend::V2
            })
            .count();
        assert!(
            (64..=192).contains(&on_v2),
            "{on_v2} of 256 addresses on v2"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Over 10,000 distinct keys the realised share follows the weight. A key's bucket is a
        /// hash, so the share is binomial: its standard deviation is at most 0.5 % at 10,000
        /// keys (at w = 50), and ±1 % is two of them. Every generated key set is held to four
        /// standard deviations, which a biased or clumping hash fails at once;
        /// `most_key_sets_land_within_one_percent` counts the sets within ±1 %.
        #[test]
        fn realised_share_over_ten_thousand_keys(salt in "[a-z]{1,8}", weight in 1.0f64..99.0) {
            let keys: Vec<String> = (0..10_000).map(|i| format!("{salt}-{i}")).collect();
            let got = share(weight, keys.iter().map(String::as_str));
            let sigma = (weight * (100.0 - weight) / 10_000.0).sqrt();
            prop_assert!((got - weight).abs() <= 4.0 * sigma, "weight {weight}: {got} %");
        }

        /// Raising the weight never moves a key from v2 back to v1; lowering it moves only the
        /// keys above the new line.
        #[test]
        fn assignment_is_monotonic(key in ".{1,40}", a in 0.0f64..=100.0, b in 0.0f64..=100.0) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let mut h = HeaderMap::new();
            let Ok(v) = http::HeaderValue::from_str(&key) else { return Ok(()) };
            h.insert("x-user", v);
            let by = AssignBy::Header("x-user".into());
            let s = Spread::default();
            let at_lo = assign(line(lo), &by, &h, PEER, &s);
            let at_hi = assign(line(hi), &by, &h, PEER, &s);
            prop_assert!(!(at_lo == Backend::V2 && at_hi == Backend::V1));
            // Sticky: the same key, the same answer.
            prop_assert_eq!(assign(line(lo), &by, &h, PEER, &s), at_lo);
        }
    }
}

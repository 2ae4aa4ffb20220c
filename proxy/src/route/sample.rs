//! Sampling: whether a request is in a route's mirrored share. Keyed sampling gives the same
//! answer for the same key every time (and on every instance); a request without the key is
//! sampled randomly.

use std::sync::atomic::{AtomicU32, Ordering};

use http::HeaderMap;
use rand::Rng;

use config::SampleBy;

/// Sampling resolution: parts per million, so fractional percentages (0.05 %) are exact.
const PPM: u32 = 1_000_000;

pub fn percent_to_ppm(percent: f64) -> u32 {
    (percent.clamp(0.0, 100.0) * 10_000.0).round() as u32
}

/// A route's live mirror share and what it samples by.
pub struct Sampler {
    /// Live share, changed by `PUT /api/mirror-percent` without a reload.
    percent_ppm: AtomicU32,
    sample_by: SampleBy,
}

impl Sampler {
    pub fn new(percent: f64, sample_by: SampleBy) -> Self {
        Self {
            percent_ppm: AtomicU32::new(percent_to_ppm(percent)),
            sample_by,
        }
    }

    pub fn percent(&self) -> f64 {
        f64::from(self.percent_ppm.load(Ordering::Relaxed)) / 10_000.0
    }

    pub fn set_percent(&self, percent: f64) {
        self.percent_ppm
            .store(percent_to_ppm(percent), Ordering::Relaxed);
    }

    /// Whether any request can be in the share (it is above zero).
    pub fn may_sample(&self) -> bool {
        self.percent_ppm.load(Ordering::Relaxed) > 0
    }

    /// Whether this request is in the mirrored share.
    pub fn sampled(&self, headers: &HeaderMap) -> bool {
        let ppm = self.percent_ppm.load(Ordering::Relaxed);
        if ppm == 0 {
            return false;
        }
        if ppm >= PPM {
            return true;
        }
        let key = match &self.sample_by {
            SampleBy::Random => None,
            SampleBy::Header(name) => headers.get(name.as_str()).map(|v| v.as_bytes()),
            SampleBy::Cookie(name) => cookie(headers, name),
        };
        match key {
            Some(k) => key_bucket(k) < ppm,
            None => rand::thread_rng().gen_range(0..PPM) < ppm,
        }
    }
}

/// A stable bucket in `0..PPM` for a sampling key.
pub fn key_bucket(key: &[u8]) -> u32 {
    (key_hash(key).0 % u64::from(PPM)) as u32
}

/// Two independent stable words for a key, the same on every instance and every version:
/// sampling uses the first, cutover assignment the second.
pub fn key_hash(key: &[u8]) -> (u64, u64) {
    let h = blake3::hash(key);
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&h.as_bytes()[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    (word(0), word(1))
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_resolution_keeps_fractions() {
        assert_eq!(percent_to_ppm(0.05), 500);
        assert_eq!(percent_to_ppm(100.0), PPM);
        assert_eq!(percent_to_ppm(150.0), PPM);
    }

    #[test]
    fn cookie_lookup_finds_the_named_pair() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, "session"), Some(&b"abc"[..]));
        assert_eq!(cookie(&h, "missing"), None);
    }
}

//! blake3 digests of raw bodies and of canonical JSON (a stream equivalent to the canonical
//! text, see `HashSink::float`).

use crate::number::{IntText, EXACT_INTS};
use crate::sink::Sink;

/// blake3 of the bytes as they are.
pub fn raw_digest(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// Big enough for blake3's SIMD paths, small enough to stay in L1/L2.
const CHUNK: usize = 16 * 1024;

/// Buffers canonical output and feeds the hasher in large updates: blake3 only goes wide (SIMD
/// over several 1 KiB chunks) when one `update` call gets several chunks.
pub(crate) struct HashSink {
    hasher: blake3::Hasher,
    buf: Vec<u8>,
}

impl HashSink {
    pub(crate) fn new() -> Self {
        Self {
            hasher: blake3::Hasher::new(),
            buf: Vec::with_capacity(CHUNK),
        }
    }

    pub(crate) fn finish(mut self) -> [u8; 32] {
        self.hasher.update(&self.buf);
        *self.hasher.finalize().as_bytes()
    }
}

/// Marks a non-integral double in the digest stream. 0xFF never occurs in UTF-8, so never in
/// canonical JSON text.
const FLOAT_TAG: u8 = 0xFF;

impl Sink for HashSink {
    /// The digest hashes a stream that is *equivalent* to the canonical text rather than the
    /// text itself: a non-integral double `f` is fed as `FLOAT_TAG` followed by the 8 bytes of
    /// its bits (little-endian) instead of its shortest ECMAScript text, which saves the
    /// shortest-digit search (a third of the time on float-heavy bodies). The stream is a
    /// function of the canonical text and can be turned back into it, so equal streams ⇔ equal
    /// texts:
    /// - a non-integral double's ES text always has a `.` or an `e-` (every double of
    ///   magnitude 2^52 or more is integral), and an integer's canonical text never does (it
    ///   is plain digits or `d.ddde+N` with N >= 21), so no integer prints it; shortest
    ///   round-trip text ↔ double is a bijection: the text determines the bits and the bits
    ///   the text; `f.fract() != 0` excludes ±0, so there is no -0.0 vs 0.0 ambiguity;
    /// - the tag byte 0xFF never occurs in canonical text (valid UTF-8) and the payload has a
    ///   fixed length, so reading the stream left to right, each tag and its 8 bytes are
    ///   recognised unambiguously and can be replaced by the ES text they stand for;
    /// - an integral double (a fraction that rounded to an integer) is that integer, so it
    ///   keeps the integer's canonical text: below 2^53 its decimal digits, printed here
    ///   directly; at 2^53 or more all its exact digits (`number::write_double`).
    fn float(&mut self, value: f64) {
        if value.fract() != 0.0 {
            let mut record = [FLOAT_TAG; 9];
            record[1..].copy_from_slice(&value.to_bits().to_le_bytes());
            self.put(&record);
        } else if value.abs() < EXACT_INTS {
            // Exact: |value| < 2^53 is integral, so the cast neither rounds nor saturates.
            #[allow(clippy::cast_possible_truncation)]
            let int = value as i64;
            self.put(IntText::of(i128::from(int)).as_str().as_bytes());
        } else {
            crate::number::write_double(value, self);
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        if self.buf.len() + bytes.len() > CHUNK {
            self.hasher.update(&self.buf);
            self.buf.clear();
        }
        if bytes.len() >= CHUNK {
            self.hasher.update(bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

/// First `n` bytes of a digest in lower-case hex.
pub(crate) fn hex_prefix(digest: &[u8; 32], n: usize) -> String {
    digest.iter().take(n).map(|b| format!("{b:02x}")).collect()
}

//! blake3 digests of raw bodies and of canonical JSON.

use crate::canonical::Sink;

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

impl Sink for HashSink {
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

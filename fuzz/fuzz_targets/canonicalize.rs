//! Question: can any byte string make canonicalization panic, overflow the stack, or produce
//! output that is not its own canonical form (idempotence) or whose digest disagrees?
#![no_main]

use diff_engine::{canonical_digest, canonicalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(canon) = canonicalize(data) else {
        assert!(canonical_digest(data).is_err());
        return;
    };
    let again = canonicalize(&canon).expect("canonical output must parse");
    assert_eq!(again, canon, "canonicalization must be idempotent");
    // The digest hashes a value stream equivalent to the canonical text (floats as tagged
    // bits), so it must agree with the digest of the canonical text, not with its blake3.
    let digest = canonical_digest(data).expect("digest of valid input");
    assert_eq!(digest, canonical_digest(&canon).expect("digest of canonical output"));
});

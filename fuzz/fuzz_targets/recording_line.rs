//! Question: can any line of a recording file make its readers panic — replay's parser
//! (`record/replay/recorded.rs`), the time merge's look at a line (`time_ms`), export's reader
//! (`record/read.rs`) — and do they agree on a line's time? And does every time the recorder
//! writes (`rfc3339`) read back as the same instant? A recording is a file from anywhere: a
//! colleague's, a HAR converted, one edited by hand.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shadowdiff::record::format::{parse_rfc3339, rfc3339};
use shadowdiff::record::read;
use shadowdiff::record::replay::recorded::{time_ms, Recorded};

/// 9999-12-31T23:59:59.999Z, the last instant four year digits hold.
const LAST_MS: u64 = 253_402_300_799_999;

fuzz_target!(|line: &[u8]| {
    let replayed = Recorded::parse(&Bytes::copy_from_slice(line));
    let exported = read::parse(line);
    let time = time_ms(line);
    if let Ok(r) = &replayed {
        assert_eq!(
            r.time_ms, time,
            "the merge orders a line by the time replay reads"
        );
    }
    if let Ok(l) = &exported {
        assert_eq!(parse_rfc3339(&l.time), time);
    }
    // Any instant from the bytes, written and read back.
    let mut ms = [0u8; 8];
    let n = line.len().min(8);
    ms[..n].copy_from_slice(&line[..n]);
    let ms = u64::from_le_bytes(ms) % (LAST_MS + 1);
    assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms), "{}", rfc3339(ms));
});

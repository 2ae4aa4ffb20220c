//! Question: can any bytes make the relay's framers (`relay/head.rs` for client heads,
//! `net/chunked.rs` for chunked bodies) panic, or break their contracts — a head the
//! relay carries has one Host, a plain length and no Transfer-Encoding, and ends inside the
//! input; a chunked body never yields more data than it was given, and decodes the same
//! however the input is split into reads?
#![no_main]

use libfuzzer_sys::fuzz_target;
use shadowdiff::net::chunked::{decode_all, ChunkError, Decoder, Step};
use shadowdiff::relay::head::{parse, Parsed, MAX_HEADERS};

fuzz_target!(|input: (&[u8], &[u8], u8)| {
    let (head, body, split) = input;
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    if let Parsed::Plain(p) = parse(head, &mut storage) {
        assert!(p.len <= head.len());
        let hosts = p
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("host"))
            .count();
        assert_eq!(hosts, 1);
        assert!(p
            .headers
            .iter()
            .all(|h| !h.name.eq_ignore_ascii_case("transfer-encoding")));
        assert!(!head[..p.len].windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    }

    let whole = decode_all(body);
    if let Ok((data, _, used)) = &whole {
        assert!(data.len() <= *used && *used <= body.len());
    }
    // The same bytes fed in reads of `split` bytes decode to the same data, or fail the same.
    let step = usize::from(split.max(1));
    let mut d = Decoder::default();
    let (mut buf, mut data, mut fed) = (Vec::new(), Vec::new(), 0);
    let split_result = loop {
        match d.step(&buf) {
            Err(e) => break Err(e),
            Ok(Step::Need) if fed == body.len() => break Err(ChunkError::Size),
            Ok(Step::Need) => {
                let n = step.min(body.len() - fed);
                buf.extend_from_slice(&body[fed..fed + n]);
                fed += n;
            }
            Ok(Step::Skip(n) | Step::Trailer(n)) => {
                buf.drain(..n);
            }
            Ok(Step::Data(n)) => data.extend(buf.drain(..n)),
            Ok(Step::End(n)) => {
                buf.drain(..n);
                break Ok(data);
            }
        }
    };
    match (whole, split_result) {
        (Ok((a, _, _)), Ok(b)) => assert_eq!(a, b),
        (Ok(_), Err(e)) => panic!("whole decoded, split failed: {e}"),
        (Err(_), Ok(_)) => panic!("split decoded, whole failed"),
        (Err(_), Err(_)) => {}
    }
});

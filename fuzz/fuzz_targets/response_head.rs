//! Question: can any bytes make the response-head reader both plain legs share
//! (`net/response.rs`: the relay's v1 answers, the mirror's and replay's v2 answers) panic, or
//! judge a head in a way that could desynchronise a kept connection — a body framed by a length
//! that the head does not state alone, a connection kept after a body that ends only when the
//! upstream closes, or a head longer than the input?
#![no_main]

use libfuzzer_sys::fuzz_target;
use shadowdiff::net::response::{content_length, parse, Framing, MAX_HEADERS};

fuzz_target!(|input: (&[u8], bool)| {
    let (wire, head_request) = input;
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let Ok(Some(head)) = parse(wire, &mut storage, head_request) else {
        return;
    };
    let shape = head.shape;
    assert!(shape.len <= wire.len());
    if shape.status.is_informational() || head_request {
        assert_eq!(shape.framing, Framing::None);
        return;
    }
    let field = |name: &str| {
        head.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
            .collect::<Vec<_>>()
    };
    let (te, cl) = (field("transfer-encoding"), field("content-length"));
    match shape.framing {
        Framing::Length(n) => {
            assert!(te.is_empty(), "a length framed a body the head also encodes");
            assert!(!cl.is_empty());
            assert!(cl.iter().all(|v| content_length(v) == Some(n)));
        }
        Framing::Close => assert!(!shape.reusable, "kept after a body ended by closing"),
        Framing::Chunked => assert!(!te.is_empty()),
        Framing::None => {}
    }
    if !te.is_empty() && !cl.is_empty() {
        assert!(!shape.reusable, "length and encoding both, and the connection kept");
    }
});

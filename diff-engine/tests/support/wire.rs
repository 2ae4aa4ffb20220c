//! Hand-encoded protobuf and gRPC framing for tests (no protoc on the machine).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;

pub fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field `n` as a varint.
pub fn int(n: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(n) << 3, &mut out);
    varint(v, &mut out);
    out
}

/// Field `n` as length-delimited bytes (a string, bytes or a nested message).
pub fn bytes(n: u32, v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(n) << 3 | 2, &mut out);
    varint(v.len() as u64, &mut out);
    out.extend_from_slice(v);
    out
}

/// Field `n` as a double (fixed64).
pub fn double(n: u32, v: f64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(n) << 3 | 1, &mut out);
    out.extend_from_slice(&v.to_le_bytes());
    out
}

/// One gRPC frame around `message` (flag 0).
pub fn frame(message: &[u8]) -> Vec<u8> {
    framed(0, message)
}

pub fn framed(flags: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

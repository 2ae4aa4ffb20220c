//! The protobuf wire format read without a schema, into a value whose keys are field numbers,
//! so a difference still names a field (`/2`, `/1/3`).
//!
//! - varints, fixed64 and fixed32 are unsigned integers (a schema would say whether they are
//!   signed, zigzag or floating point; both sides are read alike, so equal stays equal);
//! - a length-delimited field is a nested message when it parses fully as one, else a string
//!   when it is UTF-8, else `{"base64": "…"}` (an object keyed by a name, which no decoded
//!   message has, so bytes never equal a string or a message); an empty one is `""`. As with
//!   `protoc --decode_raw`, short text can happen to parse as a message; both sides are read
//!   alike, and a schema removes the guesswork;
//! - a field seen more than once is the array of its values in wire order (once, the value
//!   itself); groups (wire types 3 and 4, deprecated) are not read: such a message is not
//!   protobuf here and is compared as bytes.
//!
//! Bounded: nesting is tried at most `max_depth` levels deep (deeper, a field is a string or
//! bytes), and the bytes re-read by nested attempts that fail are capped per message
//! (`ATTEMPT_FACTOR`), so no input costs more than linear time.

use std::borrow::Cow;

use crate::json::{Value, MAX_DEPTH_CEILING};
use crate::keys::key_cmp;
use crate::number::Number;

/// Bytes that nested-message attempts may read, per byte of the message: enough for any
/// realistic nesting, and a bound on what a crafted message can make us redo.
const ATTEMPT_FACTOR: usize = 32;

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) what: &'static str,
    pub(crate) offset: usize,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.offset)
    }
}

/// Reads one message (any bytes, the empty message included) as a value.
pub(crate) fn decode(bytes: &[u8], max_depth: usize) -> Result<Value<'_>, WireError> {
    let mut r = Reader {
        max_depth: max_depth.clamp(1, MAX_DEPTH_CEILING),
        budget: bytes
            .len()
            .saturating_mul(ATTEMPT_FACTOR)
            .saturating_add(4096),
    };
    r.message(bytes, 1, 0)
}

struct Reader {
    max_depth: usize,
    /// Bytes nested attempts may still read.
    budget: usize,
}

impl Reader {
    /// A message at nesting `depth`; `base` is its offset in the top-level message (for
    /// errors).
    fn message<'a>(
        &mut self,
        bytes: &'a [u8],
        depth: usize,
        base: usize,
    ) -> Result<Value<'a>, WireError> {
        let mut fields: Vec<(u32, Value<'a>)> = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let err = |what| WireError {
                what,
                offset: base + at,
            };
            let (tag, next) = varint(bytes, at).ok_or_else(|| err("truncated or overlong tag"))?;
            let number = u32::try_from(tag >> 3)
                .ok()
                .filter(|n| (1..1 << 29).contains(n))
                .ok_or_else(|| err("field number out of range"))?;
            at = next;
            let err = |what| WireError {
                what,
                offset: base + at,
            };
            let value = match tag & 7 {
                0 => {
                    let (v, next) = varint(bytes, at).ok_or_else(|| err("truncated varint"))?;
                    at = next;
                    Value::Number(Number::Integer(i128::from(v)))
                }
                1 => {
                    let v = fixed::<8>(bytes, at).ok_or_else(|| err("truncated fixed64"))?;
                    at += 8;
                    Value::Number(Number::Integer(i128::from(u64::from_le_bytes(v))))
                }
                5 => {
                    let v = fixed::<4>(bytes, at).ok_or_else(|| err("truncated fixed32"))?;
                    at += 4;
                    Value::Number(Number::Integer(i128::from(u32::from_le_bytes(v))))
                }
                2 => {
                    let (len, next) = varint(bytes, at).ok_or_else(|| err("truncated length"))?;
                    let end = usize::try_from(len)
                        .ok()
                        .and_then(|len| next.checked_add(len))
                        .filter(|&end| end <= bytes.len())
                        .ok_or_else(|| err("length past the end"))?;
                    at = end;
                    self.delimited(&bytes[next..end], depth, base + next)
                }
                _ => return Err(err("group or unknown wire type")),
            };
            fields.push((number, value));
        }
        Ok(object(fields))
    }

    /// A length-delimited field: a message if it parses as one, else text, else bytes.
    fn delimited<'a>(&mut self, bytes: &'a [u8], depth: usize, base: usize) -> Value<'a> {
        if bytes.is_empty() {
            return Value::String(Cow::Borrowed(""));
        }
        if depth < self.max_depth && self.budget >= bytes.len() {
            self.budget -= bytes.len();
            if let Ok(v) = self.message(bytes, depth + 1, base) {
                return v;
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Value::String(Cow::Borrowed(s)),
            Err(_) => Value::Object(vec![(
                Cow::Borrowed("base64"),
                Value::String(Cow::Owned(base64(bytes))),
            )]),
        }
    }
}

/// Reads one message as a value that owns its strings (for fields a schema did not know,
/// whose bytes the caller re-encoded and will drop).
pub(crate) fn decode_owned(bytes: &[u8], max_depth: usize) -> Result<Value<'static>, WireError> {
    decode(bytes, max_depth).and_then(|v| {
        into_static(v).ok_or(WireError {
            what: "unexpected number",
            offset: 0,
        })
    })
}

/// The same value owning its strings. Only the numbers this module makes (`Integer`) have no
/// borrowed text; any other number gives `None`.
fn into_static(v: Value<'_>) -> Option<Value<'static>> {
    Some(match v {
        Value::Null => Value::Null,
        Value::Bool(b) => Value::Bool(b),
        Value::Number(Number::Integer(i)) => Value::Number(Number::Integer(i)),
        Value::Number(_) => return None,
        Value::String(s) => Value::String(Cow::Owned(s.into_owned())),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(into_static).collect::<Option<_>>()?)
        }
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| Some((Cow::Owned(k.into_owned()), into_static(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Fields grouped by number (a repeated one as the array of its values in wire order), keyed by
/// the number's text in canonical key order.
fn object(mut fields: Vec<(u32, Value<'_>)>) -> Value<'_> {
    fields.sort_by_key(|f| f.0);
    let mut members: Vec<(Cow<'_, str>, Value<'_>)> = Vec::new();
    let mut fields = fields.into_iter().peekable();
    while let Some((number, first)) = fields.next() {
        let mut more = Vec::new();
        while let Some((_, v)) = fields.next_if(|f| f.0 == number) {
            more.push(v);
        }
        let value = match more.is_empty() {
            true => first,
            false => {
                more.insert(0, first);
                Value::Array(more)
            }
        };
        members.push((Cow::Owned(number.to_string()), value));
    }
    members.sort_by(|a, b| key_cmp(&a.0, &b.0));
    Value::Object(members)
}

/// A base-128 varint at `at` (at most 10 bytes); the value and the offset after it.
pub(crate) fn varint(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *bytes.get(at + i)?;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, at + i + 1));
        }
    }
    None
}

fn fixed<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// RFC 4648 base64 with padding (what the proto3 JSON mapping uses for bytes).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            match i <= chunk.len() {
                true => out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                false => out.push('='),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::value_text;

    fn text(bytes: &[u8]) -> String {
        value_text(&decode(bytes, 128).unwrap(), 1000)
    }

    #[test]
    fn reads_fields_by_number() {
        // 1: 150 (varint), 2: "testing", 3: {1: 1}, 4: fixed32 1, 5: fixed64 2, 1 again.
        let msg = b"\x08\x96\x01\x12\x07testing\x1a\x02\x08\x01\x25\x01\x00\x00\x00\
                    \x29\x02\x00\x00\x00\x00\x00\x00\x00\x08\x05";
        assert_eq!(
            text(msg),
            r#"{"1":[150,5],"2":"testing","3":{"1":1},"4":1,"5":2}"#
        );
        assert_eq!(text(b""), "{}");
        // Invalid UTF-8 that is not a message: bytes.
        assert_eq!(text(b"\x0a\x02\xff\xfe"), r#"{"1":{"base64":"//4="}}"#);
        assert_eq!(text(b"\x0a\x00"), r#"{"1":""}"#);
        // u64::MAX as a 10-byte varint.
        assert_eq!(
            text(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
            r#"{"1":18446744073709551615}"#
        );
    }

    #[test]
    fn rejects_what_is_not_protobuf() {
        let e = |b: &[u8]| decode(b, 128).unwrap_err().to_string();
        assert_eq!(e(b"\x08"), "truncated varint at byte 1");
        assert_eq!(e(b"\x12\x05ab"), "length past the end at byte 1");
        assert_eq!(e(b"\x00\x01"), "field number out of range at byte 0");
        assert_eq!(e(b"\x0b"), "group or unknown wire type at byte 1");
        assert_eq!(e(b"\x0d\x01"), "truncated fixed32 at byte 1");
        assert_eq!(e(&[0xff; 11]), "truncated or overlong tag at byte 0");
    }

    #[test]
    fn nesting_is_bounded() {
        let mut msg = b"\x08\x01".to_vec();
        for _ in 0..600 {
            let mut outer = vec![0x0a];
            let mut len = msg.len();
            while len >= 0x80 {
                outer.push((len as u8) | 0x80);
                len >>= 7;
            }
            outer.push(len as u8);
            outer.extend_from_slice(&msg);
            msg = outer;
        }
        // Deeper than the limit, a field is a string or bytes: no error, no deep recursion.
        let v = decode(&msg, 4).unwrap();
        let shown = value_text(&v, 60);
        assert!(
            shown.starts_with(r#"{"1":{"1":{"1":{"1":{"base64":"#),
            "{shown}"
        );
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}

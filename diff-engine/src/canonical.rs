//! RFC 8785 serialization of a parsed tree, into any byte sink (a `Vec`, a hasher, a preview).

use crate::digest::HashSink;
use crate::json::{self, JsonError, Value};
use crate::number::{write_double, Number};
use crate::sink::Sink;

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn float(&mut self, value: f64) {
        write_double(value, self);
    }
}

/// The RFC 8785 form of `input` (with exact integer literals, see the crate docs).
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, JsonError> {
    let value = json::parse(input, json::DEFAULT_MAX_DEPTH)?;
    let mut out = Vec::with_capacity(input.len());
    write_value(&value, &mut out);
    Ok(out)
}

/// blake3 of the canonical value of `input`, streamed into the hasher (no output buffer).
///
/// The stream is the canonical text except that a non-integral double is fed as a 9-byte
/// record instead of its shortest decimal text (see `HashSink::float`), so two inputs have the
/// same digest exactly when [`canonicalize`] gives them the same bytes (up to blake3
/// collisions); the digest is not `blake3(canonicalize(input))`.
pub fn canonical_digest(input: &[u8]) -> Result<[u8; 32], JsonError> {
    let value = json::parse(input, json::DEFAULT_MAX_DEPTH)?;
    Ok(digest_value(&value))
}

pub(crate) fn digest_value(value: &Value<'_>) -> [u8; 32] {
    let mut sink = HashSink::new();
    write_value(value, &mut sink);
    sink.finish()
}

/// Writes `value` in canonical form. Recursion is bounded by the parser's depth limit.
pub(crate) fn write_value<S: Sink>(value: &Value<'_>, out: &mut S) {
    match value {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if out.full() {
                    return;
                }
                if i > 0 {
                    out.put(b",");
                }
                write_value(item, out);
            }
            out.put(b"]");
        }
        Value::Object(members) => {
            out.put(b"{");
            for (i, (key, item)) in members.iter().enumerate() {
                if out.full() {
                    return;
                }
                if i > 0 {
                    out.put(b",");
                }
                write_string(key, out);
                out.put(b":");
                write_value(item, out);
            }
            out.put(b"}");
        }
    }
}

pub(crate) fn write_number<S: Sink>(n: &Number<'_>, out: &mut S) {
    n.write(out);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// JCS string escaping: `\"`, `\\`, the five short control escapes, `\u00xx` (lower-case) for
/// other control characters; everything else raw UTF-8.
pub(crate) fn write_string<S: Sink>(s: &str, out: &mut S) {
    out.put(b"\"");
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let short: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ],
            _ => continue,
        };
        out.put(&bytes[run..i]);
        out.put(short);
        run = i + 1;
    }
    out.put(&bytes[run..]);
    out.put(b"\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(canonicalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn numbers_follow_the_departure_rule() {
        assert_eq!(canon("[1, 1.0, 1e0, 10E-1, -0, -0.0]"), "[1,1,1,1,0,0]");
        assert_eq!(canon("[100, 1e2, 100.0, 1.00e2]"), "[100,100,100,100]");
        assert_eq!(canon("12345678901234567890"), "12345678901234567890");
        assert_eq!(canon("12345678901234567890.0"), "12345678901234567890");
        assert_eq!(canon("1152921504606846976.0"), "1152921504606846976");
        assert_eq!(canon("1e21"), "1e+21");
        assert_eq!(canon("1000000000000000000000"), "1e+21");
        assert_eq!(canon("[0.1, 0.10000000000000001]"), "[0.1,0.1]");
        assert_ne!(canon("12345678901234567890"), canon("12345678901234567891"));
        // Never expanded: the exponent form is the normalized form.
        assert_eq!(canon("[1e100000, 10e99999]"), "[1e+100000,1e+100000]");
        assert_eq!(canon("1e999999999999"), "1e+999999999999");
    }

    /// Every number text the rule prints reads back as itself (what the fuzz target asserts).
    #[test]
    fn number_texts_are_fixed_points() {
        for input in [
            "1e21",
            "-12345678901234567890123",
            "1.2345e+300",
            "10e99999",
            "1152921504606846975.9999",
            "-1.7976931348623157e308",
            "0.99999999999999999999",
            "123456789012345678901234567890.5",
            "1e-400",
            "5e-324",
            "0.000001",
            "1e-7",
        ] {
            let once = canon(input);
            assert_eq!(canon(&once), once, "{input}");
        }
    }

    #[test]
    fn strings_are_escaped_minimally() {
        assert_eq!(
            canon(r#""\u0001\u001F\u007f\/\u00e9\b""#),
            "\"\\u0001\\u001f\u{7f}/é\\b\""
        );
        assert_eq!(canon(r#""\ud83d\ude02""#), "\"😂\"");
    }
}

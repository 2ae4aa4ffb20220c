//! A strict RFC 8259 parser into a borrowed tree.
//!
//! Why not `serde_json::Value`: it rounds integer literals through `u64`/`i64`/`f64` (unless the
//! crate-wide `arbitrary_precision` feature is on), keeps the last of duplicate keys silently,
//! and sorts keys by UTF-8 bytes where RFC 8785 wants UTF-16 code units. This parser keeps
//! integer literals as text, rejects duplicates, sorts members once, and borrows every string
//! that has no escape. Depth is bounded, so recursion is bounded.

use std::borrow::Cow;

use thiserror::Error;

use crate::keys::key_cmp;
use crate::number::{self, Number};
use crate::pointer;

/// Default nesting limit (objects and arrays), the same as serde_json's.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Hard ceiling on any configured depth: parse, diff and print recurse once per level, and
/// this keeps the deepest recursion well inside a 2 MiB thread stack.
pub const MAX_DEPTH_CEILING: usize = 512;

/// Why a body is not acceptable JSON.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonError {
    #[error("empty body")]
    Empty,
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("{what} at byte {offset}")]
    Syntax { what: &'static str, offset: usize },
    #[error("number out of range (overflows a double) at byte {offset}")]
    NumberOutOfRange { offset: usize },
    #[error("lone surrogate \\u{code:04x} at byte {offset}")]
    LoneSurrogate { code: u16, offset: usize },
    #[error("nesting deeper than {limit} at byte {offset}")]
    TooDeep { limit: usize, offset: usize },
    #[error("duplicate key `{key}` at {}", pointer::display(.path))]
    DuplicateKey { key: String, path: String },
}

/// A parsed JSON value. Object members are sorted by UTF-16 code units and unique, so derived
/// equality is canonical equality.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a.same(b),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value<'_> {
    /// The member `key` of an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Value<'_>> {
        match self {
            Value::Object(members) => members
                .binary_search_by(|(k, _)| key_cmp(k, key))
                .ok()
                .map(|i| &members[i].1),
            _ => None,
        }
    }
}

/// Parses one JSON text (any value at top level, RFC 8259), nesting at most `max_depth`.
pub(crate) fn parse(input: &[u8], max_depth: usize) -> Result<Value<'_>, JsonError> {
    let src = std::str::from_utf8(input).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        pos: 0,
        max_depth: max_depth.min(MAX_DEPTH_CEILING),
        items: Vec::new(),
        members: Vec::new(),
    };
    p.skip_ws();
    if p.pos == p.b.len() {
        return Err(JsonError::Empty);
    }
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.b.len() {
        return Err(p.syntax(p.pos, "trailing characters after the JSON value"));
    }
    Ok(value)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    max_depth: usize,
    /// Elements of the arrays being parsed, innermost last: an array's elements are collected
    /// here and moved once into a vector of exactly their number (no regrowth, no slack).
    items: Vec<Value<'a>>,
    /// The same for the members of the objects being parsed.
    members: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> Parser<'a> {
    fn syntax(&self, offset: usize, what: &'static str) -> JsonError {
        JsonError::Syntax { what, offset }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        match self.b.get(self.pos) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.syntax(self.pos, "expected a JSON value")),
            None => Err(self.syntax(self.pos, "unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static str, v: Value<'a>) -> Result<Value<'a>, JsonError> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.syntax(self.pos, "invalid literal"))
        }
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > self.max_depth {
            return Err(JsonError::TooDeep {
                limit: self.max_depth,
                offset: self.pos,
            });
        }
        Ok(())
    }

    /// After a member or element: `,` continues (returns true), `close` ends (false).
    fn separator(&mut self, close: u8, what: &'static str) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.b.get(self.pos) {
            Some(b',') => {
                self.pos += 1;
                self.skip_ws();
                Ok(true)
            }
            Some(&c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.syntax(self.pos, what)),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        self.skip_ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Array(Vec::new()));
        }
        let base = self.items.len();
        loop {
            let item = self
                .value(depth)
                .map_err(|e| in_path(e, &(self.items.len() - base).to_string()))?;
            self.items.push(item);
            if !self.separator(b']', "expected `,` or `]`")? {
                return Ok(Value::Array(self.items.split_off(base)));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        self.skip_ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Object(Vec::new()));
        }
        let base = self.members.len();
        loop {
            if self.b.get(self.pos) != Some(&b'"') {
                return Err(self.syntax(self.pos, "expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.b.get(self.pos) != Some(&b':') {
                return Err(self.syntax(self.pos, "expected `:`"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth).map_err(|e| in_path(e, &key))?;
            self.members.push((key, value));
            if !self.separator(b'}', "expected `,` or `}`")? {
                break;
            }
        }
        let mut members = self.members.split_off(base);
        sort_members(&mut members)?;
        Ok(Value::Object(members))
    }

    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.pos + 1;
        let mut i = start;
        // Fast path: no escape, borrow straight from the input.
        loop {
            match self.b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.src[start..i]));
                }
                Some(b'\\') => break,
                Some(&c) if c >= 0x20 => i += 1,
                Some(_) => return Err(self.syntax(i, "control character in string")),
                None => return Err(self.syntax(i, "unterminated string")),
            }
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.src[start..i]);
        loop {
            match self.b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => i = self.escape(i, &mut out)?,
                Some(&c) if c >= 0x20 => {
                    let run = i;
                    while matches!(self.b.get(i), Some(&c) if c >= 0x20 && c != b'"' && c != b'\\')
                    {
                        i += 1;
                    }
                    out.push_str(&self.src[run..i]);
                }
                Some(_) => return Err(self.syntax(i, "control character in string")),
                None => return Err(self.syntax(i, "unterminated string")),
            }
        }
    }

    /// Decodes the escape at `i` (a backslash) into `out`; returns the index after it.
    fn escape(&self, i: usize, out: &mut String) -> Result<usize, JsonError> {
        let c = match self.b.get(i + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(i, out),
            _ => return Err(self.syntax(i, "invalid escape")),
        };
        out.push(c);
        Ok(i + 2)
    }

    fn unicode_escape(&self, i: usize, out: &mut String) -> Result<usize, JsonError> {
        let hi = self.hex4(i + 2)?;
        let lone = JsonError::LoneSurrogate {
            code: hi,
            offset: i,
        };
        let (code, next) = match hi {
            0xD800..=0xDBFF => {
                if self.b.get(i + 6..i + 8) != Some(b"\\u") {
                    return Err(lone);
                }
                let lo = self.hex4(i + 8)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(lone);
                }
                let c = 0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00);
                (c, i + 12)
            }
            0xDC00..=0xDFFF => return Err(lone),
            _ => (u32::from(hi), i + 6),
        };
        out.push(char::from_u32(code).ok_or(lone)?);
        Ok(next)
    }

    fn hex4(&self, at: usize) -> Result<u16, JsonError> {
        let digits = self
            .b
            .get(at..at + 4)
            .ok_or_else(|| self.syntax(at, "truncated \\u escape"))?;
        let mut v = 0u16;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.syntax(at, "invalid hex digit in \\u escape"))?;
            v = v << 4 | n as u16;
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.b.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.pos;
        if self.b[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => _ = self.digits(),
            _ => return Err(self.syntax(self.pos, "invalid number")),
        }
        let int_len = self.pos - int_start;
        let mut float = false;
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            float = true;
            if self.digits() == 0 {
                return Err(self.syntax(self.pos, "expected a digit after `.`"));
            }
        }
        let mantissa_end = self.pos;
        let mut exp = 0i64;
        if let Some(b'e' | b'E') = self.b.get(self.pos) {
            self.pos += 1;
            float = true;
            let negative = self.b.get(self.pos) == Some(&b'-');
            if let Some(b'+' | b'-') = self.b.get(self.pos) {
                self.pos += 1;
            }
            let digits_start = self.pos;
            if self.digits() == 0 {
                return Err(self.syntax(self.pos, "expected a digit in the exponent"));
            }
            exp = number::exponent_digits(&self.b[digits_start..self.pos]);
            if negative {
                exp = -exp;
            }
        }
        let text = &self.src[start..self.pos];
        if !float {
            return Ok(Value::Number(Number::Int(if text == "-0" {
                "0"
            } else {
                text
            })));
        }
        // A fraction or an exponent. The exact value is an integer when its last nonzero digit
        // sits at or left of the units place once the exponent is applied.
        let Some(last) = self.b[int_start..mantissa_end]
            .iter()
            .rposition(|&d| d != b'0' && d != b'.')
        else {
            return Ok(Value::Number(Number::Int("0")));
        };
        // The last nonzero digit's power of ten before the exponent (`.` sits at `int_len`).
        let place = int_len as i64 - 1 - last as i64 + i64::from(last > int_len);
        if place + exp >= 0 {
            if exp >= number::EXP_CAP {
                return Err(JsonError::NumberOutOfRange { offset: start });
            }
            return Ok(Value::Number(Number::Integral(text)));
        }
        match text.parse::<f64>() {
            // Underflow to a zero double (either sign) is the integer 0.
            Ok(f) if f.is_finite() => Ok(Value::Number(match f == 0.0 {
                true => Number::Int("0"),
                false => Number::Float(f),
            })),
            _ => Err(JsonError::NumberOutOfRange { offset: start }),
        }
    }
}

/// Sorts members by UTF-16 code units and rejects duplicate keys.
fn sort_members(members: &mut [(Cow<'_, str>, Value<'_>)]) -> Result<(), JsonError> {
    members.sort_unstable_by(|a, b| key_cmp(&a.0, &b.0));
    match members.windows(2).find(|w| w[0].0 == w[1].0) {
        Some(w) => Err(JsonError::DuplicateKey {
            key: w[0].0.to_string(),
            path: String::new(),
        }),
        None => Ok(()),
    }
}

/// Prefixes the location of a duplicate key with the segment it was found under, as the
/// recursion unwinds (the path is only built on that error).
fn in_path(e: JsonError, segment: &str) -> JsonError {
    match e {
        JsonError::DuplicateKey { key, path } => {
            let mut p = String::with_capacity(path.len() + segment.len() + 1);
            p.push('/');
            pointer::escape_into(segment, &mut p);
            p.push_str(&path);
            JsonError::DuplicateKey { key, path: p }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        match parse(s.as_bytes(), DEFAULT_MAX_DEPTH) {
            Ok(v) => panic!("accepted {s:?}: {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_with_reasons() {
        assert_eq!(err(""), "empty body");
        assert_eq!(err(" \n"), "empty body");
        assert_eq!(err("{\"a\":1,\"a\":2}"), "duplicate key `a` at the root");
        assert_eq!(
            err("{\"x\":[0,{\"b~/\":{\"k\":1,\"k\":1}}]}"),
            "duplicate key `k` at /x/1/b~0~1"
        );
        assert_eq!(err("[\"\\ud800\"]"), "lone surrogate \\ud800 at byte 2");
        assert_eq!(
            err("\"\\udc00\\ud800\""),
            "lone surrogate \\udc00 at byte 1"
        );
        // An integer of any size is exact; a fraction must fit a double.
        assert!(parse(b"1e400", 1).is_ok());
        assert_eq!(
            err(&format!("[1{}.5]", "0".repeat(400))),
            "number out of range (overflows a double) at byte 1"
        );
        assert_eq!(
            err("1e1099511627776"),
            "number out of range (overflows a double) at byte 0"
        );
        assert_eq!(err("[1,]"), "expected a JSON value at byte 3");
        assert_eq!(
            err("01"),
            "trailing characters after the JSON value at byte 1"
        );
        assert!(err(&"[".repeat(10_000)).starts_with("nesting deeper than 128"));
    }

    #[test]
    fn rejects_invalid_utf8() {
        let e = parse(b"[\"\xff\"]", DEFAULT_MAX_DEPTH).unwrap_err();
        assert_eq!(e, JsonError::InvalidUtf8 { offset: 2 });
    }

    #[test]
    fn keeps_integer_literals_exact() {
        let v = parse(
            b"[12345678901234567890, -0, 1.0, 1.5, -0.0, 1e-400, 0.5e1]",
            8,
        )
        .unwrap();
        let Value::Array(items) = v else { panic!() };
        assert!(matches!(
            items[0],
            Value::Number(Number::Int("12345678901234567890"))
        ));
        assert!(matches!(items[1], Value::Number(Number::Int("0"))));
        assert!(matches!(items[2], Value::Number(Number::Integral("1.0"))));
        assert!(matches!(items[3], Value::Number(Number::Float(f)) if f == 1.5));
        assert!(matches!(items[4], Value::Number(Number::Int("0"))));
        assert!(matches!(items[5], Value::Number(Number::Int("0"))));
        assert!(matches!(items[6], Value::Number(Number::Integral("0.5e1"))));
    }

    #[test]
    fn depth_limit_is_inclusive() {
        let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(parse(ok.as_bytes(), 128).is_ok());
        let deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
        assert!(parse(deep.as_bytes(), 128).is_err());
    }
}

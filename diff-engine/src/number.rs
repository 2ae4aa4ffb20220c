//! JSON numbers: integer literals kept exact, everything else an IEEE double printed the way
//! ECMAScript's `Number.prototype.toString` prints it (RFC 8785 §3.2.2.3).

use crate::sink::Sink;

/// A parsed JSON number.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number<'a> {
    /// An integer literal (no fraction, no exponent), as written; `-0` is stored as `0`.
    /// Exact at any size: this is the one departure from plain RFC 8785.
    Int(&'a str),
    /// A literal with a fraction or an exponent, as the nearest finite double.
    Float(f64),
}

/// Longest ES rendering: sign, 17 digits, point, `e+308`, or 21 integer digits.
const NUM_BUF: usize = 32;

/// A number's canonical text, on the stack.
pub(crate) struct NumText {
    buf: [u8; NUM_BUF],
    len: usize,
}

impl NumText {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn push_all(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl<'a> Number<'a> {
    /// Canonical equality: two numbers are equal when they print the same.
    pub(crate) fn same(&self, other: &Number<'_>) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            // Distinct doubles have distinct shortest forms; 0.0 == -0.0 and both print `0`.
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Int(i), Number::Float(f)) | (Number::Float(f), Number::Int(i)) => {
                es_format(*f).as_bytes() == i.as_bytes()
            }
        }
    }

    /// Approximate value, for tolerance rules only.
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Number::Int(s) => s.parse().unwrap_or(f64::NAN),
            Number::Float(f) => f,
        }
    }
}

/// Formats a finite double as ECMAScript `Number.prototype.toString` does.
pub(crate) fn es_format(value: f64) -> NumText {
    let mut out = NumText {
        buf: [0; NUM_BUF],
        len: 0,
    };
    write_es(value, &mut out);
    out
}

/// Writes a finite double as ECMAScript `Number.prototype.toString` does, straight into `out`
/// (one copy of the digits: this runs once per float and dominates float-heavy bodies).
pub(crate) fn write_es<S: Sink + ?Sized>(value: f64, out: &mut S) {
    if value == 0.0 || !value.is_finite() {
        // -0 prints as 0; non-finite values never reach here (the parser rejects them).
        out.put(b"0");
        return;
    }
    let mut buf = zmij::Buffer::new();
    let text = buf.format_finite(value).as_bytes();
    // Fast path, the common case. zmij prints the shortest round-trip digits (closest to the
    // value, as ES requires) and, for a scientific exponent -5..=15 (ES n = exponent + 1 in
    // -4..=16), lays them out without an exponent exactly as ES does (`ddd.ddd`, `0.00ddd`;
    // ES's plain ranges are 0 < n <= 21 and -6 < n <= 0), except that an integral value gets a
    // `.0` suffix (`1234.0`) that ES does not print. The digits have no trailing zero, so `.0`
    // at the end only ever marks an integral value. The exponent form always ends in `e±d`,
    // `e±dd` or `e±ddd`; the tail is read byte by byte (a wide read of bytes just stored one by
    // one stalls on store forwarding).
    if !text.iter().rev().take(5).any(|&b| b == b'e') {
        out.put(text.strip_suffix(b".0").unwrap_or(text));
        return;
    }
    // Exponent form (n <= -5 or n > 16): re-lay the digits out by ES's rules.
    let mut es = NumText {
        buf: [0; NUM_BUF],
        len: 0,
    };
    let text = match text.split_first() {
        Some((b'-', rest)) => {
            es.push(b'-');
            rest
        }
        _ => text,
    };
    let (digits, n) = shortest_digits(text);
    layout(&mut es, digits.as_bytes(), n);
    out.put(es.as_bytes());
}

impl Sink for NumText {
    fn put(&mut self, bytes: &[u8]) {
        self.push_all(bytes);
    }

    fn float(&mut self, value: f64) {
        write_es(value, self);
    }
}

/// Splits a shortest-digit printer's output (`ddd.ddd`, `0.000ddd`, `d.ddde-7`, `de+16`) (`ddd.ddd`, `0.000ddd`, `d.ddde-7`, `de16`) into significant digits
/// `d1..dk` and the ES exponent `n`, such that the value is `0.d1..dk × 10^n`. One pass: this
/// runs once per float and dominates float-heavy bodies.
fn shortest_digits(bytes: &[u8]) -> (DigitBuf, i32) {
    let mut digits = DigitBuf::default();
    let (mut int_len, mut leading, mut in_fraction) = (0i32, 0i32, false);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                int_len += i32::from(!in_fraction);
                if digits.len == 0 && b == b'0' {
                    leading += 1;
                } else {
                    digits.push(b);
                }
            }
            b'.' => in_fraction = true,
            _ => break,
        }
        i += 1;
    }
    digits.trim_trailing_zeros();
    (digits, int_len + exponent(&bytes[i..]) - leading)
}

/// The value of `e[+-]ddd` (empty input is 0).
fn exponent(bytes: &[u8]) -> i32 {
    let (negative, mut value) = (bytes.get(1) == Some(&b'-'), 0i32);
    for &b in bytes.iter().filter(|b| b.is_ascii_digit()) {
        value = value * 10 + i32::from(b - b'0');
    }
    if negative {
        -value
    } else {
        value
    }
}

#[derive(Default)]
struct DigitBuf {
    buf: [u8; 24],
    len: usize,
}

impl DigitBuf {
    fn push(&mut self, b: u8) {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    fn trim_trailing_zeros(&mut self) {
        while self.len > 1 && self.buf[self.len - 1] == b'0' {
            self.len -= 1;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// ECMA-262 Number::toString steps 6-10, with `k` digits and exponent `n`.
fn layout(out: &mut NumText, digits: &[u8], n: i32) {
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.push_all(digits);
        (0..n - k).for_each(|_| out.push(b'0'));
    } else if 0 < n && n <= 21 {
        out.push_all(&digits[..n as usize]);
        out.push(b'.');
        out.push_all(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_all(b"0.");
        (0..-n).for_each(|_| out.push(b'0'));
        out.push_all(digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.push_all(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n - 1 < 0 { b'-' } else { b'+' });
        let mut itoa = [0u8; 4];
        let mut e = (n - 1).unsigned_abs();
        let mut i = itoa.len();
        loop {
            i -= 1;
            itoa[i] = b'0' + (e % 10) as u8;
            e /= 10;
            if e == 0 {
                break;
            }
        }
        out.push_all(&itoa[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(v: f64) -> String {
        String::from_utf8_lossy(es_format(v).as_bytes()).into_owned()
    }

    #[test]
    #[allow(clippy::excessive_precision)] // The RFC 8785 vector, digit for digit.
    fn formats_like_ecmascript() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-0.0, "0"),
            (0.5, "0.5"),
            (333333333.33333329, "333333333.3333333"),
            (1e30, "1e+30"),
            (4.5, "4.5"),
            (2e-3, "0.002"),
            (1e-27, "1e-27"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (-1.5e300, "-1.5e+300"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740992.0, "9007199254740992"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (v, want) in cases {
            assert_eq!(es(*v), *want, "{v:e}");
        }
    }

    /// The old ryu-based printer: ryu's shortest digits, re-laid out by ES's rules.
    fn es_via_ryu(v: f64) -> String {
        if v == 0.0 {
            return "0".into();
        }
        let mut out = NumText {
            buf: [0; NUM_BUF],
            len: 0,
        };
        if v < 0.0 {
            out.push(b'-');
        }
        let mut buf = ryu::Buffer::new();
        let (digits, n) = shortest_digits(buf.format_finite(v.abs()).as_bytes());
        layout(&mut out, digits.as_bytes(), n);
        String::from_utf8_lossy(out.as_bytes()).into_owned()
    }

    /// zmij and ryu must pick the same shortest digits (closest to the value) for every double:
    /// random bit patterns (every exponent, subnormals), powers of two and ten, and neighbours.
    #[test]
    fn zmij_agrees_with_ryu() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let check = |v: f64| {
            if v.is_finite() {
                assert_eq!(es(v), es_via_ryu(v), "{v:e} ({:#x})", v.to_bits());
            }
        };
        for _ in 0..400_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(f64::from_bits(x));
            // Short decimals, the common case in real bodies.
            check((x % 2_000_000) as f64 / 1000.0 - 1000.0);
        }
        for e in -1074i32..=1023 {
            let bits: u64 = if e >= -1022 {
                ((e + 1023) as u64) << 52
            } else {
                1 << (e + 1074)
            };
            for b in [bits, bits + 1, bits - 1] {
                check(f64::from_bits(b));
                check(-f64::from_bits(b));
            }
        }
        for e in -324..=308 {
            check(format!("1e{e}").parse().unwrap());
            check(format!("9.999999999999999e{e}").parse().unwrap());
        }
    }

    #[test]
    fn int_and_float_compare_by_text() {
        assert!(Number::Int("1").same(&Number::Float(1.0)));
        assert!(Number::Float(-0.0).same(&Number::Int("0")));
        assert!(!Number::Int("12345678901234567890").same(&Number::Int("12345678901234567891")));
        assert!(!Number::Int("12345678901234567891").same(&Number::Float(12345678901234567891.0)));
    }
}

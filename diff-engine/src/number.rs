//! JSON numbers. One rule: a number whose exact decimal value is an integer compares by that
//! exact value, whatever its spelling (`100`, `1e2`, `100.0`, `1.00e2`); every other number is
//! the nearest IEEE double, and a double that is an integer is that integer
//! (`0.99999999999999999999` is 1).
//!
//! Canonical text: a non-integral double prints the way ECMAScript's `Number.prototype.toString`
//! prints it (RFC 8785 §3.2.2.3). An integer prints with all its digits, laid out by the same
//! ES rules: plain below 10^21 (`1152921504606846976`), `d.ddde+N` from 10^21 up (`1e+30`,
//! `1.2345678901234567890123e+22`). That layout is the normalized digits-and-exponent form:
//! `1e100000` prints as itself and is never expanded. Below 2^53 (and for every integral double
//! whose shortest digits are its exact digits, e.g. `1e+30`) this is RFC 8785 byte for byte.

use crate::sink::Sink;

/// A parsed JSON number.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number<'a> {
    /// An integer literal as written: optional `-`, digits, no fraction, no exponent; `-0` is
    /// stored as `0`. Its own text is its only spelling, so texts compare directly.
    Int(&'a str),
    /// A literal with a fraction or an exponent whose exact value is a nonzero integer (`1e2`,
    /// `100.0`, `1.5e1`, `1e100000`), as written. Compared by [`Decimal`].
    Integral(&'a str),
    /// A literal whose exact value is not an integer, as the nearest finite double. The double
    /// may itself be an integer (`0.99999999999999999999` → 1, `1e-400` → 0 is stored as
    /// `Int("0")`): then the number is that integer.
    Float(f64),
    /// An integer decoded from a binary format (a protobuf varint or fixed field), by value.
    /// The same number as the `Int` of its decimal text: it compares and prints as that text.
    Integer(i128),
}

/// 2^53: every integer of smaller magnitude is a double, and a double's ES text below it is
/// the integer's plain decimal text. Every double at or above it is an integer.
pub(crate) const EXACT_INTS: f64 = 9_007_199_254_740_992.0;

/// ES prints integers below 10^21 in full, from there with an exponent (ECMA-262
/// Number::toString, `k <= n <= 21`).
const PLAIN_DIGITS: i64 = 21;

/// Exponents are read saturating at this magnitude. An integer whose exponent reaches it
/// (`1e2000000000000`) cannot be told apart from its neighbours and is rejected as out of
/// range; a fraction with such a negative exponent is simply 0 as a double.
pub(crate) const EXP_CAP: i64 = 1 << 40;

/// The value of a literal's exponent digits (no sign), saturating at [`EXP_CAP`].
pub(crate) fn exponent_digits(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |v, &d| {
        (v * 10 + i64::from(d.wrapping_sub(b'0'))).min(EXP_CAP)
    })
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
    /// Canonical equality: two numbers are equal exactly when they print the same.
    pub(crate) fn same(&self, other: &Number<'_>) -> bool {
        match (self, other) {
            (Number::Integer(a), Number::Integer(b)) => a == b,
            (Number::Integer(i), n) | (n, Number::Integer(i)) => {
                Number::Int(IntText::of(*i).as_str()).same(n)
            }
            (Number::Int(a), Number::Int(b)) => a == b,
            // Distinct doubles have distinct texts; 0.0 == -0.0 (though the parser turns a
            // zero double into `Int("0")`).
            (Number::Float(a), Number::Float(b)) => a == b,
            (Number::Float(f), n) | (n, Number::Float(f)) => {
                // Only an integral double can equal an integer (cold: a fraction that rounds
                // to an integer).
                f.fract() == 0.0 && ExactInt::of(*f).decimal().same(&n.decimal())
            }
            (a, b) => a.decimal().same(&b.decimal()),
        }
    }

    /// The exact decimal form of an integer (`Int` or `Integral`; unused for `Float`, and for
    /// `Integer`, which `same` reads as an `Int` first).
    fn decimal(&self) -> Decimal<'a> {
        match self {
            Number::Int(text) | Number::Integral(text) => Decimal::of(text),
            Number::Float(_) | Number::Integer(_) => Decimal::ZERO,
        }
    }

    /// Approximate value, for tolerance rules only (infinite past a double's range).
    pub(crate) fn to_f64(self) -> f64 {
        match self {
            Number::Int(s) | Number::Integral(s) => s.parse().unwrap_or(f64::NAN),
            Number::Float(f) => f,
            // Rounds past 2^53, as a tolerance reads every number.
            #[allow(clippy::cast_precision_loss)]
            Number::Integer(i) => i as f64,
        }
    }

    /// Writes the canonical text into `out`; a double goes through the sink's `float`.
    pub(crate) fn write<S: Sink + ?Sized>(&self, out: &mut S) {
        match self {
            // The common case: an integer literal below 10^21 is its own canonical text.
            Number::Int(text) if text.len() <= PLAIN_DIGITS as usize => out.put(text.as_bytes()),
            Number::Int(text) | Number::Integral(text) => Decimal::of(text).write(out),
            Number::Float(f) => out.float(*f),
            Number::Integer(i) => Number::Int(IntText::of(*i).as_str()).write(out),
        }
    }
}

/// The decimal text of an `i128` (at most 40 bytes), on the stack.
pub(crate) struct IntText {
    buf: [u8; 40],
    start: usize,
}

impl IntText {
    pub(crate) fn of(n: i128) -> Self {
        let mut text = IntText {
            buf: [0; 40],
            start: 40,
        };
        let mut m = n.unsigned_abs();
        loop {
            text.start -= 1;
            text.buf[text.start] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        if n < 0 {
            text.start -= 1;
            text.buf[text.start] = b'-';
        }
        text
    }

    pub(crate) fn as_str(&self) -> &str {
        // ASCII digits and `-` only.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

/// An integer as `±0.d1…dk × 10^n` with `d1` and `dk` nonzero (zero: no digits, `n` = 0). The
/// digits are borrowed from a literal, in at most two runs (a `.` may split them), so no
/// spelling is ever expanded.
#[derive(Debug, Clone, Copy)]
struct Decimal<'d> {
    neg: bool,
    head: &'d [u8],
    tail: &'d [u8],
    n: i64,
}

impl<'d> Decimal<'d> {
    const ZERO: Decimal<'static> = Decimal {
        neg: false,
        head: b"",
        tail: b"",
        n: 0,
    };

    /// The decimal form of a literal whose exact value is an integer (the parser checked).
    fn of(text: &'d str) -> Self {
        let b = text.as_bytes();
        let (neg, b) = match b.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, b),
        };
        let (mantissa, exp) = match b.iter().position(|&c| c == b'e' || c == b'E') {
            Some(i) => {
                let e = &b[i + 1..];
                let (negative, digits) = match e.split_first() {
                    Some((b'-', d)) => (true, d),
                    Some((b'+', d)) => (false, d),
                    _ => (false, e),
                };
                let v = exponent_digits(digits);
                (&b[..i], if negative { -v } else { v })
            }
            None => (b, 0),
        };
        let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, &b""[..]),
        };
        let nonzero = |c: &u8| *c != b'0';
        let last_in_frac = frac.iter().rposition(nonzero);
        let (head, tail, n) = match int.iter().position(nonzero) {
            Some(first) => {
                let (head, tail) = match last_in_frac {
                    Some(last) => (&int[first..], &frac[..=last]),
                    // A nonzero digit exists in `int`, so `rposition` finds one.
                    None => (
                        &int[first..=int.iter().rposition(nonzero).unwrap_or(first)],
                        &b""[..],
                    ),
                };
                (head, tail, (int.len() - first) as i64 + exp)
            }
            None => match (frac.iter().position(nonzero), last_in_frac) {
                (Some(first), Some(last)) => (&frac[first..=last], &b""[..], exp - first as i64),
                _ => return Decimal::ZERO,
            },
        };
        Decimal { neg, head, tail, n }
    }

    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    fn same(&self, other: &Decimal<'_>) -> bool {
        self.neg == other.neg
            && self.n == other.n
            && self.len() == other.len()
            && self
                .head
                .iter()
                .chain(self.tail)
                .eq(other.head.iter().chain(other.tail))
    }

    /// ECMA-262 Number::toString's layout over the exact digits: `ddd000` while `n <= 21`,
    /// else `d.ddde+N`. Integers only (`k <= n`), so no other case arises.
    fn write<S: Sink + ?Sized>(&self, out: &mut S) {
        if self.len() == 0 {
            out.put(b"0");
            return;
        }
        if self.neg {
            out.put(b"-");
        }
        if self.n <= PLAIN_DIGITS {
            const ZEROS: &[u8; PLAIN_DIGITS as usize] = b"000000000000000000000";
            out.put(self.head);
            out.put(self.tail);
            out.put(&ZEROS[..(self.n as usize).saturating_sub(self.len())]);
            return;
        }
        out.put(&self.head[..1]);
        if self.len() > 1 {
            out.put(b".");
            out.put(&self.head[1..]);
            out.put(self.tail);
        }
        out.put(b"e+");
        let exponent = IntText::of(i128::from((self.n - 1).unsigned_abs()));
        out.put(exponent.as_str().as_bytes());
    }
}

/// The exact decimal digits of an integral double, on the stack (at most 309 digits). Cold:
/// only a fraction that rounds to an integer of 2^53 or more gets here.
struct ExactInt {
    neg: bool,
    buf: [u8; 9 * LIMBS],
    start: usize,
}

/// Base-10^9 limbs: 10^(9·35) > 2^1024.
const LIMBS: usize = 35;

impl ExactInt {
    fn of(value: f64) -> Self {
        let abs = value.abs();
        // The integer as `m × 2^shift`: exact in a u64 below 2^64, else from the bits.
        let (m, shift) = if abs < 18_446_744_073_709_551_616.0 {
            // Exact: `abs` is integral and below 2^64.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let m = abs as u64;
            (m, 0)
        } else {
            let bits = abs.to_bits();
            let biased = (bits >> 52) as u32;
            ((bits & ((1 << 52) - 1)) | (1 << 52), biased - 1075)
        };
        let mut limbs = [0u32; LIMBS];
        let mut used = 0;
        let mut rest = m;
        while rest > 0 {
            limbs[used] = (rest % 1_000_000_000) as u32;
            rest /= 1_000_000_000;
            used += 1;
        }
        let mut left = shift;
        while left > 0 {
            let step = left.min(29);
            left -= step;
            let mut carry = 0u64;
            for limb in &mut limbs[..used] {
                let v = (u64::from(*limb) << step) + carry;
                *limb = (v % 1_000_000_000) as u32;
                carry = v / 1_000_000_000;
            }
            while carry > 0 {
                limbs[used] = (carry % 1_000_000_000) as u32;
                carry /= 1_000_000_000;
                used += 1;
            }
        }
        let mut out = ExactInt {
            neg: value < 0.0,
            buf: [b'0'; 9 * LIMBS],
            start: 9 * LIMBS,
        };
        for (i, &limb) in limbs[..used].iter().enumerate() {
            let mut v = limb;
            let end = 9 * LIMBS - 9 * i;
            for at in (end - 9..end).rev() {
                out.buf[at] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        out.start = out.buf[..]
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(out.buf.len());
        out
    }

    fn decimal(&self) -> Decimal<'_> {
        let digits = &self.buf[self.start..];
        let Some(last) = digits.iter().rposition(|&d| d != b'0') else {
            return Decimal::ZERO;
        };
        Decimal {
            neg: self.neg,
            head: &digits[..=last],
            tail: b"",
            n: digits.len() as i64,
        }
    }
}

/// Writes a finite double in canonical form: an integer of 2^53 or more with all its digits
/// (see [`Decimal::write`]), anything else as ECMAScript prints it (below 2^53 an integral
/// double's ES text is already its exact digits).
pub(crate) fn write_double<S: Sink + ?Sized>(value: f64, out: &mut S) {
    if value.abs() >= EXACT_INTS {
        ExactInt::of(value).decimal().write(out);
    } else {
        write_es(value, out);
    }
}

/// Formats a finite double as ECMAScript `Number.prototype.toString` does.
#[cfg(test)]
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

    /// Only ever handed the doubles `write_es` prints (its own re-layout goes through `put`).
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

    fn printed(n: Number<'_>) -> String {
        let mut out = Vec::new();
        n.write(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// A decoded integer is the number its decimal text is.
    #[test]
    fn integers_by_value_are_their_text() {
        let u64_max = i128::from(u64::MAX);
        assert!(Number::Integer(u64_max).same(&Number::Int("18446744073709551615")));
        assert!(Number::Int("18446744073709551615").same(&Number::Integer(u64_max)));
        assert!(!Number::Integer(u64_max).same(&Number::Int("18446744073709551614")));
        assert!(Number::Integer(100).same(&Number::Integral("1e2")));
        assert!(Number::Integer(-7).same(&Number::Int("-7")));
        assert!(Number::Integer(0).same(&Number::Float(0.0)));
        assert!(Number::Integer(3).same(&Number::Float(3.0)));
        assert!(!Number::Integer(3).same(&Number::Float(3.5)));
        assert!(Number::Integer(3).same(&Number::Integer(3)));
        assert_eq!(
            printed(Number::Integer(i128::from(i64::MIN))),
            "-9223372036854775808"
        );
        assert_eq!(printed(Number::Integer(10_i128.pow(25))), "1e+25");
        assert_eq!(
            printed(Number::Integer(i128::MIN)),
            printed(Number::Int("-170141183460469231731687303715884105728"))
        );
        assert_eq!(Number::Integer(-2).to_f64(), -2.0);
    }

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

    fn num(text: &str) -> Number<'_> {
        match crate::json::parse(text.as_bytes(), 1).unwrap() {
            crate::json::Value::Number(n) => n,
            other => panic!("{other:?}"),
        }
    }

    fn canon(text: &str) -> String {
        let mut out = Vec::new();
        num(text).write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_compare_by_exact_value_whatever_the_spelling() {
        let one = [
            "100", "1e2", "100.0", "1.00e2", "0.001e5", "1000e-1", "10E+1",
        ];
        for a in one {
            for b in one {
                assert!(num(a).same(&num(b)), "{a} vs {b}");
            }
            assert_eq!(canon(a), "100", "{a}");
        }
        assert!(num("1000000000000000000000").same(&num("1e21")));
        assert!(num("1152921504606846976").same(&num("1152921504606846976.0")));
        assert!(!num("1152921504606847000").same(&num("1152921504606846976.0")));
        assert!(!num("12345678901234567890").same(&num("12345678901234567891")));
        assert!(!num("12345678901234567891").same(&num("1.2345678901234567e19")));
        // A double that is an integer is that integer.
        assert!(num("1").same(&num("0.99999999999999999999")));
        assert!(num("1152921504606846976").same(&num("1152921504606846975.9999")));
        assert!(!num("1152921504606847000").same(&num("1152921504606846975.9999")));
        assert!(num("0.1").same(&num("0.10000000000000001")));
        assert!(!num("0.1").same(&num("0.10000000000000002")));
    }

    #[test]
    fn integers_print_with_all_their_digits_in_es_layout() {
        let cases = [
            ("0", "0"),
            ("-0.0e7", "0"),
            ("-1.5e1", "-15"),
            ("1152921504606846976.0", "1152921504606846976"),
            ("1152921504606846975.9999", "1152921504606846976"),
            ("1e20", "100000000000000000000"),
            ("999999999999999999999", "999999999999999999999"),
            ("1e21", "1e+21"),
            ("1000000000000000000000", "1e+21"),
            ("1E30", "1e+30"),
            ("-12345678901234567890123", "-1.2345678901234567890123e+22"),
            (
                "12.3456789012345678901230e21",
                "1.2345678901234567890123e+22",
            ),
            ("1e100000", "1e+100000"),
            ("0.00001e100005", "1e+100000"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ];
        for (text, want) in cases {
            assert_eq!(canon(text), want, "{text}");
        }
    }

    /// The exact digits of integral doubles, against u128 arithmetic and a power of two.
    #[test]
    fn exact_digits_of_integral_doubles() {
        let text = |f: f64| {
            let mut out = Vec::new();
            write_double(f, &mut out);
            String::from_utf8(out).unwrap()
        };
        let mut x: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Below 2^127, so `f as u128` is exact (2^128 would saturate).
            let f = (x >> (1 + x % 75)) as f64;
            let exact = f as u128;
            let want = if f < 1e21 {
                exact.to_string()
            } else {
                let d = exact.to_string();
                let sig = d.trim_end_matches('0');
                let rest = if sig.len() > 1 {
                    format!(".{}", &sig[1..])
                } else {
                    String::new()
                };
                format!("{}{rest}e+{}", &sig[..1], d.len() - 1)
            };
            assert_eq!(text(f), want, "{f:e}");
            assert_eq!(text(-f), if f == 0.0 { want } else { format!("-{want}") });
        }
        // 2^1023: 308 digits.
        let two_1023 = "89884656743115795386465259539451236680898848947115328636715040578866337902750481566354238661203768010560056939935696678829394884407208311246423715319737062188883946712432742638151109800623047059726541476042502884419075341171231440736956555270413618581675255342293149119973622969239858152417678164812112068608";
        assert_eq!(
            text(2f64.powi(1023)),
            format!("8.{}e+307", two_1023[1..].trim_end_matches('0'))
        );
    }
}

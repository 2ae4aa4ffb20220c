//! The canonical digest hashes a stream *equivalent* to the canonical text (a non-integral
//! double goes in as a tagged 8-byte record, not as its shortest text). These tests pin the one
//! thing that matters: `canonical_digest(a) == canonical_digest(b)` ⇔
//! `canonicalize(a) == canonicalize(b)`, above all for numbers spelled differently. `compare`
//! decides canonical equality on the parsed trees instead of on digests; the same cases pin
//! that it agrees: a match with no rules ⇔ equal canonical text.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

mod support;

use diff_engine::{canonical_digest, canonicalize, Outcome, RuleSpec};
use proptest::prelude::*;

/// Both directions of the equivalence for one pair; also that both reject the same inputs.
fn assert_equivalent(a: &str, b: &str) -> Result<bool, TestCaseError> {
    let (ca, cb) = (canonicalize(a.as_bytes()), canonicalize(b.as_bytes()));
    let (da, db) = (
        canonical_digest(a.as_bytes()),
        canonical_digest(b.as_bytes()),
    );
    prop_assert_eq!(ca.is_ok(), da.is_ok(), "{}", a);
    prop_assert_eq!(cb.is_ok(), db.is_ok(), "{}", b);
    let (Ok(ca), Ok(cb), Ok(da), Ok(db)) = (ca, cb, da, db) else {
        return Ok(false);
    };
    let same_text = ca == cb;
    prop_assert_eq!(
        da == db,
        same_text,
        "{} vs {}: canonical {} vs {}",
        a,
        b,
        String::from_utf8_lossy(&ca),
        String::from_utf8_lossy(&cb)
    );
    let verdict = support::json(a, b, &RuleSpec::default());
    prop_assert_eq!(
        matches!(verdict.outcome, Outcome::Match(_)),
        same_text,
        "compare({}, {}) gave {:?}",
        a,
        b,
        verdict.outcome
    );
    Ok(same_text)
}

fn check(a: &str, b: &str) -> bool {
    assert_equivalent(a, b).unwrap()
}

#[test]
fn number_spellings_digest_like_their_text() {
    let equal: &[(&str, &str)] = &[
        ("1.5", "15e-1"),
        ("1.5", "1.50"),
        ("1.5", "0.15E+1"),
        ("100", "1e2"),
        ("100", "100.0"),
        ("1e2", "100.000"),
        ("0", "-0.0"),
        ("0", "0e5"),
        ("-0", "0.0"),
        ("-0.0", "0.0"),
        ("-3", "-3.0"),
        ("9007199254740991", "9007199254740991.0"),
        ("9007199254740992", "9007199254740992.0"),
        ("-9007199254740992", "-9.007199254740992e15"),
        // An integer by exact decimal value compares by that value, whatever its spelling.
        ("100", "1.00e2"),
        ("100", "0.001e5"),
        ("1152921504606847000", "1.152921504606847e18"),
        ("1152921504606846976", "1152921504606846976.0"),
        ("12345678901234567890", "12345678901234567890.0"),
        ("12345678901234567890", "1.234567890123456789e19"),
        ("9007199254740993", "9007199254740993.0"),
        ("100000000000000000000", "1e20"),
        ("1e21", "1000000000000000000000.0"),
        ("1e21", "1000000000000000000000"),
        ("-1e21", "-1000000000000000000000"),
        ("1e30", "1000000000000000000000000000000"),
        (
            "123456789012345678901234567890",
            "1.2345678901234567890123456789e29",
        ),
        ("1e400", "10e399"),
        ("1e100000", "0.1e100001"),
        ("1e100000", "1.0000e100000"),
        ("[1e999999999999]", "[10E+999999999998]"),
        // A non-integral literal is a double, and a double that is an integer is that integer.
        ("1", "0.99999999999999999999"),
        ("1152921504606846976", "1152921504606846975.9999"),
        ("1152921504606846976", "1152921504606846976.0000001"),
        ("0", "1e-400"),
        ("0", "-1e-99999999999999999999"),
        ("0.1", "0.10000000000000001"),
        // canada.json's 17-digit spelling of a double and its shortest form.
        ("-65.613616999999977", "-65.61361699999998"),
        ("333333333.33333329", "333333333.3333333"),
        ("5e-324", "4.9406564584124654e-324"),
        ("1.7976931348623157e308", "17976931348623157e292"),
        ("1e-7", "0.0000001"),
        ("0.000001", "1e-6"),
        ("[1.5,{\"a\":2.0}]", "[15e-1, {\"a\": 2}]"),
    ];
    for (a, b) in equal {
        assert!(check(a, b), "{a} and {b} should be equal");
    }
    let different: &[(&str, &str)] = &[
        ("1.5", "1.25"),
        ("-65.613616999999977", "-65.613617"),
        ("1", "1.0000000000000002"),
        ("0.1", "0.10000000000000002"),
        // Different integers stay different, however they are spelled.
        ("12345678901234567890", "12345678901234567891"),
        ("12345678901234567890", "12345678901234567891.0"),
        ("1152921504606847000", "1152921504606846976.0"),
        ("1152921504606847000", "1152921504606846975.9999"),
        ("9007199254740993", "9007199254740992.0"),
        ("1e21", "1000000000000000000001"),
        ("1e21", "-1e21"),
        ("1e400", "1e401"),
        ("1e100000", "1e100001"),
        ("1e100000", "2e100000"),
        ("[1e999999999999]", "[1e999999999998]"),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
        ),
        ("5e-324", "1e-323"),
        ("-1.5", "1.5"),
        ("1.5", "\"1.5\""),
        ("[1.5]", "[1.5,1.5]"),
        ("[0.5]", "[0.5e0,0.5]"),
    ];
    for (a, b) in different {
        assert!(!check(a, b), "{a} and {b} should differ");
    }
}

/// A number as `±digits × 10^exp`, re-printable in many spellings.
#[derive(Debug, Clone)]
struct Num {
    neg: bool,
    digits: String,
    exp: i32,
    /// Written as a float (fraction or exponent) in the original document.
    float: bool,
}

fn num() -> impl Strategy<Value = Num> {
    let decimal = (
        any::<bool>(),
        "[1-9][0-9]{0,24}",
        -345i32..=280,
        any::<bool>(),
    )
        .prop_map(|(neg, digits, exp, float)| Num {
            neg,
            digits,
            exp,
            float: float || exp < 0,
        });
    let from_f64 = any::<f64>()
        .prop_filter("finite", |f| f.is_finite())
        .prop_map(|f| parse_num(&format!("{f:e}")));
    let from_int = any::<i128>().prop_map(|i| parse_num(&i.to_string()));
    let small_int = (-1_000i64..1_000, any::<bool>()).prop_map(|(i, float)| Num {
        float,
        ..parse_num(&i.to_string())
    });
    // Integral doubles around 2^53, 2^60, 1e20, 1e21 and powers of two up to 2^70.
    let big_integral = (0u32..=70, -3i64..=3, any::<bool>()).prop_map(|(p, d, float)| {
        let v = (1i128 << p) + i128::from(d);
        Num {
            float,
            ..parse_num(&v.to_string())
        }
    });
    let special = prop::sample::select(vec![
        "0",
        "-0",
        "0.0",
        "-0.0",
        "1e2",
        "1e20",
        "1e21",
        "1e22",
        "5e-324",
        "1e-7",
        "1e-6",
        "1152921504606847000",
        "9007199254740993",
        "1.7976931348623157e308",
    ])
    .prop_map(parse_num);
    prop_oneof![
        decimal,
        from_f64,
        from_int,
        small_int,
        big_integral,
        special
    ]
}

/// Reads a JSON number literal into its parts.
fn parse_num(text: &str) -> Num {
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().unwrap()),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let digits = all.trim_start_matches('0');
    Num {
        neg,
        digits: if digits.is_empty() { "0" } else { digits }.to_string(),
        exp: exp - frac.len() as i32,
        float: rest.len() != int.len(),
    }
}

impl Num {
    /// Spells the number in style `style` (0 keeps its kind, integer or float, when it can),
    /// with `pad` extra zero digits. Every spelling denotes the same decimal value, so under
    /// the number rule every spelling canonicalizes the same.
    fn spell(&self, style: u8, pad: u8) -> String {
        // Zero has one digit; an integer kept as an integer gets no fraction digits.
        let keeps_int = !self.float && style.is_multiple_of(6);
        let pad = if self.digits == "0" || keeps_int {
            0
        } else {
            i32::from(pad % 4)
        };
        let digits = format!("{}{}", self.digits, "0".repeat(pad as usize));
        let exp = self.exp - pad;
        let sign = if self.neg { "-" } else { "" };
        let plain = |float: bool| {
            if exp >= 0 {
                let zeros = "0".repeat(exp as usize);
                let int = format!("{digits}{zeros}");
                let int = int.trim_start_matches('0');
                let int = if int.is_empty() { "0" } else { int };
                if float {
                    format!("{int}.0")
                } else {
                    int.to_string()
                }
            } else {
                let point = digits.len() as i32 + exp;
                if point > 0 {
                    let (i, f) = digits.split_at(point as usize);
                    format!(
                        "{}.{f}",
                        if i.trim_start_matches('0').is_empty() {
                            "0"
                        } else {
                            i.trim_start_matches('0')
                        }
                    )
                } else {
                    format!("0.{}{digits}", "0".repeat((-point) as usize))
                }
            }
        };
        let body = match style % 6 {
            0 if exp.abs() > 60 => format!("{digits}e{exp}"),
            0 => plain(self.float),
            1 => format!("{digits}e{exp}"),
            2 => format!("{digits}E+{exp}").replace("+-", "-"),
            3 => {
                let (first, rest) = digits.split_at(1);
                let rest = if rest.is_empty() { "0" } else { rest };
                format!("{first}.{rest}e{}", exp + digits.len() as i32 - 1)
            }
            4 if exp.abs() > 60 => format!("0.{digits}e{}", exp + digits.len() as i32),
            4 => plain(true),
            _ => format!("0.{digits}e{}", exp + digits.len() as i32),
        };
        format!("{sign}{body}")
    }

    fn original(&self) -> String {
        self.spell(0, 0)
    }
}

/// A document whose numbers can be respelled.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn doc() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        num().prop_map(J::Num),
        num().prop_map(J::Num),
        num().prop_map(J::Num),
        "[a-z0-9.]{0,6}".prop_map(J::Str),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(J::Arr),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..5)
                .prop_map(|m| J::Obj(m.into_iter().collect())),
        ]
    })
}

/// Prints `j`, each number spelled by the next `(style, pad)` of `choices` (cycled); `None`
/// prints every number as generated.
fn print(j: &J, choices: Option<&[(u8, u8)]>, next: &mut usize, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => match choices {
            Some(c) if !c.is_empty() => {
                let (style, pad) = c[*next % c.len()];
                *next += 1;
                out.push_str(&n.spell(style, pad));
            }
            _ => out.push_str(&n.original()),
        },
        J::Str(s) => out.push_str(&format!("{s:?}")),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                print(item, choices, next, out);
            }
            out.push(']');
        }
        J::Obj(members) => {
            out.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("{k:?}:"));
                print(v, choices, next, out);
            }
            out.push('}');
        }
    }
}

fn text(j: &J, choices: Option<&[(u8, u8)]>) -> String {
    let mut s = String::new();
    print(j, choices, &mut 0, &mut s);
    s
}

/// `j` with the last digit of one number (the `which`-th, cycled) raised by one.
fn nudge(j: &J, which: usize, seen: &mut usize) -> J {
    match j {
        J::Num(n) => {
            let hit = *seen == which;
            *seen += 1;
            if !hit {
                return j.clone();
            }
            let mut n = n.clone();
            let last = n.digits.pop().unwrap();
            n.digits.push(if last == '9' {
                '8'
            } else {
                (last as u8 + 1) as char
            });
            J::Num(n)
        }
        J::Arr(items) => J::Arr(items.iter().map(|i| nudge(i, which, seen)).collect()),
        J::Obj(members) => J::Obj(
            members
                .iter()
                .map(|(k, v)| (k.clone(), nudge(v, which, seen)))
                .collect(),
        ),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Respelled numbers: `1.5` ↔ `15e-1` ↔ `1.50` ↔ `0.15e1`, `100` ↔ `1e2` ↔ `100.0`, …
    /// The same decimal value in any spelling is the same number: an integer by its exact
    /// value, anything else as the same double.
    #[test]
    fn respelled_documents_are_equal(
        j in doc(),
        choices in prop::collection::vec((any::<u8>(), any::<u8>()), 1..8),
    ) {
        let a = text(&j, None);
        let b = text(&j, Some(&choices));
        prop_assert!(assert_equivalent(&a, &b)?, "{} vs {}", a, b);
    }

    /// Two integers of any size, each in any spelling and scaled by the same power of ten (up
    /// to `e100010`, never expanded): equal exactly when they are the same integer.
    #[test]
    fn integers_in_any_spelling_are_equal_iff_the_same_integer(
        a in any::<i128>(),
        delta in prop_oneof![Just(0i128), -2i128..=2, any::<i128>()],
        scale in prop_oneof![0i32..3, 0i32..400, 99_990i32..100_010],
        sa in any::<(u8, u8)>(),
        sb in any::<(u8, u8)>(),
    ) {
        let b = a.saturating_add(delta);
        let scaled = |i: i128| {
            let n = parse_num(&i.to_string());
            Num { exp: if n.digits == "0" { 0 } else { n.exp + scale }, ..n }
        };
        let (x, y) = (scaled(a).spell(sa.0, sa.1), scaled(b).spell(sb.0, sb.1));
        prop_assert_eq!(assert_equivalent(&x, &y)?, a == b, "{} vs {}", x, y);
    }

    /// A non-integral double compares as a double: its 17-digit spelling (`0.10000000000000001`)
    /// equals its shortest one (`0.1`), and its neighbour differs.
    #[test]
    fn fractions_compare_as_doubles(f in any::<f64>().prop_filter("non-integral", |f| f.fract() != 0.0)) {
        let (shortest, long, longer) = (format!("{f:e}"), format!("{f:.16e}"), format!("{f:.25e}"));
        prop_assert!(assert_equivalent(&shortest, &long)?, "{} vs {}", shortest, long);
        prop_assert!(assert_equivalent(&shortest, &longer)?, "{} vs {}", shortest, longer);
        let next = format!("{:e}", f64::from_bits(f.to_bits() + 1));
        prop_assert!(!assert_equivalent(&shortest, &next)?, "{} vs {}", shortest, next);
    }

    /// Near misses: one number's last digit changed (for 17+ digit floats this may still be
    /// the same double, and then the same canonical text).
    #[test]
    fn nudged_documents_digest_equal_iff_canonical_equal(
        j in doc(),
        which in 0usize..16,
        choices in prop::collection::vec((any::<u8>(), any::<u8>()), 1..8),
    ) {
        let a = text(&j, None);
        let b = text(&nudge(&j, which, &mut 0), Some(&choices));
        assert_equivalent(&a, &b)?;
    }

    /// Unrelated documents, and single numbers against each other.
    #[test]
    fn random_pairs_digest_equal_iff_canonical_equal(a in doc(), b in doc(), x in num(), y in num(), s in any::<(u8, u8)>()) {
        assert_equivalent(&text(&a, None), &text(&b, None))?;
        assert_equivalent(&x.original(), &y.spell(s.0, s.1))?;
        assert_equivalent(&x.original(), &x.spell(s.0, s.1))?;
    }

    /// Integral doubles below 2^53 print as the integer (the digest writes them directly).
    #[test]
    fn integral_floats_below_2_pow_53_equal_the_integer(i in -(1i64 << 53) + 1..(1i64 << 53)) {
        let (int, float, exp) = (i.to_string(), format!("{i}.0"), format!("{i}e0"));
        prop_assert!(assert_equivalent(&int, &float)?);
        prop_assert!(assert_equivalent(&int, &exp)?);
    }
}

//! Bodies that are sequences of records (NDJSON lines, JSON text sequence entries, server-sent
//! events, gRPC messages), compared record by record.
//!
//! The sequence is read as an array: record `i` is at path `/i`, so a difference inside it is
//! `/3/price`, a record on one side only is `added`/`removed` at `/N`, and every rule applies
//! with the index as the first segment (`/*/request_id` ignores a member in every record).
//! A single pair of records can also be compared at the root (a unary gRPC response), with no
//! index.
//!
//! A record that cannot be read as a value is compared in its place as what it is: text (not
//! valid JSON; compared with whitespace outside strings ignored, as two invalid JSON bodies
//! are) or bytes (a message that does not decode). Against a value it is a `type_changed`. A
//! record nested past the depth limit cannot be compared: against a value it is a
//! `type_changed` (they cannot be equal), against another such record or text nothing is known,
//! and if nothing else differs the body is `Skipped(TooDeep)`. The note says which records were
//! read how.

use std::cell::Cell;

use crate::diff::{Collector, Differ, PAIR_BUDGET};
use crate::display::{binary_preview, text_preview, value_text};
use crate::json::{self, JsonError, Value};
use crate::model::{ChangeKind, Difference, MatchKind, Part, SkipReason};
use crate::pointer::{render, Step};
use crate::rules::RuleSet;
use crate::verdict::{BodyOutcome, BodyVerdict};
use crate::whitespace;

/// One record, as compared.
#[derive(Debug)]
pub(crate) enum Record<'a> {
    Value(Value<'a>),
    /// Not valid JSON: compared as text (whitespace outside strings ignored).
    Text(&'a [u8]),
    /// Not a decodable message: compared as bytes.
    Bytes(&'a [u8]),
    /// Nested deeper than the depth limit: cannot be compared (shown as text).
    TooDeep(&'a [u8]),
}

impl Record<'_> {
    /// Equal without rules: canonically equal values, texts equal up to whitespace outside
    /// strings, equal bytes (an over-deep record only to identical bytes).
    fn same(&self, other: &Record<'_>) -> bool {
        match (self, other) {
            (Record::Value(x), Record::Value(y)) => x == y,
            (Record::Text(x), Record::Text(y)) => whitespace::first_difference(x, y).is_none(),
            (Record::Bytes(x), Record::Bytes(y)) | (Record::TooDeep(x), Record::TooDeep(y)) => {
                x == y
            }
            _ => false,
        }
    }

    fn show(&self, max_chars: usize) -> String {
        match self {
            Record::Value(v) => value_text(v, max_chars),
            Record::Text(raw) | Record::TooDeep(raw) => text_preview(raw, max_chars),
            Record::Bytes(raw) => binary_preview(raw),
        }
    }
}

/// One side's records, and how many were not read the ordinary way (for the note).
pub(crate) struct Side<'a> {
    pub(crate) name: &'static str,
    /// What a record is called in notes: "record", "message".
    noun: &'static str,
    pub(crate) records: Vec<Record<'a>>,
    /// The first record read another way, as a phrase: "record 3 is not valid JSON (...),
    /// compared as text".
    first_fallback: Option<String>,
    fallbacks: usize,
}

impl<'a> Side<'a> {
    pub(crate) fn new(name: &'static str, noun: &'static str) -> Self {
        Self {
            name,
            noun,
            records: Vec::new(),
            first_fallback: None,
            fallbacks: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Records that record `index` was read another way: `why` is a phrase that follows the
    /// record's name ("is not valid JSON (...), compared as text").
    pub(crate) fn fell_back(&mut self, index: usize, why: impl FnOnce() -> String) {
        if self.first_fallback.is_none() {
            self.first_fallback = Some(format!("{} {index} {}", self.noun, why()));
        }
        self.fallbacks += 1;
    }

    /// Appends the JSON text `raw` as the next record: a value, or text when it is not valid
    /// JSON, or an over-deep record.
    pub(crate) fn push_json(&mut self, raw: &'a [u8], max_depth: usize) {
        let index = self.records.len();
        let record = match json::parse(raw, max_depth) {
            Ok(v) => Record::Value(v),
            Err(e @ JsonError::TooDeep { .. }) => {
                self.fell_back(index, || format!("nests deeper than the depth limit ({e})"));
                Record::TooDeep(raw)
            }
            Err(e) => {
                self.fell_back(index, || {
                    format!("is not valid JSON ({e}), compared as text")
                });
                Record::Text(raw)
            }
        };
        self.records.push(record);
    }

    fn note(&self) -> Option<String> {
        let first = self.first_fallback.as_ref()?;
        let more = match self.fallbacks - 1 {
            0 => String::new(),
            1 => format!(" (and 1 more {} not read as a value)", self.noun),
            n => format!(" (and {n} more {}s not read as a value)", self.noun),
        };
        Some(format!("{} {first}{more}", self.name))
    }
}

/// Where the records sit: each at its index, or one pair at the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Indexed,
    /// Exactly one record on each side, compared as the body itself (a unary gRPC response).
    Root,
}

/// Compares two record sequences under `rules`.
pub(crate) fn compare(
    a: &Side<'_>,
    b: &Side<'_>,
    layout: Layout,
    rules: &RuleSet,
    out: &mut Collector,
    note: Option<String>,
) -> BodyVerdict {
    let notes: Vec<String> = [note, a.note(), b.note()].into_iter().flatten().collect();
    let join = |extra: Option<String>| {
        let all: Vec<&str> = notes
            .iter()
            .map(String::as_str)
            .chain(extra.as_deref())
            .collect();
        (!all.is_empty()).then(|| all.join("; "))
    };
    let same = a.len() == b.len() && a.records.iter().zip(&b.records).all(|(x, y)| x.same(y));
    if same {
        return BodyVerdict::new(BodyOutcome::Equal(MatchKind::Canonical), join(None));
    }
    let budget = Cell::new(PAIR_BUDGET);
    let mut walk = Walk {
        d: Differ {
            rules,
            out,
            path: Vec::new(),
            budget: &budget,
        },
        undecided: None,
    };
    for i in 0..a.len().max(b.len()) {
        if walk.d.out.full() {
            break;
        }
        let step = match layout {
            Layout::Indexed => Some(Step::Index(i)),
            Layout::Root => None,
        };
        walk.pair(step, i, a.records.get(i), b.records.get(i));
    }
    if walk.d.out.found() {
        return BodyVerdict::new(BodyOutcome::Differ, join(None));
    }
    if let Some(i) = walk.undecided {
        let why = format!(
            "{} {i} nests deeper than the depth limit on one side and is not a JSON value \
             on the other; not compared",
            a.noun
        );
        return BodyVerdict::new(BodyOutcome::Skipped(SkipReason::TooDeep), join(Some(why)));
    }
    BodyVerdict::new(BodyOutcome::Equal(MatchKind::Rules), join(None))
}

struct Walk<'r, 't> {
    d: Differ<'r, 't>,
    /// The first pair that could not be compared (over-deep against over-deep or text).
    undecided: Option<usize>,
}

impl<'t> Walk<'_, 't> {
    fn pair(
        &mut self,
        step: Option<Step<'t>>,
        i: usize,
        x: Option<&'t Record<'_>>,
        y: Option<&'t Record<'_>>,
    ) {
        let kind = match (x, y) {
            (Some(Record::Value(p)), Some(Record::Value(q))) => {
                match step {
                    Some(step) => self.d.child(step, p, q),
                    None => self.d.diff(p, q),
                }
                return;
            }
            (Some(p), Some(q)) if p.same(q) => return,
            (Some(Record::TooDeep(_)), Some(Record::TooDeep(_) | Record::Text(_)))
            | (Some(Record::Text(_)), Some(Record::TooDeep(_))) => {
                self.undecided.get_or_insert(i);
                return;
            }
            (Some(Record::Text(_)), Some(Record::Text(_)))
            | (Some(Record::Bytes(_)), Some(Record::Bytes(_))) => ChangeKind::Changed,
            (Some(_), Some(_)) => ChangeKind::TypeChanged,
            (Some(_), None) => ChangeKind::Removed,
            (None, Some(_)) => ChangeKind::Added,
            (None, None) => return,
        };
        self.d.path.extend(step);
        if !self.d.rules.ignored(&self.d.path) {
            let max = self.d.out.max_value_chars();
            self.d.out.push(Difference {
                part: Part::Body,
                path: render(&self.d.path),
                kind,
                primary: x.map(|r| r.show(max)),
                candidate: y.map(|r| r.show(max)),
            });
        }
        self.d.path.clear();
    }
}

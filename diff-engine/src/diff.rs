//! Structured diff of two parsed JSON trees under rules: a depth-first walk in canonical key
//! order that reports each difference at the shallowest path where the two sides part.

use std::cell::Cell;
use std::cmp::Ordering;

use crate::display::value_text;
use crate::json::Value;
use crate::keys::key_cmp;
use crate::model::{ChangeKind, Difference, Part};
use crate::pointer::{render, Step};
use crate::rules::RuleSet;

/// Differences of one part, capped. Walks stop once `full`, i.e. once one more difference than
/// the cap has been seen (that is what proves `truncated`).
#[derive(Debug)]
pub(crate) struct Collector {
    diffs: Vec<Difference>,
    cap: usize,
    truncated: bool,
    max_value_chars: usize,
}

impl Collector {
    pub(crate) fn new(cap: usize, max_value_chars: usize) -> Self {
        Self {
            diffs: Vec::new(),
            cap,
            truncated: false,
            max_value_chars,
        }
    }

    pub(crate) fn push(&mut self, d: Difference) {
        if self.diffs.len() < self.cap {
            self.diffs.push(d);
        } else {
            self.truncated = true;
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.truncated
    }

    /// Whether any difference was seen (kept or not).
    pub(crate) fn found(&self) -> bool {
        self.truncated || !self.diffs.is_empty()
    }

    pub(crate) fn max_value_chars(&self) -> usize {
        self.max_value_chars
    }

    pub(crate) fn into_parts(self) -> (Vec<Difference>, bool) {
        (self.diffs, self.truncated)
    }
}

/// Pairwise "equal under rules" checks allowed per comparison for multiset arrays, so that
/// two large unordered arrays cannot make one comparison quadratic without bound.
pub(crate) const PAIR_BUDGET: usize = 20_000;

/// Diffs two body trees into `out`.
pub(crate) fn diff_values(a: &Value<'_>, b: &Value<'_>, rules: &RuleSet, out: &mut Collector) {
    let budget = Cell::new(PAIR_BUDGET);
    let mut d = Differ {
        rules,
        out,
        path: Vec::new(),
        budget: &budget,
    };
    d.diff(a, b);
}

pub(crate) struct Differ<'r, 't> {
    pub(crate) rules: &'r RuleSet,
    pub(crate) out: &'r mut Collector,
    pub(crate) path: Vec<Step<'t>>,
    pub(crate) budget: &'r Cell<usize>,
}

impl<'r, 't> Differ<'r, 't> {
    pub(crate) fn diff(&mut self, a: &'t Value<'_>, b: &'t Value<'_>) {
        if self.out.full() || self.rules.ignored(&self.path) {
            return;
        }
        let equal = match (a, b) {
            (Value::Object(x), Value::Object(y)) => return self.objects(x, y),
            (Value::Array(x), Value::Array(y)) => return self.arrays(x, y),
            (Value::Number(x), Value::Number(y)) => {
                x.same(y) || self.rules.within_tolerance(&self.path, x, y)
            }
            (Value::String(x), Value::String(y)) => {
                x == y || self.rules.same_instant(&self.path, x, y)
            }
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Null, Value::Null) => true,
            _ => {
                self.report(ChangeKind::TypeChanged, Some(a), Some(b));
                return;
            }
        };
        if !equal {
            self.report(ChangeKind::Changed, Some(a), Some(b));
        }
    }

    fn report(&mut self, kind: ChangeKind, a: Option<&Value<'_>>, b: Option<&Value<'_>>) {
        let max = self.out.max_value_chars();
        self.out.push(Difference {
            part: Part::Body,
            path: render(&self.path),
            kind,
            primary: a.map(|v| value_text(v, max)),
            candidate: b.map(|v| value_text(v, max)),
        });
    }

    /// A child present on one side only (`a` on v1's side, `b` on v2's).
    pub(crate) fn one_side(
        &mut self,
        step: Step<'t>,
        a: Option<&Value<'_>>,
        b: Option<&Value<'_>>,
    ) {
        self.path.push(step);
        if !self.rules.ignored(&self.path) {
            let kind = if a.is_some() {
                ChangeKind::Removed
            } else {
                ChangeKind::Added
            };
            self.report(kind, a, b);
        }
        self.path.pop();
    }

    pub(crate) fn child(&mut self, step: Step<'t>, a: &'t Value<'_>, b: &'t Value<'_>) {
        self.path.push(step);
        self.diff(a, b);
        self.path.pop();
    }

    /// Merge walk over members sorted by key (the parser sorted them).
    fn objects<K: AsRef<str>>(&mut self, x: &'t [(K, Value<'_>)], y: &'t [(K, Value<'_>)]) {
        let (mut i, mut j) = (0, 0);
        while !self.out.full() {
            let order = match (x.get(i), y.get(j)) {
                (Some(p), Some(q)) => key_cmp(p.0.as_ref(), q.0.as_ref()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => return,
            };
            match order {
                Ordering::Less => {
                    self.one_side(Step::Key(x[i].0.as_ref()), Some(&x[i].1), None);
                    i += 1;
                }
                Ordering::Greater => {
                    self.one_side(Step::Key(y[j].0.as_ref()), None, Some(&y[j].1));
                    j += 1;
                }
                Ordering::Equal => {
                    self.child(Step::Key(x[i].0.as_ref()), &x[i].1, &y[j].1);
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    fn arrays(&mut self, x: &'t [Value<'_>], y: &'t [Value<'_>]) {
        if let Some(key) = self.rules.sort_key(&self.path) {
            let (xs, ys) = (sorted_by_key(x, key), sorted_by_key(y, key));
            return self.elements(&xs, &ys);
        }
        if self.rules.unordered(&self.path) {
            return self.multiset(x, y);
        }
        let (xs, ys): (Vec<_>, Vec<_>) = (x.iter().collect(), y.iter().collect());
        self.elements(&xs, &ys);
    }

    /// Index by index; the longer side's tail is added or removed.
    fn elements(&mut self, x: &[&'t Value<'_>], y: &[&'t Value<'_>]) {
        for i in 0..x.len().max(y.len()) {
            if self.out.full() {
                return;
            }
            match (x.get(i), y.get(i)) {
                (Some(a), Some(b)) => self.child(Step::Index(i), a, b),
                (a, b) => self.one_side(Step::Index(i), a.copied(), b.copied()),
            }
        }
    }

    /// Whether `a` and `b` are equal under the rules at the current path.
    pub(crate) fn equal_under_rules(
        &self,
        a: &'t Value<'_>,
        b: &'t Value<'_>,
        step: Step<'t>,
    ) -> bool {
        let mut probe = Collector::new(0, 0);
        let mut path = self.path.clone();
        path.push(step);
        let mut d = Differ {
            rules: self.rules,
            out: &mut probe,
            path,
            budget: self.budget,
        };
        d.diff(a, b);
        !probe.found()
    }
}

/// Stable sort by the canonical text of member `key`; elements without it go last.
fn sorted_by_key<'t, 'v>(items: &'t [Value<'v>], key: &str) -> Vec<&'t Value<'v>> {
    let mut keyed: Vec<(Option<Vec<u8>>, &Value<'v>)> = items
        .iter()
        .map(|v| (v.get(key).map(canonical_bytes), v))
        .collect();
    keyed.sort_by(|p, q| match (&p.0, &q.0) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
    keyed.into_iter().map(|(_, v)| v).collect()
}

pub(crate) fn canonical_bytes(v: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    crate::canonical::write_value(v, &mut out);
    out
}

//! Arrays compared as multisets (`unordered_arrays`).
//!
//! Elements pair up first by equal canonical digest, then (only when body rules exist, since
//! rules such as an ignored member can make different texts equal) by a pairwise "equal under
//! rules" check within a budget. Unpaired v1 elements are reported `removed` at their v1 index,
//! unpaired v2 elements `added` at their v2 index.

use std::collections::HashMap;

use crate::canonical::digest_value;
use crate::diff::Differ;
use crate::json::Value;
use crate::pointer::Step;

impl<'t> Differ<'_, 't> {
    pub(crate) fn multiset(&mut self, x: &'t [Value<'_>], y: &'t [Value<'_>]) {
        let mut by_digest: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
        for (j, v) in y.iter().enumerate().rev() {
            by_digest.entry(digest_value(v)).or_default().push(j);
        }
        let mut paired_y = vec![false; y.len()];
        let mut left_x = Vec::new();
        for (i, v) in x.iter().enumerate() {
            match by_digest.get_mut(&digest_value(v)).and_then(Vec::pop) {
                Some(j) => paired_y[j] = true,
                None => left_x.push(i),
            }
        }
        if self.rules.has_body_rules() {
            left_x.retain(|&i| !self.pair_under_rules(&x[i], i, y, &mut paired_y));
        }
        for i in left_x {
            if self.out.full() {
                return;
            }
            self.one_side(Step::Index(i), Some(&x[i]), None);
        }
        for (j, v) in y.iter().enumerate().filter(|(j, _)| !paired_y[*j]) {
            if self.out.full() {
                return;
            }
            self.one_side(Step::Index(j), None, Some(v));
        }
    }

    /// Finds an unpaired `y` element equal to `a` under the rules and pairs it.
    fn pair_under_rules(
        &self,
        a: &'t Value<'_>,
        i: usize,
        y: &'t [Value<'_>],
        paired_y: &mut [bool],
    ) -> bool {
        for (j, b) in y.iter().enumerate() {
            if paired_y[j] {
                continue;
            }
            let left = self.budget.get();
            if left == 0 {
                return false;
            }
            self.budget.set(left - 1);
            if self.equal_under_rules(a, b, Step::Index(i)) {
                paired_y[j] = true;
                return true;
            }
        }
        false
    }
}

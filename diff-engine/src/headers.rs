//! Header comparison: names after the rules, values compared as bytes, a repeated header as the
//! ordered list of its values.

use http::{HeaderMap, HeaderName};

use crate::diff::Collector;
use crate::display::clip;
use crate::model::{ChangeKind, Difference, Part};
use crate::rules::RuleSet;

/// Pushes one difference per compared header name whose value lists differ, sorted by name.
pub(crate) fn diff_headers(a: &HeaderMap, b: &HeaderMap, rules: &RuleSet, out: &mut Collector) {
    let mut names: Vec<&HeaderName> = a
        .keys()
        .chain(b.keys())
        .filter(|n| rules.header_compared(n))
        .collect();
    names.sort_unstable_by(|x, y| x.as_str().cmp(y.as_str()));
    names.dedup();
    for name in names {
        let va: Vec<&[u8]> = a.get_all(name).iter().map(|v| v.as_bytes()).collect();
        let vb: Vec<&[u8]> = b.get_all(name).iter().map(|v| v.as_bytes()).collect();
        if va == vb {
            continue;
        }
        let kind = match (va.is_empty(), vb.is_empty()) {
            (true, _) => ChangeKind::Added,
            (_, true) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        };
        let max = out.max_value_chars();
        out.push(Difference {
            part: Part::Headers,
            path: name.as_str().to_owned(),
            kind,
            primary: show(&va, max),
            candidate: show(&vb, max),
        });
        if out.full() {
            return;
        }
    }
}

/// Values joined by `, ` (lossy UTF-8), or `None` when the header is absent.
fn show(values: &[&[u8]], max_chars: usize) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let joined: Vec<_> = values.iter().map(|v| String::from_utf8_lossy(v)).collect();
    Some(clip(&joined.join(", "), max_chars))
}

//! Record streams cut into records: NDJSON / JSON Lines (one JSON text per line, blank lines
//! skipped, a trailing `\r` dropped), RFC 7464 JSON text sequences (each record after a 0x1E,
//! ended by LF; empty entries between consecutive RS skipped, as the RFC allows) and
//! server-sent events (see `sse`). Each side holds at most `max_records` records, or the
//! body is not compared (`Skipped(TooManyRecords)`).

use crate::diff::Collector;
use crate::media::RecordFormat;
use crate::model::CompareLimits;
use crate::records::{self, Layout, Side};
use crate::rules::RuleSet;
use crate::sse;
use crate::verdict::BodyVerdict;

/// 0x1E, the record separator that starts each RFC 7464 record.
const RS: u8 = 0x1e;

pub(crate) fn compare(
    format: RecordFormat,
    a: &[u8],
    b: &[u8],
    rules: &RuleSet,
    limits: &CompareLimits,
    out: &mut Collector,
) -> BodyVerdict {
    if format == RecordFormat::EventStream {
        return sse::compare(a, b, rules, limits, out);
    }
    let (sa, sb) = match (
        json_records("primary", format, a, limits),
        json_records("candidate", format, b, limits),
    ) {
        (Ok(sa), Ok(sb)) => (sa, sb),
        (Err(v), _) | (_, Err(v)) => return v,
    };
    records::compare(&sa, &sb, Layout::Indexed, rules, out, None)
}

fn json_records<'a>(
    name: &'static str,
    format: RecordFormat,
    body: &'a [u8],
    limits: &CompareLimits,
) -> Result<Side<'a>, BodyVerdict> {
    let separator = match format {
        RecordFormat::JsonSeq => RS,
        _ => b'\n',
    };
    let mut side = Side::new(name, "record");
    for raw in body.split(|&c| c == separator) {
        // Only JSON's whitespace counts as blank (a line holding a stray RS is a bad record).
        if raw
            .iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            continue;
        }
        if side.len() == limits.max_records {
            return Err(BodyVerdict::too_many_records(name, limits));
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        side.push_json(raw, limits.max_depth);
    }
    Ok(side)
}

//! `[record]` and `[routes.record]`: which exchanges are written to disk, and where.

use crate::bounds as max;
use crate::check::{self, invalid, Result};
use crate::defaults as d;
use crate::raw::{RawRecord, RawRouteRecord};
use crate::{Record, RecordPolicy, Route};

/// The global table; its percent, body cap and `include_candidate` are the default route's.
pub(super) fn record(raw: RawRecord) -> Result<Record> {
    let policy = RecordPolicy {
        percent: match raw.percent {
            Some(p) => check::percent("record.percent", p)?,
            None => d::RECORD_PERCENT,
        },
        max_body_bytes: check::mem_size(
            "record.max_body_bytes",
            raw.max_body_bytes.as_ref(),
            d::RECORD_MAX_BODY_BYTES,
            max::BODY_BYTES,
        )?,
        include_candidate: raw.include_candidate.unwrap_or(false),
    };
    Ok(Record {
        dir: check::path("record.dir", raw.dir)?,
        max_file_bytes: check::size(
            "record.max_file_bytes",
            raw.max_file_bytes.as_ref(),
            d::RECORD_MAX_FILE_BYTES,
            max::RECORD_MAX_FILE_BYTES,
        )?,
        max_files: check::in_range(
            "record.max_files",
            raw.max_files.unwrap_or(d::RECORD_MAX_FILES),
            1,
            max::RECORD_MAX_FILES,
        )?,
        policy,
    })
}

/// `base` with each key present in `raw` replacing base's value for that key.
pub(super) fn route(key: &str, raw: &RawRouteRecord, base: &RecordPolicy) -> Result<RecordPolicy> {
    let k = |field: &str| format!("{key}.{field}");
    Ok(RecordPolicy {
        percent: match raw.percent {
            Some(p) => check::percent(&k("percent"), p)?,
            None => base.percent,
        },
        max_body_bytes: match &raw.max_body_bytes {
            Some(size) => check::mem_size(&k("max_body_bytes"), Some(size), 0, max::BODY_BYTES)?,
            None => base.max_body_bytes,
        },
        include_candidate: raw.include_candidate.unwrap_or(base.include_candidate),
    })
}

/// A share to record with nowhere to write it would silently record nothing: name the key.
pub(super) fn needs_dir(record: &Record, routes: &[Route]) -> Result<()> {
    if record.dir.is_some() {
        return Ok(());
    }
    let recording = std::iter::once(("record.percent".to_owned(), &record.policy))
        .chain(
            routes
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("routes[{i}].record.percent"), &r.record)),
        )
        .find(|(_, p)| p.percent > 0.0);
    match recording {
        Some((key, p)) => invalid(
            "record.dir",
            format!("required when {key} is above 0 (it is {})", p.percent),
        ),
        None => Ok(()),
    }
}

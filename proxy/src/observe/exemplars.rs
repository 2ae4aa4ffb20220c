//! A bounded ring of recent mismatches, for `/api/mismatches` and the report page.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::observe::sink::JsonlSink;

#[derive(Debug, Clone, Serialize)]
pub struct Exemplar {
    /// Unix time in milliseconds.
    pub time_ms: u64,
    pub route: String,
    pub method: String,
    /// Request path (no query string: it may carry secrets).
    pub path: String,
    pub primary_status: u16,
    pub candidate_status: u16,
    pub differences: Vec<ExemplarDiff>,
    pub truncated: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExemplarDiff {
    pub part: &'static str,
    pub path: String,
    pub kind: &'static str,
    pub primary: Option<String>,
    pub candidate: Option<String>,
}

pub struct Exemplars {
    cap: usize,
    ring: Mutex<VecDeque<Exemplar>>,
    sink: Option<Mutex<JsonlSink>>,
}

impl Exemplars {
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            ring: Mutex::new(VecDeque::with_capacity(cap.min(1024))),
            sink: None,
        }
    }

    /// Also append every record to the JSONL file `report.jsonl_path`, when set.
    pub fn from_config(report: &config::Report) -> anyhow::Result<Self> {
        let mut e = Self::new(report.max_exemplars);
        if let Some(path) = &report.jsonl_path {
            let sink = JsonlSink::open(path, report.jsonl_max_bytes, report.jsonl_max_files)?;
            e.sink = Some(Mutex::new(sink));
        }
        Ok(e)
    }

    pub fn push(&self, e: Exemplar) {
        if let Some(sink) = &self.sink {
            if let Err(err) = sink
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(&e)
            {
                tracing::warn!(error = %err, "writing the mismatch JSONL sink");
            }
        }
        if self.cap == 0 {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.len() >= self.cap {
            ring.pop_front();
        }
        ring.push_back(e);
    }

    /// Newest first, optionally for one route.
    pub fn recent(&self, route: Option<&str>, limit: usize) -> Vec<Exemplar> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter()
            .rev()
            .filter(|e| route.is_none_or(|r| e.route == r))
            .take(limit)
            .cloned()
            .collect()
    }
}

//! The end of a replay: the demo's per-endpoint table, the top differences by endpoint and
//! path, the budget verdict per route, and the same as JSON (`--report`) and JUnit (`--junit`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use crate::admin::summary::{summary, RouteSummary};
use crate::observe::noise::{self, RouteSuggestions};
use crate::observe::outcome::SkipReason;
use crate::observe::signatures::Item;
use crate::record::replay::source::Read;
use crate::state::Shared;

/// Top differing paths, and mismatch signatures, shown per route.
const TOP: usize = 5;

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub exchanges: u64,
    pub elapsed_seconds: f64,
    pub requests_per_second: f64,
    pub corrupt_lines: Vec<String>,
    pub truncated_files: Vec<String>,
    pub unreadable_files: Vec<String>,
    pub routes: Vec<RouteVerdict>,
    /// Routes over their budget, by name.
    pub over_budget: Vec<String>,
    /// Routes that got requests and judged none (every one skipped: an unsafe method without
    /// `allow_unsafe_methods`, say): neither within their budget nor over it.
    pub unjudged: Vec<String>,
    /// Requests v2 (and a live v1) refused with 401 or 403 that v1 answered otherwise when
    /// recorded: a credential is missing (recorded ones are redacted; `--header` gives one).
    pub refused_by_v2: u64,
    pub refused_by_v1: u64,
    /// Noise learned on each route (with `--primary` and `[noise] percent`, from v1 against a
    /// second v1 answer; deployment-identity headers from v1 against v2), and the config lines
    /// that silence it: `GET /api/noise/suggestions`'s `routes`.
    pub noise: Vec<RouteSuggestions>,
}

#[derive(Debug, Serialize)]
pub struct RouteVerdict {
    #[serde(flatten)]
    pub summary: RouteSummary,
    /// v2 gave no usable answer: counted against the budget like a mismatch, since a v2 that
    /// fails is not a v2 that agrees.
    pub candidate_failed: u64,
    /// (mismatched + candidate_failed) / (compared + candidate_failed) over the whole replay.
    pub mismatch_ratio: f64,
    pub over_budget: bool,
    /// Comparisons and v2 failures: what the budget judged (0: the route is unjudged).
    pub judged: u64,
    /// The route's mismatches grouped by signature (what differs together), most frequent
    /// first, at most [`TOP`]: ten thousand of one kind are one line, a rare one stays in view.
    pub signatures: Vec<SignatureLine>,
}

/// One kind of mismatch, as `GET /api/signatures` groups them.
#[derive(Debug, Serialize)]
pub struct SignatureLine {
    pub count: u64,
    /// Of the route's comparisons.
    pub share: f64,
    /// What differs, together: part, generalised path (`/items/*/price`), kind.
    pub differs: Vec<Item>,
    /// A few request paths that showed it.
    pub example_paths: Vec<String>,
}

impl SignatureLine {
    /// `body /total changed, headers etag added`.
    pub fn text(&self) -> String {
        self.differs
            .iter()
            .map(|i| {
                [i.part.as_str(), i.path.as_str(), i.kind.as_str()]
                    .into_iter()
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Outcome {
    /// Judge each route over the whole replay. A replay is one finite sample judged whole:
    /// the budget's ratio applies, its window and `min_samples` (which keep a live window from
    /// judging a handful of requests) do not — in CI they would let a small replay hide a
    /// regression.
    /// `refused`: requests v2 and a live v1 refused for want of a credential (`send::Refused`).
    pub fn judge(shared: &Shared, read: Read, elapsed: Duration, refused: (u64, u64)) -> Self {
        let routes: Vec<RouteVerdict> = summary(shared)
            .routes
            .into_iter()
            .filter(|r| r.requests > 0)
            .map(|summary| {
                let failed = summary
                    .skipped
                    .iter()
                    .filter(|(reason, _)| reason == SkipReason::CandidateFailed.as_str())
                    .map(|(_, n)| n)
                    .sum::<u64>();
                let judged = summary.compared + failed;
                let ratio = if judged == 0 {
                    0.0
                } else {
                    (summary.mismatched + failed) as f64 / judged as f64
                };
                let signatures =
                    shared
                        .outlets
                        .signatures
                        .ranked(Some(&summary.route), TOP, |e, share| SignatureLine {
                            count: e.count,
                            share,
                            differs: e.items.clone(),
                            example_paths: e.example_paths.clone(),
                        });
                RouteVerdict {
                    over_budget: ratio > summary.budget,
                    mismatch_ratio: ratio,
                    candidate_failed: failed,
                    judged,
                    summary,
                    signatures,
                }
            })
            .collect();
        let done: u64 = routes.iter().map(|r| r.summary.requests).sum();
        let secs = elapsed.as_secs_f64().max(1e-9);
        Self {
            exchanges: read.lines,
            elapsed_seconds: secs,
            requests_per_second: done as f64 / secs,
            corrupt_lines: read.bad.iter().map(ToString::to_string).collect(),
            truncated_files: read
                .truncated
                .iter()
                .map(|(f, n, why)| {
                    format!(
                        "{}: zstd stream ends after line {n} ({why}); replayed what precedes",
                        f.display()
                    )
                })
                .collect(),
            unreadable_files: read
                .unreadable
                .iter()
                .map(|(f, why)| format!("{}: {why}", f.display()))
                .collect(),
            over_budget: routes
                .iter()
                .filter(|r| r.over_budget)
                .map(|r| r.summary.route.clone())
                .collect(),
            unjudged: routes
                .iter()
                .filter(|r| r.judged == 0)
                .map(|r| r.summary.route.clone())
                .collect(),
            routes,
            refused_by_v2: refused.0,
            refused_by_v1: refused.1,
            noise: noise::suggestions(&shared.outlets.noise, &shared.snapshot.load().config, None)
                .into_iter()
                .filter(|r| r.baseline_comparisons > 0 || !r.suggestions.is_empty())
                .collect(),
        }
    }

    /// 0 within budget, 1 over; 2 when nothing at all was judged: a replay that compared
    /// nothing has passed nothing (every request skipped, as the table and the skip reasons
    /// say).
    pub fn exit_code(&self) -> u8 {
        if !self.over_budget.is_empty() {
            1
        } else if self.routes.iter().all(|r| r.judged == 0) {
            2
        } else {
            0
        }
    }

    pub fn print(&self) {
        let summaries: Vec<RouteSummary> = self.routes.iter().map(|r| r.summary.clone()).collect();
        crate::app::demo::print_table(&summaries);
        let differing: Vec<&RouteVerdict> = self
            .routes
            .iter()
            .filter(|r| !r.summary.top_paths.is_empty())
            .collect();
        if !differing.is_empty() {
            println!("\ntop differences (endpoint, path, mismatches):");
            for r in &differing {
                for (path, n) in r.summary.top_paths.iter().take(TOP) {
                    println!("  {:<10} {path:<40} {n:>8}", r.summary.route);
                }
            }
            println!("\nmismatch signatures (endpoint, share of its comparisons, what differs together):");
            for r in &differing {
                for sig in &r.signatures {
                    println!(
                        "  {:<10} {:>6.1} %  {}",
                        r.summary.route,
                        100.0 * sig.share,
                        sig.text()
                    );
                }
            }
        }
        self.print_noise();
        for problem in self
            .corrupt_lines
            .iter()
            .map(|l| format!("corrupt line {l}"))
            .chain(self.truncated_files.iter().cloned())
            .chain(
                self.unreadable_files
                    .iter()
                    .map(|u| format!("unreadable {u}")),
            )
        {
            eprintln!("replay: {problem}");
        }
        println!(
            "\n{} exchanges in {:.1}s ({:.0} req/s); {} corrupt line(s)",
            self.exchanges,
            self.elapsed_seconds,
            self.requests_per_second,
            self.corrupt_lines.len()
        );
        for r in self.routes.iter().filter(|r| r.judged == 0) {
            let why: Vec<String> = r
                .summary
                .skipped
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect();
            println!(
                "nothing compared on {}: {} request(s) skipped ({})",
                r.summary.route,
                r.summary.requests,
                why.join(", ")
            );
        }
        for (side, n) in [("v2", self.refused_by_v2), ("v1", self.refused_by_v1)] {
            if n > 0 {
                println!(
                    "{side} refused {n} request(s) with 401/403 that v1 answered otherwise when \
                     recorded: recorded credentials are redacted; give a test one with \
                     --header 'Authorization: ...'"
                );
            }
        }
        match self.exit_code() {
            0 if self.unjudged.is_empty() => println!("every route within its budget"),
            0 => println!("every route that compared anything within its budget"),
            1 => println!("over budget: {}", self.over_budget.join(", ")),
            _ => println!("nothing compared: no verdict"),
        }
    }

    /// What v1 differed from itself in, as config lines to paste, and routes still learning.
    fn print_noise(&self) {
        if self.noise.is_empty() {
            return;
        }
        println!("\nnoise learned (what v1 differs from itself in; paste to ignore it):");
        for r in &self.noise {
            if r.learning {
                println!(
                    "  {}: {} of {} v1-against-v1 comparisons (noise.min_samples), still learning",
                    r.route, r.baseline_comparisons, r.min_samples
                );
            }
            if r.toml.is_empty() {
                println!("  {}: nothing learned as noise", r.route);
            } else {
                for line in r.toml.lines() {
                    println!("  {line}");
                }
            }
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_vec_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// One test case per route; a failure's message names the top differing paths.
    pub fn write_junit(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.junit()).with_context(|| format!("writing {}", path.display()))
    }

    pub fn junit(&self) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"shadowdiff replay\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
            self.routes.len(),
            self.over_budget.len(),
            self.elapsed_seconds
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"shadowdiff replay\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
            self.routes.len(),
            self.over_budget.len(),
            self.unjudged.len(),
            self.elapsed_seconds
        );
        for r in &self.routes {
            let s = &r.summary;
            let _ = write!(
                x,
                "    <testcase classname=\"shadowdiff.replay\" name=\"{}\" time=\"0\"",
                escape(&s.route)
            );
            if r.judged == 0 {
                let _ = write!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    escape(&format!(
                        "nothing compared: {} request(s), all skipped",
                        s.requests
                    ))
                );
                continue;
            }
            if !r.over_budget {
                x.push_str("/>\n");
                continue;
            }
            let paths: Vec<String> = s
                .top_paths
                .iter()
                .take(TOP)
                .map(|(p, n)| format!("{p} ({n})"))
                .collect();
            let message = format!(
                "mismatch ratio {:.4} over budget {}: {}",
                r.mismatch_ratio,
                s.budget,
                if paths.is_empty() {
                    "no differing path (v2 failed)".to_owned()
                } else {
                    paths.join(", ")
                }
            );
            let mut detail = format!(
                "requests {}, compared {}, matched {}, mismatched {}, candidate failed {}",
                s.requests, s.compared, s.matched, s.mismatched, r.candidate_failed
            );
            for sig in &r.signatures {
                let _ = write!(
                    detail,
                    "\n{:.1} % of comparisons: {}",
                    100.0 * sig.share,
                    sig.text()
                );
            }
            // Where the failure is read (a CI page), the rules that would silence what is noise.
            if let Some(n) = self.noise.iter().find(|n| n.route == s.route) {
                if !n.toml.is_empty() {
                    let _ = write!(detail, "\nnoise learned, to paste:\n{}", n.toml);
                }
            }
            let _ = write!(
                x,
                ">\n      <failure message=\"{}\" type=\"over_budget\">{}</failure>\n    </testcase>\n",
                escape(&message),
                escape(&detail)
            );
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }
}

/// XML text and attribute escaping; characters XML 1.0 cannot hold at all become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn xml_escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("<a href=\"x\">&'\u{1}</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\u{FFFD}&lt;/a&gt;"
        );
    }
}

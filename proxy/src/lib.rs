//! shadowdiff: serve v1, mirror to v2, compare, export drift.
//!
//! The request pipeline, one folder per stage, in the order a request meets it:
//!
//! ```text
//!  client
//!    │
//!    ▼
//!  listen/      accept (cap, first-byte deadline, TLS) ─ ─ ▶ a task per connection    [hand-off 1]
//!    │
//!    ▼
//!  relay/       plain HTTP/1.1 as bytes (httparse): the same fix-ups, copies (forward::Copies),
//!    │          metrics and answers as below, without hyper; anything else ─▶ hyper ─▶ forward/
//!    ▼
//!  forward/     handle: route/ picks the policy ─▶ cutover/ picks the backend (v1, or v2 for a
//!    │             │   canary's users) ─▶ inbound fix-ups
//!    │             ├─▶ record/tap   recorded? (one atomic load when off) ─ ─ ▶ a task: v1's copies
//!    │             │                and the verdict ─ ─ ▶ record/writer thread        [hand-off 4]
//!    │             ├─▶ mirror/plan  sampled? safe? breaker closed? slot free? ── no ─▶ skip(reason)
//!    │             │        │      (a slot: under mirror/limit's adaptive limit, then the ceiling)
//!    │             │        │ yes
//!    │             │        ▼
//!    │             │   mirror/job   ─ ─ ▶ a task per mirror, on the mirror thread      [hand-off 2]
//!    │             │        │            (request copy now; v1's head and body copy later)
//!    │             ▼        ▼
//!    │   forward/primary ─▶ v1      mirror/candidate ─▶ v2            (upstream/: pool, lanes)
//!    │   (or v2 when it serves;     (or v1 when v2 served: reverse shadow)
//!    │             │                     │
//!    ▼             ▼                     ▼
//!  client ◀── tee/ (v1's bytes pass; a capped copy is kept) ─▶ compare/pool ─ ─ ▶ threads [hand-off 3]
//!                                                                 │
//!                                                                 ▼
//!                                            compare/record ─▶ observe/ (metrics, stats,
//!                                                 │             exemplars, access log)
//!                                                 └─▶ the verdict to a recording's Watcher
//!                                                                 │
//!                                                                 ▼
//!                                                 admin/ (API, report page, control)
//! ```
//!
//! Around the pipeline: `state/` holds what every request reads (the shared parts and the
//! config snapshot swapped whole on reload), `net/` the HTTP plumbing every leg uses, and
//! `app/` the binary's edges (command line, process, demo), `threads` the background threads'
//! priority. `record/` holds recording (a
//! hand-off beside the mirror's in `forward/`, a writer thread) and replay, which drives
//! recorded requests through `mirror::candidate` and `compare/` as the proxy does. `cutover/`
//! holds who serves (one atomic load per request) and what moves it — gates judged every
//! interval, automatic rollback, operator commands, the state file — driven by the controller
//! task in `app/controller.rs`.

pub mod admin;
pub mod app;
pub mod compare;
pub mod cutover;
pub mod forward;
pub mod listen;
pub mod mirror;
pub mod net;
pub mod observe;
pub mod record;
pub mod relay;
pub mod route;
pub mod state;
pub mod tee;
pub mod threads;
pub mod upstream;

/// The git commit this binary was built from (`unknown` outside a checkout).
pub const COMMIT: &str = env!("SHADOWDIFF_COMMIT");

pub use app::run::{start, Running};
pub use state::{ReloadSource, Shared};

//! Compare: a pool of threads off the I/O runtime runs the engine on each captured pair and
//! records the verdict.

pub mod job;
pub mod pool;
pub mod record;

pub use job::{Job, Observed, Side, Watcher};
pub use pool::ComparePool;

//! The background threads' scheduling priority: the mirror thread and the comparison threads
//! run niced (`limits.background_nice`), so that when they and the I/O thread that serves v1
//! want the same core, the kernel gives it to v1's.

/// Raise the calling thread's niceness by `nice` (on Linux `setpriority` acts on the calling
/// thread only). Lowering a priority needs no privilege; a failure loses only the preference,
/// so it is logged, not fatal.
pub fn lower_priority(nice: u32) {
    if nice == 0 {
        return;
    }
    let now = rustix::process::getpriority_process(None).unwrap_or(0);
    let nice = i32::try_from(nice).unwrap_or(19);
    if let Err(e) = rustix::process::setpriority_process(None, now.saturating_add(nice).min(19)) {
        tracing::warn!(error = %e, nice, "could not lower a background thread's priority");
    }
}

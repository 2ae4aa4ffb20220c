//! The open-file limit, checked against `limits.max_connections` at start.
//!
//! Many systems start processes with a soft limit of 1024 descriptors and a much higher hard
//! limit. A proxy that stays at the soft limit fails `accept` (and upstream connects) long
//! before `limits.max_connections`, so the soft limit is raised towards what the configured
//! connections may need (as far as the hard limit allows, as Go's runtime and most servers do),
//! and a limit still short of that is said once, at start, with the fix.

/// Descriptors one client connection may hold: itself, its lane to v1 and its lane to v2.
const PER_CONNECTION: u64 = 3;
/// Listeners, the pools' idle connections, the admin surface, files and threads.
const RESERVE: u64 = 256;

/// Descriptors `max_connections` open client connections may need.
pub fn needed(max_connections: usize) -> u64 {
    u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(PER_CONNECTION)
        .saturating_add(RESERVE)
}

/// Raise the soft open-file limit to what is needed (at most the hard limit); warn if short.
pub fn prepare(max_connections: usize) {
    let need = needed(max_connections);
    match rlimit::increase_nofile_limit(need) {
        Ok(limit) if limit < need => tracing::warn!(
            limit,
            need,
            max_connections,
            "the open-file limit is below what limits.max_connections may need; past it, \
             accepts and upstream connects fail: raise `ulimit -n` (the hard limit) or lower \
             limits.max_connections"
        ),
        Ok(limit) => tracing::debug!(limit, need, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not read or raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_descriptors_per_connection_plus_a_reserve() {
        assert_eq!(needed(10_000), 30_256);
        assert_eq!(needed(usize::MAX), u64::MAX);
    }
}

//! The open-file limit, sized from every connection cap at start.
//!
//! Many systems start processes with a soft limit of 1024 descriptors and a much higher hard
//! limit. A proxy that stays at the soft limit fails `accept` (and upstream connects) long
//! before its caps, so the soft limit is raised towards what the configured caps may need (as
//! far as the hard limit allows, as Go's runtime and most servers do), and a limit still short of
//! that is said once, at start and by `check-config`, with the fix.

use config::Config;

/// Listeners, files, threads and the descriptors in flight while a connection closes.
const RESERVE: u64 = 256;

/// Descriptors the caps may need: client connections, v1 and v2 connections (pooled and lanes
/// alike, each under its upstream's cap), admin connections, and a reserve.
pub fn needed(config: &Config) -> u64 {
    [
        config.limits.max_connections,
        config.primary.max_connections,
        config.candidate.upstream.max_connections,
        crate::admin::MAX_CONNECTIONS,
    ]
    .into_iter()
    .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
    .fold(RESERVE, u64::saturating_add)
}

/// What to tell an operator whose hard limit is short of `need`.
fn shortfall(limit: u64, need: u64) -> String {
    format!(
        "the open-file limit is below what the connection caps may need ({limit} < {need}: \
         limits.max_connections + primary.max_connections + candidate.max_connections + 64 admin \
         + {RESERVE}); past it, accepts and upstream connects fail: raise `ulimit -n` (the hard \
         limit) or lower the caps"
    )
}

/// For `check-config`: the shortfall against the hard limit, if any.
pub fn check(config: &Config) -> Option<String> {
    let need = needed(config);
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    (hard < need).then(|| shortfall(hard, need))
}

/// Raise the soft open-file limit to what is needed (at most the hard limit); warn if short.
pub fn prepare(config: &Config) {
    let need = needed(config);
    match rlimit::increase_nofile_limit(need) {
        Ok(limit) if limit < need => tracing::warn!(limit, need, "{}", shortfall(limit, need)),
        Ok(limit) => tracing::debug!(limit, need, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not read or raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cap_plus_the_admin_cap_and_a_reserve() {
        let text = "[primary]\nurl = \"http://127.0.0.1:1\"\nmax_connections = 100\n\
                    [candidate]\nurl = \"http://127.0.0.1:2\"\nmax_connections = 50\n\
                    [limits]\nmax_connections = 1000\n";
        let c = Config::from_toml_str(text, &config::Overrides::default()).expect("config");
        assert_eq!(needed(&c), 1000 + 100 + 50 + 64 + 256);
    }
}

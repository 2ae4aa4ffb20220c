//! What `check-config` accepts, the start builds; what it refuses, it refuses by the key's name.
//! Integer limits across their whole range — small, at the bound, past it, at the type's end —
//! either validate and build in-process (no panic, no huge allocation), or are refused naming
//! the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

/// (table, key, the bound `check-config` documents).
const KEYS: &[(&str, &str, u64)] = &[
    ("limits", "max_connections", 1_000_000),
    ("limits", "max_in_flight_mirrors", 100_000),
    ("limits", "h2_max_concurrent_streams", 10_000),
    ("limits", "compare_workers", 64),
    ("primary", "max_connections", 100_000),
    ("candidate", "max_connections", 100_000),
];

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=5,
        Just(10_000),
        Just(64),
        Just(65),
        Just(100_000),
        Just(100_001),
        Just(1_000_000),
        Just(1_000_001),
        Just(u64::from(u32::MAX)),
        Just(9_223_372_036_854_775_807),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn accepted_configs_build_and_refused_ones_name_their_key(
        which in 0..KEYS.len(),
        v in value(),
    ) {
        let (table, key, _bound) = KEYS[which];
        let (primary, candidate) = match table {
            "primary" => (format!("max_connections = {v}\n"), String::new()),
            "candidate" => (String::new(), format!("max_connections = {v}\n")),
            _ => (String::new(), String::new()),
        };
        let limits = if table == "limits" { format!("{key} = {v}\n") } else { String::new() };
        let text = format!(
            "listen = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\
             [primary]\nurl = \"http://127.0.0.1:1\"\n{primary}\
             [candidate]\nurl = \"http://127.0.0.1:2\"\n{candidate}\
             [limits]\n{limits}"
        );
        match config::Config::from_toml_str(&text, &config::Overrides::default()) {
            Ok(c) => {
                let built = shadowdiff::Shared::check(c);
                prop_assert!(built.is_ok(), "{table}.{key} = {v} validated but did not build: {built:?}");
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(key), "{table}.{key} = {v} refused without its name: {msg}");
            }
        }
    }
}

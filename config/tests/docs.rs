//! The user-facing reference stays true: README.md's key table, shadowdiff.example.toml and
//! tests/full.toml (every key set) must agree on which keys exist and on the defaults.

use std::collections::BTreeSet;

const README: &str = include_str!("../README.md");
const EXAMPLE: &str = include_str!("../shadowdiff.example.toml");
const FULL: &str = include_str!("full.toml");

/// (key, default cell) for each row of the README's "## Keys" table.
fn readme_keys() -> Vec<(String, String)> {
    let section = README
        .split("## Keys")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a ## Keys section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let key = cells[0]
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_owned();
            (key, cells[2].trim().to_owned())
        })
        .collect()
}

/// Key paths set in a TOML value; documented keys are leaves (their insides are values, such as
/// header names in `candidate.add_headers`), except `routes`, whose tables hold keys.
fn flatten(
    prefix: &str,
    value: &toml::Value,
    documented: &BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    if documented.contains(prefix) || !(prefix.is_empty() || value.is_table()) {
        out.insert(prefix.to_owned());
        if prefix != "routes" {
            return;
        }
    }
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, documented, out);
            }
        }
        toml::Value::Array(items) if prefix == "routes" => {
            for item in items {
                flatten(prefix, item, documented, out);
            }
        }
        _ => {}
    }
}

#[test]
fn readme_documents_exactly_the_keys_of_full_toml() {
    let documented: BTreeSet<String> = readme_keys().into_iter().map(|(k, _)| k).collect();
    let full: toml::Value = toml::from_str(FULL).expect("full.toml is TOML");
    let mut set = BTreeSet::new();
    flatten("", &full, &documented, &mut set);
    let undocumented: Vec<_> = set.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "keys in full.toml missing from README: {undocumented:?}"
    );
    // token_file and token_env exclude each other; tests/parse.rs reads token_file.
    set.insert("admin_auth.token_file".into());
    // candidate.host and shadow_host_suffix exclude each other; tests/parse.rs reads host.
    set.insert("candidate.host".into());
    let unset: Vec<_> = documented.difference(&set).collect();
    assert!(
        unset.is_empty(),
        "README keys that full.toml does not set: {unset:?}"
    );
}

#[test]
fn example_lists_every_readme_key_with_the_readme_default() {
    for (key, default) in readme_keys() {
        let leaf = key.rsplit('.').next().unwrap_or(&key);
        let listed = EXAMPLE.contains(&format!("{leaf} ="))
            || EXAMPLE.contains(&format!("[{key}]"))
            || EXAMPLE.contains(&format!("[[{key}]]"));
        assert!(listed, "example file does not mention `{key}`");

        // Only single literal defaults (`"2s"`, `256`, `[]`) can be matched against a line.
        let literal = default.strip_prefix('`').and_then(|d| d.strip_suffix('`'));
        if let Some(value) = literal.filter(|v| !v.contains('`') && *v != "{}") {
            let line = format!("{leaf} = {value}");
            // Commented-out lines count: `# allow_unsafe_methods = false     # why`.
            let found = EXAMPLE.lines().any(|l| {
                let code = l.trim_start_matches("# ").split("  #").next().unwrap_or(l);
                code.trim() == line
            });
            assert!(found, "example file lacks `{line}` ({key})");
        }
    }
}

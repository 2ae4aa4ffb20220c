//! Record and replay (issue 16).
//!
//! Recording is one more observer of a finished exchange, beside metrics and exemplars: a
//! sampled request's copies (the tee's, as for the mirror) and the mirror's verdict are handed
//! off the request path ([`tap`]), redacted ([`scrub`]) and written as JSON lines ([`format`])
//! to rotating zstd files by a thread of its own behind a bounded queue ([`writer`]); what
//! cannot be written is dropped and counted, never waited for.
//!
//! Replay reads those files ([`read`]) and sends each request to v2 through the mirror's own v2
//! leg (`mirror::candidate::CandidateLeg`), comparing under the same routes and rules as the
//! proxy, through the same comparison pool ([`replay`]). [`har`] converts to and from HAR 1.2.

pub mod exchange;
pub mod format;
pub mod har;
pub mod read;
pub mod replay;
pub mod scrub;
pub mod tap;
pub mod writer;

pub use tap::{start, Recording};
pub use writer::Recorder;

/// A config file as the proxy loads it, for a command that contacts at most the upstreams
/// given in `overrides`: a file written for replay or import alone may have no `[primary]` or
/// `[candidate]`, so a placeholder (never contacted) stands in for each missing one. A file
/// that names its own is loaded as written — an `https` upstream with `protocol = "h2"`
/// included, which an `http` placeholder laid over it would fail.
pub fn load_config(
    file: Option<&std::path::Path>,
    overrides: &config::Overrides,
) -> anyhow::Result<config::Config> {
    match config::Config::load(file, overrides) {
        Ok(config) => Ok(config),
        Err(_) => {
            let placeholder = || Some("http://127.0.0.1:9".to_owned());
            let filled = config::Overrides {
                primary: overrides.primary.clone().or_else(placeholder),
                candidate: overrides.candidate.clone().or_else(placeholder),
                ..overrides.clone()
            };
            Ok(config::Config::load(file, &filled)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::load_config;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "shadowdiff-load-config-{name}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_tool_loads_a_file_with_its_own_upstreams_as_written_and_fills_in_missing_ones() {
        let none = Default::default();
        // Only [report]: both upstreams are placeholders.
        let f = file("report", "[report]\nredact_headers = [\"x-key\"]\n");
        let c = load_config(Some(&f), &none).unwrap();
        assert_eq!(c.report.redact_headers, ["x-key"]);
        // The production file: its own v1 over h2, kept as written (an http placeholder laid
        // over it would be refused: h2 needs https).
        let f = file(
            "h2",
            "[primary]\nurl = \"https://v1.internal\"\nprotocol = \"h2\"\n[candidate]\nurl = \"http://v2.internal\"\n",
        );
        let c = load_config(Some(&f), &none).unwrap();
        assert_eq!(c.primary.url.to_string(), "https://v1.internal/");
        let given = config::Overrides {
            candidate: Some("http://127.0.0.1:8082".into()),
            ..Default::default()
        };
        let c = load_config(Some(&f), &given).unwrap();
        assert_eq!(
            c.candidate.upstream.url.to_string(),
            "http://127.0.0.1:8082/"
        );
        // A file that is wrong says so, placeholders or not.
        let f = file("bad", "mirror_percent = 250\n");
        let e = load_config(Some(&f), &none).unwrap_err();
        assert!(format!("{e:#}").contains("mirror_percent"), "{e:#}");
        for name in ["report", "h2", "bad"] {
            let _ = std::fs::remove_file(file(name, ""));
        }
    }
}

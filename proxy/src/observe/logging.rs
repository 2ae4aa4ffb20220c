//! Log set-up for the proxy, the demo and the sample services.

use config::LogFormat;

pub fn init_logging(format: LogFormat, level: &str) {
    // The h2 crate warns once per misbehaving connection (an h2 rapid-reset attack writes one
    // line per attacking connection): unless the filter says otherwise, only its errors show.
    let level = if level.contains("h2") {
        level.to_string()
    } else {
        format!("{level},h2=error")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,h2=error"));
    // Colour only on a terminal: escape codes in a log file or journald are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

//! Logging: `tracing` with constant messages and data in fields; readable in development,
//! JSON in production. Secrets (database passwords) are never logged: URLs are redacted by
//! the code that logs them.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests spawning several apps) are no-ops.
pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

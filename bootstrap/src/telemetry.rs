//! Logging: readable text in development, JSON lines in production.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber with the configured filter (`RUST_LOG`) and format.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_new(format!("{},sqlx=warn,sea_orm=warn", config.log_filter))
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

//! Logging: readable text in development, JSON lines in production.

use tracing_subscriber::EnvFilter;

use crate::config::Environment;

/// Installs the global subscriber. `RUST_LOG` overrides the default level of `info`.
pub fn init(environment: Environment) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match environment {
        Environment::Production => builder.json().flatten_event(true).init(),
        Environment::Development => builder.init(),
    }
}

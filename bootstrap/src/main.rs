//! The `somnium` command line.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use somnium::{config::Config, telemetry, Application, Environment, Overrides};

#[derive(Parser)]
#[command(
    name = "somnium",
    version,
    about = "Identity, session and audit service of the Somnium ECMO platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document to standard output.
    Openapi,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        print!("{}", somnium_adapters::http::openapi_json());
        return ExitCode::SUCCESS;
    }

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("somnium: invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.environment);

    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => somnium::open_database(&config).await.map(|_| ()),
        Command::Openapi => unreachable!("handled before the configuration is read"),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "somnium failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.environment == Environment::Development {
        tracing::warn!(
            data_dir = %config.data_dir.display(),
            "running in DEVELOPMENT mode: SQLite and a generated signing key under the data directory; \
             set SOMNIUM_ENV=production for real deployments"
        );
    }
    let application = Application::build(&config, Overrides::default())
        .await
        .context("could not start")?;
    application.run_until(shutdown_signal()).await
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

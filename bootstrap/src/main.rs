//! The `somnium` command line.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use somnium::{config::Config, telemetry, Application, Environment, Overrides};

mod admin;

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
    /// Create an administrator. The password is read from standard input (or a prompt on a
    /// terminal), never from the command line.
    CreateAdmin {
        /// The administrator's email address.
        #[arg(long)]
        email: String,
        /// The administrator's full name.
        #[arg(long, default_value = "Administrator")]
        full_name: String,
        /// Create the account even when an active administrator exists.
        #[arg(long)]
        force: bool,
    },
    /// Validate the configuration, the signing key and the TLS files without starting.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Exit 0 when the local instance is ready (for container health checks), 1 otherwise.
    Healthcheck,
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Rotate the keys that seal personal data and sign tokens.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Show the data keys with the rows each seals, and the signing keys with their schedule.
    List,
    /// Put a new data key in front of the key ring; new values are sealed with it.
    RotateData {
        /// Add the key at the end of the ring, sealing nothing until `promote-data`.
        #[arg(long)]
        staged: bool,
        /// Print the new ring to standard output instead of writing the key ring file.
        #[arg(long)]
        print: bool,
    },
    /// Make a staged data key current.
    PromoteData {
        /// The id of the staged key.
        key_id: String,
        /// Print the new ring to standard output instead of writing the key ring file.
        #[arg(long)]
        print: bool,
    },
    /// Reseal every row under the current data key, in batches, while the service runs.
    Reencrypt {
        /// Rows resealed per step.
        #[arg(long, default_value_t = somnium::keys::DEFAULT_BATCH)]
        batch_size: u64,
    },
    /// Remove a data key from the ring once no row is sealed under it.
    RetireData {
        /// The id of the key to retire.
        key_id: String,
        /// Print the new ring to standard output instead of writing the key ring file.
        #[arg(long)]
        print: bool,
    },
    /// Add a new ES256 signing key; it is published at once and signs new tokens after a delay.
    RotateSigning {
        /// Seconds until the new key signs tokens; default twice SOMNIUM_KEY_REFRESH_SECONDS.
        #[arg(long)]
        activate_in: Option<u32>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Read and validate the configuration, then exit 0 or 2 with a message naming the variable.
    Check,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and report the first broken link; exits 1 when it is broken.
    Verify,
    /// Delete events older than a date outside the retention period, leaving a checkpoint.
    Prune {
        /// The cut, as an RFC 3339 time (2019-01-01T00:00:00Z) or a date (2019-01-01).
        #[arg(long)]
        before: String,
    },
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
    let telemetry = match telemetry::init(&config) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("somnium: {error:#}");
            return ExitCode::from(2);
        }
    };

    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => somnium::open_database(&config).await.map(|_| ()),
        Command::Openapi => unreachable!("handled before the configuration is read"),
        Command::Config {
            command: ConfigCommand::Check,
        } => match admin::check_config(&config) {
            Ok(()) => {
                println!("configuration is valid");
                Ok(())
            }
            Err(error) => {
                eprintln!("somnium: invalid configuration: {error:#}");
                return ExitCode::from(2);
            }
        },
        Command::Healthcheck => {
            return if admin::healthcheck(&config).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::CreateAdmin {
            email,
            full_name,
            force,
        } => admin::create_admin(&config, &email, &full_name, force).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => admin::verify_audit(&config).await,
        Command::Audit {
            command: AuditCommand::Prune { before },
        } => admin::prune_audit(&config, &before).await,
        Command::Keys { command } => run_keys(&config, command).await,
    };
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "somnium failed");
            ExitCode::FAILURE
        }
    }
}

async fn run_keys(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    use somnium::keys;
    match command {
        KeysCommand::List => print!("{}", keys::list(config).await?),
        KeysCommand::RotateData { staged, print } => {
            keys::rotate_data(config, staged, print).await?;
        }
        KeysCommand::PromoteData { key_id, print } => keys::promote_data(config, &key_id, print).await?,
        KeysCommand::Reencrypt { batch_size } => {
            keys::reencrypt(config, batch_size).await?;
        }
        KeysCommand::RetireData { key_id, print } => keys::retire_data(config, &key_id, print).await?,
        KeysCommand::RotateSigning { activate_in } => {
            let kid = keys::rotate_signing(
                config,
                activate_in.map(|seconds| time::Duration::seconds(seconds.into())),
            )
            .await?;
            println!("{kid}");
        }
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    if config.environment == Environment::Development {
        let database = if config.is_sqlite() {
            "SQLite under the data directory"
        } else {
            "DATABASE_URL"
        };
        let key = match &config.data_keys {
            somnium::SecretSource::Generated(_) => "data keys generated under the data directory",
            _ => "the configured data keys",
        };
        tracing::warn!(
            data_dir = %config.data_dir.display(),
            "running in DEVELOPMENT mode with {database} and {key}; set SOMNIUM_ENV=production for real deployments"
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

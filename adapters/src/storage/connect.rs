use std::time::Duration;

use std::str::FromStr;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{ConnectOptions as _, Executor as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr,
    SqlxPostgresConnector, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use super::migration::Migrator;

/// Database location and pool settings.
#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    /// A `postgres://` or `sqlite://` URL.
    pub url: String,
    /// PostgreSQL schema to use instead of `public`; tests give each case its own.
    pub schema: Option<String>,
    pub max_connections: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")]
    UnsupportedUrl,
    #[error("could not connect to the database")]
    Connect(#[source] sea_orm::DbErr),
    #[error("database migration failed")]
    Migrate(#[source] sea_orm::DbErr),
}

/// Opens a connection pool.
///
/// SQLite runs in WAL mode with a busy timeout, so concurrent writers wait for each other
/// instead of failing with "database is locked".
///
/// # Errors
/// [`StorageError`] when the URL is not supported or the database is unreachable.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, StorageError> {
    let url = settings.url.as_str();
    let is_sqlite = url.starts_with("sqlite:");
    if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(StorageError::UnsupportedUrl);
    }

    if !is_sqlite {
        let connection = connect_postgres(settings).await?;
        tracing::info!(backend = ?connection.get_database_backend(), "connected to the database");
        return Ok(connection);
    }

    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // A file in this process cannot drop a connection the way a server can, so a ping
        // before every acquire would only add a round trip to the connection's worker thread.
        .test_before_acquire(false);
    options.map_sqlx_sqlite_opts(|sqlite: SqliteConnectOptions| {
        sqlite
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
    });
    let connection = Database::connect(options).await.map_err(StorageError::Connect)?;
    tracing::info!(backend = ?connection.get_database_backend(), "connected to the database");
    Ok(connection)
}

/// Begins a transaction that reads before it writes.
///
/// SQLite's plain `BEGIN` takes the write lock only at the first write. When another connection
/// commits between the transaction's first read and that write, SQLite fails the write at once
/// with "database is locked" (`SQLITE_BUSY_SNAPSHOT`) and the busy timeout does not help. A first
/// statement that writes no row takes the write lock before anything is read, as `BEGIN
/// IMMEDIATE` would, which sea-orm 1.1 cannot send. It names the one-row `audit_chain_head`
/// table, which every migrated database has. PostgreSQL gets a plain `BEGIN`.
///
/// # Errors
/// The database error when the transaction cannot begin or the lock is not granted within the
/// busy timeout.
pub(crate) async fn begin_write(connection: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let transaction = connection.begin().await?;
    if transaction.get_database_backend() == DbBackend::Sqlite {
        transaction
            .execute_unprepared("UPDATE audit_chain_head SET id = id WHERE 0")
            .await?;
    }
    Ok(transaction)
}

/// Applies every pending migration.
///
/// # Errors
/// [`StorageError::Migrate`] when a migration fails.
pub async fn migrate(connection: &DatabaseConnection) -> Result<(), StorageError> {
    Migrator::up(connection, None).await.map_err(StorageError::Migrate)?;
    tracing::info!("database migrations applied");
    Ok(())
}

/// How long a PostgreSQL connection may sit unused in the pool before it is pinged on acquire.
/// sqlx already drops a connection the server closed (a restart, `pg_terminate_backend`). The
/// ping finds one that vanished without a word, such as one a firewall timed out. Under load every
/// connection is reused within milliseconds, so the ping costs nothing there.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens the PostgreSQL pool. sea-orm can only ping before every acquire or never, and every
/// ping is a round trip to the server: three more for a refresh rotation, which acquires a
/// connection three times. So the pool is built here with a ping only for connections idle
/// longer than [`PING_AFTER_IDLE`].
async fn connect_postgres(settings: &DatabaseSettings) -> Result<DatabaseConnection, StorageError> {
    let failed = |error| StorageError::Connect(DbErr::Conn(RuntimeErr::SqlxError(error)));
    let options = PgConnectOptions::from_str(&settings.url)
        .map_err(failed)?
        .disable_statement_logging();
    let mut pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|connection, metadata| {
            Box::pin(async move {
                if metadata.idle_for < PING_AFTER_IDLE {
                    return Ok(true);
                }
                // Returning false closes the connection, and the pool opens another.
                match sea_orm::sqlx::Connection::ping(connection).await {
                    Ok(()) => Ok(true),
                    Err(error) => {
                        tracing::warn!(%error, idle_ms = metadata.idle_for.as_millis(), "an idle database connection failed its ping; replacing it");
                        Ok(false)
                    }
                }
            })
        });
    if let Some(schema) = &settings.schema {
        let set_search_path = format!("SET search_path = \"{}\"", schema.replace('"', "\"\""));
        pool = pool.after_connect(move |connection, _| {
            let statement = set_search_path.clone();
            Box::pin(async move { connection.execute(statement.as_str()).await.map(|_| ()) })
        });
    }
    let pool = pool.connect_with(options).await.map_err(failed)?;
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}

/// Checks that the database responds to a trivial query.
pub async fn ping(connection: &DatabaseConnection) -> bool {
    let statement = sea_orm::Statement::from_string(connection.get_database_backend(), "SELECT 1");
    connection.execute(statement).await.is_ok()
}

//! Storage in PostgreSQL: connection, migrations, the batch writer and the named read queries.
//!
//! Everything coinpulse keeps lives in PostgreSQL; the schema is the plain SQL in `migrations/`,
//! embedded at compile time and applied at start (the migrator takes an advisory lock, so several
//! processes starting at once is safe). When no URL is configured, [`cluster`] runs a private server.
//!
//! - [`writer`]: posts with their mentions, scores, rollup increments and the source cursor, in one
//!   transaction, idempotently.
//! - [`dead_letter`]: posts the database refuses, isolated by bisection and kept in `rejected_posts`.
//! - [`queries`]: every read a report or chart makes, by name.
//! - [`overview`]: the JSON API's list of tracked assets.
//! - [`retention`]: deleting posts past their retention period, in small batches.
//! - [`rescore`]: scoring stored posts again with a new sentiment model, rollups corrected.
//! - [`reclassify`]: classing stored posts again, rollups corrected; the posts that rebuild the
//!   classifier's window after a restart.
//! - [`retag`]: tagging stored posts again with the current registry, rollups corrected.
//! - [`assets`]: the dated market-cap ranks `coinpulse assets update` writes, read back for the tagger.

pub mod assets;
pub mod cli;
pub mod cluster;
pub mod dead_letter;
pub mod deletions;
pub mod leases;
pub mod overview;
pub mod queries;
pub mod reclassify;
pub mod rescore;
pub mod retag;
pub mod retention;
pub mod writer;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::DatabaseConfig;
use crate::model::Asset;

pub use writer::WriteOutcome;

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("private cluster: {0}")]
    Cluster(#[from] cluster::ClusterError),
    #[error("invalid database url: {0}")]
    Url(String),
}

impl StoreError {
    /// Whether the server rolled the transaction back to resolve a deadlock or serialization
    /// conflict (SQLSTATE 40P01 / 40001): retrying at once is correct.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Database(e) if e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == "40P01" || c == "40001"))
    }

    /// Whether retrying later may succeed (the server is restarting, the network blipped), as opposed
    /// to an error in what we asked for.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                ) || e
                    .as_database_error()
                    .and_then(|d| d.code())
                    // 57P01..03: admin shutdown, crash shutdown, cannot connect now; 08xxx: connection.
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08"))
            }
            StoreError::Cluster(_) => true,
            StoreError::Migrate(_) | StoreError::Url(_) => false,
        }
    }
}

/// Where the database is: a configured URL, or the private cluster.
pub async fn connect_options(config: &DatabaseConfig) -> Result<PgConnectOptions, StoreError> {
    match config.url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => url
            .parse::<PgConnectOptions>()
            // The parse error may quote the URL, which may hold a password: say only what failed.
            .map_err(|_| StoreError::Url("cannot parse database.url / DATABASE_URL".into())),
        None => {
            let cluster = cluster::Cluster::new(&config.data_dir)?;
            cluster.start().await?;
            Ok(cluster.connect_options())
        }
    }
}

/// A handle on the database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    /// Whether a commit waits for its WAL to reach disk (see [`Store::for_bulk_load`]).
    durable_commits: bool,
    /// How long posts are kept (see [`retention`]); `None` keeps them forever.
    retention: Option<Duration>,
}

impl Store {
    /// Connects (starting the private cluster when no URL is set) and applies pending migrations.
    pub async fn connect(config: &DatabaseConfig) -> Result<Store, StoreError> {
        let options = connect_options(config).await?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let store = Store::from_pool(pool).with_retention(config.retention);
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (tests; callers that built their own). Does not migrate.
    pub fn from_pool(pool: PgPool) -> Store {
        Store {
            pool,
            durable_commits: true,
            retention: None,
        }
    }

    /// The same database with posts kept for `retention` (`None`: forever).
    pub fn with_retention(self, retention: Option<Duration>) -> Store {
        Store { retention, ..self }
    }

    /// The same database, for re-runnable bulk loads: commits return without waiting for their WAL
    /// to be flushed (`synchronous_commit = off` for these transactions only). A crash of the server
    /// can then lose the last few hundred milliseconds of commits, whole transactions at a time,
    /// never part of one; running the same import again stores exactly what is missing, because
    /// writes are idempotent. The daemon does not use this: what a source served may not be served
    /// again.
    pub fn for_bulk_load(&self) -> Store {
        Store {
            durable_commits: false,
            ..self.clone()
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Inserts or updates the asset registry (so reports can show symbols and names).
    pub async fn upsert_assets(&self, assets: &[Asset]) -> Result<u64, StoreError> {
        let mut ids = Vec::with_capacity(assets.len());
        let mut symbols = Vec::with_capacity(assets.len());
        let mut names = Vec::with_capacity(assets.len());
        let mut aliases = Vec::with_capacity(assets.len());
        let mut ranks = Vec::with_capacity(assets.len());
        let mut seen = std::collections::HashSet::new();
        // One row per id: a list naming an id twice keeps its first entry.
        for a in assets.iter().filter(|a| seen.insert(a.id.as_str())) {
            ids.push(a.id.as_str());
            symbols.push(a.symbol.to_uppercase());
            names.push(a.name.as_str());
            // Postgres has no array-of-arrays of varying length; aliases travel as one joined string.
            aliases.push(a.aliases.join("\u{1f}"));
            ranks.push(a.rank.map(|r| r as i32));
        }
        let result = sqlx::query(
            "INSERT INTO assets (id, symbol, name, aliases, rank)
             SELECT id, symbol, name,
                    CASE WHEN al = '' THEN '{}'::text[] ELSE string_to_array(al, chr(31)) END, rank
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[])
                  AS t(id, symbol, name, al, rank)
             ON CONFLICT (id) DO UPDATE
             SET symbol = EXCLUDED.symbol, name = EXCLUDED.name,
                 aliases = EXCLUDED.aliases, rank = EXCLUDED.rank
             WHERE (assets.symbol, assets.name, assets.aliases, assets.rank)
                   IS DISTINCT FROM (EXCLUDED.symbol, EXCLUDED.name, EXCLUDED.aliases, EXCLUDED.rank)",
        )
        .bind(&ids)
        .bind(&symbols)
        .bind(&names)
        .bind(&aliases)
        .bind(&ranks)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// The committed position of `source`, if it has one.
    pub async fn cursor(&self, source: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT position FROM cursors WHERE source = $1")
                .bind(source)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}

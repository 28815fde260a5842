//! PostgreSQL backend: the production database, shared by several coordinator replicas.

use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor, PgPool, Postgres, SqlSafeStr};

use super::sql::{call_columns, impl_backend, key_columns, worker_columns};
use crate::error::CoordinatorError;

/// Connections in the PostgreSQL pool.
pub const PG_MAX_CONNECTIONS: u32 = 16;
/// How long to wait for a free pooled connection before a request fails with 500.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL implementation of [`crate::db::Backend`].
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
    /// Connects, creates `schema` if given (and uses it through `search_path`), and applies the
    /// migrations in `migrations/postgres`.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, CoordinatorError> {
        let mut options: PgConnectOptions = url.parse()?;
        if let Some(schema) = schema {
            if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(CoordinatorError::Config(format!("schema name {schema:?} must be [A-Za-z0-9_]+")));
            }
            let admin = PgPoolOptions::new().max_connections(1).connect_with(options.clone()).await?;
            // The name was validated above to be alphanumeric / underscore only.
            admin.execute(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))).await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(PG_MAX_CONNECTIONS)
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// A pooled connection for reading.
    async fn read(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, crate::error::StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A pooled connection for writing (PostgreSQL handles concurrent writers itself).
    async fn write(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, crate::error::StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Closes the pool (used by tests that restart the coordinator).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "init".into(),
        MigrationType::Simple,
        include_str!("../../migrations/postgres/0001_init.sql").into_sql_str(),
        false,
    )])
}

impl_backend!(PostgresBackend, Postgres, begin = "BEGIN", lock = "FOR UPDATE SKIP LOCKED");

//! The schema migrations of the SQL backends, embedded in the binary at compile time.

use sqlx::migrate::Migrator;

/// Table in which sqlx records the applied storage migrations. Not sqlx's default
/// `_sqlx_migrations`, so the storage tables can live in a database whose other tables are
/// migrated by another component with its own migration history.
pub const MIGRATIONS_TABLE: &str = "outlayer_storage_migrations";

/// Migrations of [`crate::SqliteStorage`] (`migrations/sqlite`).
pub(crate) fn sqlite() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/sqlite");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Migrations of [`crate::PostgresStorage`] (`migrations/postgres`).
pub(crate) fn postgres() -> Migrator {
    let mut migrator = sqlx::migrate!("migrations/postgres");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

//! Fixtures shared by the integration tests: one store per backend, each test in namespaces of
//! its own so that tests, parallel runs and reruns against the shared PostgreSQL never collide.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use outlayer_storage::{EncryptedStorage, MemoryStorage, PostgresStorage, Scope, SqliteStorage, StorageBackend};
use rand::Rng;
use tempfile::TempDir;

/// Database the PostgreSQL tests use unless `OUTLAYER_TEST_DATABASE_URL` says otherwise.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Encryption key of the encrypted fixtures.
pub const TEST_KEY: [u8; 32] = [0x42; 32];

/// A store under test plus what it needs to stay alive and to clean up after itself.
pub struct Fixture {
    /// The backend under test.
    pub store: Arc<dyn StorageBackend>,
    /// Unique to this fixture; every namespace the test uses starts with it.
    pub ns: String,
    pg: Option<PostgresStorage>,
    _dir: Option<TempDir>,
}

impl Fixture {
    fn new(store: Arc<dyn StorageBackend>, pg: Option<PostgresStorage>, dir: Option<TempDir>) -> Self {
        Self { store, ns: unique_namespace(), pg, _dir: dir }
    }

    /// A caller scope in this fixture's namespace `sub`.
    pub fn scope(&self, sub: &str, owner: &str) -> Scope {
        Scope::caller(format!("{}/{sub}", self.ns), owner)
    }
}

impl Drop for Fixture {
    /// Removes what the test wrote to the shared PostgreSQL database (never dropping tables),
    /// also when the test failed. Needs the multi-threaded runtime the tests run on.
    fn drop(&mut self) {
        if let Some(pg) = self.pg.take() {
            let ns = self.ns.clone();
            tokio::task::block_in_place(move || {
                tokio::runtime::Handle::current().block_on(async move {
                    for (table, sql) in [
                        ("storage_entries", "DELETE FROM storage_entries WHERE starts_with(namespace, $1)"),
                        ("storage_usage", "DELETE FROM storage_usage WHERE starts_with(namespace, $1)"),
                        ("storage_commits", "DELETE FROM storage_commits WHERE starts_with(id, $1)"),
                    ] {
                        let cleanup = sqlx::query(sql).bind(&ns).execute(pg.pool()).await;
                        if let Err(e) = cleanup {
                            eprintln!("could not remove the {table} rows of test namespace {ns}: {e}");
                        }
                    }
                })
            });
        }
    }
}

/// `test:<random>`: distinct for every fixture of every run.
pub fn unique_namespace() -> String {
    format!("test:{:016x}", rand::thread_rng().r#gen::<u64>())
}

/// A fresh in-memory store.
pub async fn memory() -> Option<Fixture> {
    Some(Fixture::new(Arc::new(MemoryStorage::new()), None, None))
}

/// A fresh SQLite file in a temporary directory.
pub async fn sqlite() -> Option<Fixture> {
    let (store, dir) = sqlite_store().await;
    Some(Fixture::new(Arc::new(store), None, Some(dir)))
}

/// The shared PostgreSQL test database; `None` when `OUTLAYER_SKIP_PG=1`.
pub async fn postgres() -> Option<Fixture> {
    let pg = pg_store().await?;
    Some(Fixture::new(Arc::new(pg.clone()), Some(pg), None))
}

/// Encryption over a fresh in-memory store.
pub async fn encrypted_memory() -> Option<Fixture> {
    Some(Fixture::new(Arc::new(EncryptedStorage::new(MemoryStorage::new(), TEST_KEY)), None, None))
}

/// Encryption over a fresh SQLite file, chosen at run time as `Arc<dyn StorageBackend>` the
/// way a binary picks its backend.
pub async fn encrypted_sqlite() -> Option<Fixture> {
    let (store, dir) = sqlite_store().await;
    let inner: Arc<dyn StorageBackend> = Arc::new(store);
    Some(Fixture::new(Arc::new(EncryptedStorage::new(inner, TEST_KEY)), None, Some(dir)))
}

/// Encryption over the shared PostgreSQL test database.
pub async fn encrypted_postgres() -> Option<Fixture> {
    let pg = pg_store().await?;
    Some(Fixture::new(Arc::new(EncryptedStorage::new(pg.clone(), TEST_KEY)), Some(pg), None))
}

/// A SQLite store in a new temporary directory (kept alive by the returned guard).
pub async fn sqlite_store() -> (SqliteStorage, TempDir) {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let store = SqliteStorage::open(&dir.path().join("storage.db")).await.expect("opening SQLite");
    (store, dir)
}

/// The test database URL.
pub fn pg_url() -> String {
    std::env::var("OUTLAYER_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

/// Connects to the test database. Fails the test when the server is unreachable, unless
/// `OUTLAYER_SKIP_PG=1` asks to skip the PostgreSQL tests.
pub async fn pg_store() -> Option<PostgresStorage> {
    if std::env::var("OUTLAYER_SKIP_PG").is_ok_and(|v| v == "1") {
        eprintln!("OUTLAYER_SKIP_PG=1: skipping a PostgreSQL test");
        return None;
    }
    let url = pg_url();
    match PostgresStorage::connect(&url).await {
        Ok(store) => Some(store),
        Err(e) => panic!(
            "PostgreSQL test database {url} is unreachable: {e}\n\
             Start the server (e.g. `pg_ctlcluster 15 main start`), point OUTLAYER_TEST_DATABASE_URL \
             at another one, or set OUTLAYER_SKIP_PG=1 to skip the PostgreSQL tests."
        ),
    }
}

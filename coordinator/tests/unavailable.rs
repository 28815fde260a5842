//! Which database errors a caller sees as 503 `database_unavailable` (retry later) rather than
//! 500: the real PostgreSQL server's own error for a write it cannot take right now.

use outlayer_coordinator::ApiError;
use outlayer_coordinator::error::StoreError;
use sqlx::Connection as _;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A read-only server (a standby, or a primary during a failover) refuses writes with 25006:
/// the same request succeeds once a writable primary is back, so it is 503, not 500.
#[tokio::test]
async fn a_read_only_postgresql_is_unavailable_not_an_internal_error() -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(PG_URL).await?;
    sqlx::query("BEGIN READ ONLY").execute(&mut conn).await?;
    let err =
        sqlx::query("CREATE TABLE never_created_here (i int)").execute(&mut conn).await.expect_err("a write in a read-only transaction");
    let code = err.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("25006"));
    let store = StoreError::Database(err);
    assert!(store.is_unavailable());
    let api = ApiError::from(store);
    assert_eq!((api.status.as_u16(), api.code), (503, "database_unavailable"));
    assert_eq!(api.retry_after_secs, Some(1));

    // A malformed statement stays an internal error: retrying it cannot help.
    sqlx::query("ROLLBACK").execute(&mut conn).await?;
    let err = sqlx::query("SELEC 1").execute(&mut conn).await.expect_err("a syntax error");
    let api = ApiError::from(StoreError::Database(err));
    assert_eq!((api.status.as_u16(), api.code), (500, "internal"));
    Ok(())
}

//! Sealed project secrets ([`SecretsDb`]), shared by both backends like `sql.rs`: instantiated
//! inside each backend's module by [`impl_secrets!`]. The coordinator stores and relays sealed
//! blobs; it holds no key that opens them.

use async_trait::async_trait;

use crate::error::StoreError;

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsRow {
    /// The project's id.
    pub project_id: String,
    /// The profile.
    pub profile: String,
    /// The sealed blob.
    pub sealed: Vec<u8>,
    /// The access condition, as JSON text.
    pub access: String,
    /// sha256 of `sealed`, hex.
    pub sealed_sha256: String,
    /// Last update, unix ms.
    pub updated_ms: i64,
}

/// The project secrets table.
#[async_trait]
pub trait SecretsDb: Send + Sync {
    /// Inserts or replaces the record of `(project_id, profile)`.
    async fn put_secrets(&self, row: &SecretsRow) -> Result<(), StoreError>;
    /// The record of `(project_id, profile)`.
    async fn secrets(&self, project_id: &str, profile: &str) -> Result<Option<SecretsRow>, StoreError>;
    /// Deletes it; `false` if there was none.
    async fn delete_secrets(&self, project_id: &str, profile: &str) -> Result<bool, StoreError>;
    /// The profiles of a project, sorted.
    async fn secret_profiles(&self, project_id: &str) -> Result<Vec<String>, StoreError>;
}

/// Implements [`SecretsDb`] for `$backend` (inside its module).
macro_rules! impl_secrets {
    ($backend:ident) => {
        #[async_trait::async_trait]
        impl $crate::db::secrets::SecretsDb for $backend {
            async fn put_secrets(&self, row: &$crate::db::secrets::SecretsRow) -> Result<(), $crate::error::StoreError> {
                sqlx::query(
                    "INSERT INTO project_secrets (project_id, profile, sealed, access, sealed_sha256, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, profile) DO UPDATE SET \
                     sealed = excluded.sealed, access = excluded.access, sealed_sha256 = excluded.sealed_sha256, \
                     updated_ms = excluded.updated_ms",
                )
                .bind(&row.project_id)
                .bind(&row.profile)
                .bind(&row.sealed)
                .bind(&row.access)
                .bind(&row.sealed_sha256)
                .bind(row.updated_ms)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(())
            }

            async fn secrets(
                &self,
                project_id: &str,
                profile: &str,
            ) -> Result<Option<$crate::db::secrets::SecretsRow>, $crate::error::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT project_id, profile, sealed, access, sealed_sha256, updated_ms FROM project_secrets \
                     WHERE project_id = $1 AND profile = $2",
                )
                .bind(project_id)
                .bind(profile)
                .fetch_optional(&mut *self.read().await?)
                .await?;
                row.map(|r| {
                    Ok($crate::db::secrets::SecretsRow {
                        project_id: r.try_get("project_id")?,
                        profile: r.try_get("profile")?,
                        sealed: r.try_get("sealed")?,
                        access: r.try_get("access")?,
                        sealed_sha256: r.try_get("sealed_sha256")?,
                        updated_ms: r.try_get("updated_ms")?,
                    })
                })
                .transpose()
            }

            async fn delete_secrets(&self, project_id: &str, profile: &str) -> Result<bool, $crate::error::StoreError> {
                let done = sqlx::query("DELETE FROM project_secrets WHERE project_id = $1 AND profile = $2")
                    .bind(project_id)
                    .bind(profile)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn secret_profiles(&self, project_id: &str) -> Result<Vec<String>, $crate::error::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query("SELECT profile FROM project_secrets WHERE project_id = $1 ORDER BY profile")
                    .bind(project_id)
                    .fetch_all(&mut *self.read().await?)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get("profile")?)).collect()
            }
        }
    };
}
pub(crate) use impl_secrets;

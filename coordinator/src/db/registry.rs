//! The project registry's rows ([`RegistryDb`]): where a project comes from (`origin`, migration
//! 0010) and the upsert of a project synced from the OutLayer contract. Shared by both backends
//! like `sql.rs`: instantiated inside each backend's module by [`impl_registry!`].

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::Capability;

/// Where a project comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectOrigin {
    /// Created over HTTPS (`POST /projects`): off-chain only.
    Dev,
    /// Synced from the OutLayer contract, which is its record.
    Chain,
}

impl ProjectOrigin {
    /// `dev` or `chain`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Chain => "chain",
        }
    }

    /// The stored text; anything but `chain` is `Dev`.
    pub fn parse(text: &str) -> Self {
        if text == "chain" { Self::Chain } else { Self::Dev }
    }
}

/// One version of a project as the contract lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVersion {
    /// Lowercase hex sha256 of the component.
    pub wasm_sha256: String,
    /// Where it was fetched from.
    pub source_url: String,
    /// When the contract added it (unix ms).
    pub added_ms: i64,
}

/// A project as the contract lists it, in the coordinator's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProject {
    /// Owner account.
    pub owner: String,
    /// Project name.
    pub name: String,
    /// The contract's active version (sha256), if any.
    pub active_version: Option<String>,
    /// Versions, oldest first. Only those whose wasm is stored are recorded.
    pub versions: Vec<ChainVersion>,
    /// The capabilities the contract grants the project's executions.
    pub grants: Vec<Capability>,
    /// The contract's http allowlist for the project (entries the host accepts).
    pub http_allowlist: Vec<String>,
}

/// The registry's reads and writes.
#[async_trait]
pub trait RegistryDb: Send + Sync {
    /// Where the project `project_id` (its row id) comes from (`Dev` if unknown).
    async fn project_origin(&self, project_id: &str) -> Result<ProjectOrigin, StoreError>;
    /// `(name, origin)` of every project of `owner`.
    async fn project_origins(&self, owner: &str) -> Result<Vec<(String, ProjectOrigin)>, StoreError>;
    /// Whether wasm with this sha256 is stored.
    async fn has_wasm(&self, sha256: &str) -> Result<bool, StoreError>;
    /// Stores wasm bytes under their sha256 (idempotent), as no project's version yet.
    async fn store_wasm(&self, sha256: &str, bytes: &[u8], now_ms: i64) -> Result<(), StoreError>;
    /// In one transaction: the owner (created without a usable token if missing: signing in
    /// gives it one), the project (created with `new_id`, or updated) with `origin = chain` and
    /// the contract's grants and allowlist, each version whose wasm is stored (with its source
    /// URL), and the active version (the contract's when stored; none when the contract has
    /// none; unchanged while its wasm is missing). Returns the project's row id.
    async fn upsert_chain_project(&self, project: &ChainProject, new_id: &str, now_ms: i64) -> Result<String, StoreError>;
}

/// Implements [`RegistryDb`] for `$backend` (inside its module); `begin` starts a write
/// transaction.
macro_rules! impl_registry {
    ($backend:ident, begin = $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::db::registry::RegistryDb for $backend {
            async fn project_origin(&self, project_id: &str) -> Result<$crate::db::registry::ProjectOrigin, $crate::error::StoreError> {
                let origin: Option<String> = sqlx::query_scalar("SELECT origin FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                Ok($crate::db::registry::ProjectOrigin::parse(origin.as_deref().unwrap_or("dev")))
            }

            async fn project_origins(
                &self,
                owner: &str,
            ) -> Result<Vec<(String, $crate::db::registry::ProjectOrigin)>, $crate::error::StoreError> {
                let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, origin FROM projects WHERE owner = $1 ORDER BY name")
                    .bind(owner)
                    .fetch_all(&mut *self.read().await?)
                    .await?;
                Ok(rows.into_iter().map(|(name, origin)| (name, $crate::db::registry::ProjectOrigin::parse(&origin))).collect())
            }

            async fn has_wasm(&self, sha256: &str) -> Result<bool, $crate::error::StoreError> {
                let found: Option<i64> = sqlx::query_scalar("SELECT size FROM wasm_blobs WHERE sha256 = $1")
                    .bind(sha256)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                Ok(found.is_some())
            }

            async fn store_wasm(&self, sha256: &str, bytes: &[u8], now_ms: i64) -> Result<(), $crate::error::StoreError> {
                sqlx::query("INSERT INTO wasm_blobs (sha256, size, bytes, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(sha256)
                    .bind(bytes.len() as i64)
                    .bind(bytes)
                    .bind(now_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(())
            }

            async fn upsert_chain_project(
                &self,
                p: &$crate::db::registry::ChainProject,
                new_id: &str,
                now_ms: i64,
            ) -> Result<String, $crate::error::StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                // An owner row without a usable token: no sha256 hex equals this text, so no
                // bearer matches it until the account signs in (which replaces it).
                sqlx::query("INSERT INTO owners (name, token_hash, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(&p.owner)
                    .bind(format!("unset:chain:{}", uuid::Uuid::new_v4()))
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO projects (id, owner, name, active_version, grants, created_ms, http_allowlist, origin) \
                     VALUES ($1, $2, $3, NULL, $4, $5, $6, 'chain') \
                     ON CONFLICT (owner, name) DO UPDATE SET grants = excluded.grants, \
                     http_allowlist = excluded.http_allowlist, origin = 'chain'",
                )
                .bind(new_id)
                .bind(&p.owner)
                .bind(&p.name)
                .bind($crate::db::to_json_text(&p.grants))
                .bind(now_ms)
                .bind($crate::db::to_json_text(&p.http_allowlist))
                .execute(&mut *tx)
                .await?;
                let id: String = sqlx::query_scalar("SELECT id FROM projects WHERE owner = $1 AND name = $2")
                    .bind(&p.owner)
                    .bind(&p.name)
                    .fetch_one(&mut *tx)
                    .await?;
                for v in &p.versions {
                    // Recorded only once its wasm is stored (the version's foreign key).
                    sqlx::query(
                        "INSERT INTO versions (project_id, wasm_sha256, size, created_ms, source_url) \
                         SELECT $1, sha256, size, $3, $4 FROM wasm_blobs WHERE sha256 = $2 ON CONFLICT DO NOTHING",
                    )
                    .bind(&id)
                    .bind(&v.wasm_sha256)
                    .bind(v.added_ms)
                    .bind(&v.source_url)
                    .execute(&mut *tx)
                    .await?;
                }
                match &p.active_version {
                    Some(active) => {
                        sqlx::query(
                            "UPDATE projects SET active_version = $2 WHERE id = $1 \
                             AND EXISTS (SELECT 1 FROM versions WHERE project_id = $1 AND wasm_sha256 = $2)",
                        )
                        .bind(&id)
                        .bind(active)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query("UPDATE projects SET active_version = NULL WHERE id = $1").bind(&id).execute(&mut *tx).await?;
                    }
                }
                let change = $crate::db::LookupChange::Projects;
                self.announce(&mut tx, &change).await?;
                tx.commit().await?;
                if let Some(c) = self.lookups() {
                    c.forget(&change);
                }
                Ok(id)
            }
        }
    };
}

pub(crate) use impl_registry;

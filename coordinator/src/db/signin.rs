//! Sign-in challenges and owner token rotation ([`SigninDb`]), shared by both backends like
//! `sql.rs`: instantiated inside each backend's module by [`impl_signin!`].

use async_trait::async_trait;

use crate::error::StoreError;

/// The sign-in challenge table and the owner token a sign-in replaces.
#[async_trait]
pub trait SigninDb: Send + Sync {
    /// Deletes expired challenges (`expires_ms < now_ms`), then remembers `nonce` (base64) until
    /// `expires_ms`; `false` (nothing stored) when `max_pending` unexpired challenges are pending.
    async fn issue_signin_challenge(&self, nonce: &str, expires_ms: i64, now_ms: i64, max_pending: i64) -> Result<bool, StoreError>;
    /// Deletes the challenge `nonce`: `true` if it was pending and unexpired at `now_ms` (it can
    /// never be used again), `false` if it is unknown, used or expired.
    async fn consume_signin_challenge(&self, nonce: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Replaces the API token of an existing owner (the previous token stops working); `false`
    /// if there is no such owner.
    async fn set_owner_token(&self, name: &str, token_hash: &str) -> Result<bool, StoreError>;
}

/// Implements [`SigninDb`] for `$backend` (inside its module); `begin` starts a write
/// transaction.
macro_rules! impl_signin {
    ($backend:ident, begin = $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::db::signin::SigninDb for $backend {
            async fn issue_signin_challenge(
                &self,
                nonce: &str,
                expires_ms: i64,
                now_ms: i64,
                max_pending: i64,
            ) -> Result<bool, $crate::error::StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                sqlx::query("DELETE FROM signin_challenges WHERE expires_ms < $1").bind(now_ms).execute(&mut *tx).await?;
                let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signin_challenges").fetch_one(&mut *tx).await?;
                if pending >= max_pending {
                    return Ok(false);
                }
                sqlx::query("INSERT INTO signin_challenges (nonce, expires_ms) VALUES ($1, $2)")
                    .bind(nonce)
                    .bind(expires_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn consume_signin_challenge(&self, nonce: &str, now_ms: i64) -> Result<bool, $crate::error::StoreError> {
                let done = sqlx::query("DELETE FROM signin_challenges WHERE nonce = $1 AND expires_ms >= $2")
                    .bind(nonce)
                    .bind(now_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_owner_token(&self, name: &str, token_hash: &str) -> Result<bool, $crate::error::StoreError> {
                let done = sqlx::query("UPDATE owners SET token_hash = $1 WHERE name = $2")
                    .bind(token_hash)
                    .bind(name)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

pub(crate) use impl_signin;

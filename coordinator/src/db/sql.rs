//! SQL shared by the SQLite and PostgreSQL backends, instantiated once per pool type by
//! [`impl_backend!`]. Both dialects accept `$n` placeholders, `RETURNING` and `ON CONFLICT`.

/// Column list of `calls`, in [`crate::db::CallRow`] order.
macro_rules! call_columns {
    () => {
        concat!($crate::db::sql::call_columns_before_result!(), ", result, http_allowlist, secrets_ref")
    };
}

/// The columns of `calls` before `result`, in [`call_columns!`] order.
macro_rules! call_columns_before_result {
    () => {
        "id, request_id, project_id, project_owner, project_name, wasm_sha256, key_owner, key_nonce, \
         input, max_instructions, max_memory_mb, max_execution_seconds, grants, attached_deposit, \
         compute_limit, reserved, status, lease_id, worker_id, lease_expires_ms, attempts, \
         created_ms, completed_ms"
    };
}

/// [`call_columns!`] for a statement that has just written the call's `result`: the same columns
/// in the same order, but `result` read as NULL. The caller holds the result it wrote, so the
/// database does not send its JSON back to be parsed again (a settlement's receipt and output,
/// 2.5 % of `serve`'s CPU on SQLite at 32 connections); the backends' `finish` puts it back
/// into the row they return.
macro_rules! settled_call_columns {
    () => {
        concat!($crate::db::sql::call_columns_before_result!(), ", CAST(NULL AS TEXT) AS result, http_allowlist, secrets_ref")
    };
}

/// Column list of `payment_keys`, in [`crate::db::KeyRow`] order.
macro_rules! key_columns {
    () => {
        "owner, nonce, secret_hash, balance, spent, reserved, allowed_projects, max_per_call, \
         revoked, created_ms"
    };
}

/// Column list of `workers`.
macro_rules! worker_columns {
    () => {
        "id, public_key, token_hash, attestation_sha256, verified, created_ms, last_heartbeat_ms"
    };
}

/// The lease of the oldest job a worker may take — queued, or leased before with its lease
/// expired — with fewer than `$5` leases so far: `$1` lease id, `$2` worker id, `$3` now, `$4`
/// the lease's expiry, `$6` the grace after the job's wall-time limit. The lease ends at the
/// earlier of `$4` and the job's hard deadline (`$3` + its limit + `$6`). `$lock` locks the
/// candidates (`FOR UPDATE SKIP LOCKED` on PostgreSQL: replicas lease different jobs).
///
/// The two candidates come from their own partial indexes (`calls_queued` by age,
/// `calls_leased` by expiry): one index over both walked past every job still running before it
/// reached a queued one (184 buffers a lease on PostgreSQL at 32 connections).
macro_rules! lease_statement {
    ($lock:literal) => {
        concat!(
            "WITH ",
            $crate::db::sql::lease_candidates!($lock, "$3", "$5", ""),
            " ",
            $crate::db::sql::lease_update!("$1", "$2", "$3", "$4", "$6")
        )
    };
}

/// The lease's two candidate CTEs, `queued` and `expired` (see [`lease_statement!`]), with the
/// given placeholders for now and max attempts, and `$also` a further condition on both (for a
/// statement that settles a call in the same breath: never that call).
macro_rules! lease_candidates {
    ($lock:literal, $now:literal, $max:literal, $also:literal) => {
        concat!(
            "queued AS (SELECT id, created_ms FROM calls WHERE status = 'queued' AND attempts < ",
            $max,
            $also,
            " ORDER BY created_ms LIMIT 1 ",
            $lock,
            "), expired AS (SELECT id, created_ms FROM calls WHERE status = 'leased' AND lease_expires_ms < ",
            $now,
            " AND attempts < ",
            $max,
            $also,
            " ORDER BY created_ms LIMIT 1 ",
            $lock,
            ")"
        )
    };
}

/// The lease's `UPDATE` of the older of the two candidates (see [`lease_statement!`]), with the
/// given placeholders for lease id, worker id, now, lease expiry and grace.
macro_rules! lease_update {
    ($id:literal, $worker:literal, $now:literal, $expires:literal, $grace:literal) => {
        concat!(
            "UPDATE calls SET status = 'leased', lease_id = ",
            $id,
            ", worker_id = ",
            $worker,
            ", lease_deadline_ms = ",
            $now,
            " + max_execution_seconds * 1000 + ",
            $grace,
            ", lease_expires_ms = CASE WHEN ",
            $expires,
            " < ",
            $now,
            " + max_execution_seconds * 1000 + ",
            $grace,
            " THEN ",
            $expires,
            " ELSE ",
            $now,
            " + max_execution_seconds * 1000 + ",
            $grace,
            " END, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM (SELECT id, created_ms FROM queued UNION ALL SELECT id, created_ms FROM expired) AS ready \
             ORDER BY created_ms LIMIT 1) \
             AND (status = 'queued' OR (status = 'leased' AND lease_expires_ms < ",
            $now,
            ")) RETURNING ",
            $crate::db::sql::call_columns!()
        )
    };
}

/// A [`crate::db::CallRow`] from a row of [`call_columns!`], read by column name with
/// `try_get` (an sqlx row of either backend, or the SQLite group writer's rusqlite row).
macro_rules! call_row_from {
    ($r:expr) => {{
        let r = $r;
        Ok($crate::db::CallRow {
            id: r.try_get("id")?,
            request_id: r.try_get("request_id")?,
            project_id: r.try_get("project_id")?,
            project_owner: r.try_get("project_owner")?,
            project_name: r.try_get("project_name")?,
            wasm_sha256: r.try_get("wasm_sha256")?,
            key_owner: r.try_get("key_owner")?,
            key_nonce: r.try_get("key_nonce")?,
            input: r.try_get("input")?,
            max_instructions: r.try_get("max_instructions")?,
            max_memory_mb: r.try_get("max_memory_mb")?,
            max_execution_seconds: r.try_get("max_execution_seconds")?,
            grants: $crate::db::from_json_text(&r.try_get::<String, _>("grants")?, "grants")?,
            http_allowlist: $crate::db::from_json_text(&r.try_get::<String, _>("http_allowlist")?, "http_allowlist")?,
            secrets_ref: r
                .try_get::<Option<String>, _>("secrets_ref")?
                .map(|text| $crate::db::from_json_text(&text, "secrets_ref"))
                .transpose()?,
            attached_deposit: r.try_get("attached_deposit")?,
            compute_limit: r.try_get("compute_limit")?,
            reserved: r.try_get("reserved")?,
            status: r
                .try_get::<String, _>("status")?
                .parse()
                .map_err(|e: outlayer_protocol::status::UnknownStatus| $crate::error::StoreError::Corrupt(e.to_string()))?,
            lease_id: r.try_get("lease_id")?,
            worker_id: r.try_get("worker_id")?,
            lease_expires_ms: r.try_get("lease_expires_ms")?,
            attempts: r.try_get("attempts")?,
            created_ms: r.try_get("created_ms")?,
            completed_ms: r.try_get("completed_ms")?,
            result: r.try_get::<Option<String>, _>("result")?.map(|t| $crate::db::from_json_text(&t, "result")).transpose()?,
        })
    }};
}

/// Binds `$1..=$27` of `enqueue`: the call's columns in [`call_columns!`] order, then its hard
/// lease deadline (an `Option<i64>`). One binder for every backend and the SQLite group writer.
macro_rules! bind_enqueue {
    ($q:expr, $c:expr, $lease_deadline_ms:expr) => {{
        let c = $c;
        $q.bind(&c.id)
            .bind(&c.request_id)
            .bind(&c.project_id)
            .bind(&c.project_owner)
            .bind(&c.project_name)
            .bind(&c.wasm_sha256)
            .bind(&c.key_owner)
            .bind(c.key_nonce)
            .bind(&c.input)
            .bind(c.max_instructions)
            .bind(c.max_memory_mb)
            .bind(c.max_execution_seconds)
            .bind($crate::db::to_json_text(&c.grants))
            .bind(c.attached_deposit)
            .bind(c.compute_limit)
            .bind(c.reserved)
            .bind(c.status.as_str())
            .bind(&c.lease_id)
            .bind(&c.worker_id)
            .bind(c.lease_expires_ms)
            .bind(c.attempts)
            .bind(c.created_ms)
            .bind(c.completed_ms)
            .bind(c.result.as_ref().map($crate::db::to_json_text))
            .bind($crate::db::to_json_text(&c.http_allowlist))
            .bind(c.secrets_ref.as_ref().map($crate::db::to_json_text))
            .bind($lease_deadline_ms)
    }};
}

/// Binds `$1..=$7` of `finish`: call id, lease id, status, result, now, charged, earnings.
macro_rules! bind_finish {
    ($q:expr, $f:expr) => {{
        let f = $f;
        $q.bind(&f.call_id)
            .bind(&f.lease_id)
            .bind(f.status.as_str())
            .bind($crate::db::to_json_text(&f.result))
            .bind(f.now_ms)
            .bind(f.charged)
            .bind(f.earnings)
    }};
}

/// Implements [`crate::db::Backend`] for `$backend` (a struct with a `pool` field of the given
/// database). `begin` starts a write transaction; `lock` is appended to the lease sub-select. The
/// hot writes (enqueue, finish, finish and lease) are operations of the backend's group writer,
/// sent with its `group` method.
macro_rules! impl_backend {
    // The hot writes through the backend's group writer (`self.group`: `group.rs` on SQLite,
    // `pg_group.rs` on PostgreSQL).
    ($backend:ident, $db:ty, begin = $begin:literal, lock = $lock:literal, grouped) => {
        impl_backend!(@common $backend, $db, begin = $begin, lock = $lock, hot = {
            async fn enqueue(&self, c: &CallRow, lease_deadline_ms: Option<i64>) -> Result<Enqueued, StoreError> {
                // Reserve on the key if it has the balance, and only then insert the call and its
                // ledger line: one operation of the writer's next group. A row back = queued.
                let op = $crate::db::group::WriteOp::Enqueue { call: Box::new(c.clone()), lease_deadline_ms };
                match self.group(op).await? {
                    $crate::db::group::Done::Enqueued(true) => Ok(Enqueued::Queued),
                    $crate::db::group::Done::Enqueued(false) => Ok(Enqueued::InsufficientBalance),
                    other => Err(StoreError::Corrupt(format!("enqueue answered with {other:?}"))),
                }
            }

            async fn finish(&self, f: &Finish) -> Result<Option<CallRow>, StoreError> {
                // Settle the call if the lease is current, and only then move the money, write the
                // ledger (settle, then release) and credit earnings of a completed call: one
                // operation of the writer's next group. The settled row comes back.
                match self.group($crate::db::group::WriteOp::Finish(f.clone())).await? {
                    $crate::db::group::Done::Finished(settled) => Ok(settled.map(|c| $crate::db::with_result(*c, f))),
                    other => Err(StoreError::Corrupt(format!("finish answered with {other:?}"))),
                }
            }

            #[allow(clippy::too_many_arguments)]
            async fn finish_and_lease(
                &self,
                f: &Finish,
                worker_id: &str,
                lease_id: &str,
                now_ms: i64,
                lease_ms: i64,
                grace_ms: i64,
                max_attempts: i64,
            ) -> Result<(Option<CallRow>, Option<CallRow>), StoreError> {
                let op = $crate::db::group::WriteOp::FinishLease {
                    finish: f.clone(),
                    worker_id: worker_id.to_owned(),
                    lease_id: lease_id.to_owned(),
                    now_ms,
                    expires_ms: now_ms + lease_ms,
                    max_attempts,
                    grace_ms,
                };
                match self.group(op).await? {
                    $crate::db::group::Done::FinishedLeased(both) => {
                        let (settled, leased) = *both;
                        Ok((settled.map(|c| $crate::db::with_result(c, f)), leased))
                    }
                    other => Err(StoreError::Corrupt(format!("finish_and_lease answered with {other:?}"))),
                }
            }

        });
    };
    (@common $backend:ident, $db:ty, begin = $begin:literal, lock = $lock:literal, hot = { $($hot:tt)* }) => {
        use sqlx::Row as _;
        use $crate::db::{
            Backend, CallRow, EarningRow, Enqueued, Finish, KeyRow, LedgerRow, ProjectRow, VersionRow, WorkerRow, from_json_text,
            to_json_text,
        };
        use $crate::db::{CallPage, CallSample};
        use $crate::error::StoreError;

        type DbRow = <$db as sqlx::Database>::Row;

        fn call_row(r: &DbRow) -> Result<CallRow, StoreError> {
            $crate::db::sql::call_row_from!(r)
        }

        fn ledger_row(r: &DbRow) -> Result<LedgerRow, StoreError> {
            Ok(LedgerRow {
                id: r.try_get("id")?,
                call_id: r.try_get("call_id")?,
                kind: r.try_get("kind")?,
                amount: r.try_get("amount")?,
                created_ms: r.try_get("created_ms")?,
            })
        }

        fn key_row(r: &DbRow) -> Result<KeyRow, StoreError> {
            Ok(KeyRow {
                owner: r.try_get("owner")?,
                nonce: r.try_get("nonce")?,
                secret_hash: r.try_get("secret_hash")?,
                balance: r.try_get("balance")?,
                spent: r.try_get("spent")?,
                reserved: r.try_get("reserved")?,
                allowed_projects: from_json_text(&r.try_get::<String, _>("allowed_projects")?, "allowed_projects")?,
                max_per_call: r.try_get("max_per_call")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
                created_ms: r.try_get("created_ms")?,
            })
        }

        fn worker_row(r: &DbRow) -> Result<WorkerRow, StoreError> {
            Ok(WorkerRow {
                id: r.try_get("id")?,
                public_key: r.try_get("public_key")?,
                token_hash: r.try_get("token_hash")?,
                attestation_sha256: r.try_get("attestation_sha256")?,
                verified: from_json_text(&r.try_get::<String, _>("verified")?, "verified")?,
                created_ms: r.try_get("created_ms")?,
                last_heartbeat_ms: r.try_get("last_heartbeat_ms")?,
            })
        }

        fn project_row(r: &DbRow) -> Result<ProjectRow, StoreError> {
            Ok(ProjectRow {
                id: r.try_get("id")?,
                owner: r.try_get("owner")?,
                name: r.try_get("name")?,
                active_version: r.try_get("active_version")?,
                grants: from_json_text(&r.try_get::<String, _>("grants")?, "grants")?,
                http_allowlist: from_json_text(&r.try_get::<String, _>("http_allowlist")?, "http_allowlist")?,
                created_ms: r.try_get("created_ms")?,
            })
        }

        async fn ledger_line<'c, E>(
            exec: E,
            owner: &str,
            nonce: i64,
            call_id: Option<&str>,
            kind: &str,
            amount: i64,
            now_ms: i64,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'c, Database = $db>,
        {
            sqlx::query("INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(owner)
                .bind(nonce)
                .bind(call_id)
                .bind(kind)
                .bind(amount)
                .bind(now_ms)
                .execute(exec)
                .await?;
            Ok(())
        }

        impl $backend {
            async fn project_uncached(&self, owner: &str, name: &str) -> Result<Option<ProjectRow>, StoreError> {
                let row =
                    sqlx::query("SELECT id, owner, name, active_version, grants, http_allowlist, created_ms FROM projects WHERE owner = $1 AND name = $2")
                        .bind(owner)
                        .bind(name)
                        .fetch_optional(&mut *self.read().await?)
                        .await?;
                row.as_ref().map(project_row).transpose()
            }
        }

        #[async_trait::async_trait]
        impl Backend for $backend {
            $($hot)*

            async fn create_owner(&self, name: &str, token_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
                let done = sqlx::query("INSERT INTO owners (name, token_hash, created_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(name)
                    .bind(token_hash)
                    .bind(now_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn owner_by_token(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("SELECT name FROM owners WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&mut *self.read().await?)
                    .await?)
            }

            async fn create_project(&self, p: &ProjectRow) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO projects (id, owner, name, active_version, grants, created_ms, http_allowlist) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&p.id)
                .bind(&p.owner)
                .bind(&p.name)
                .bind(&p.active_version)
                .bind(to_json_text(&p.grants))
                .bind(p.created_ms)
                .bind(to_json_text(&p.http_allowlist))
                .execute(&mut *self.write().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn project(&self, owner: &str, name: &str) -> Result<Option<ProjectRow>, StoreError> {
                let cache = self.lookups();
                if let Some(p) = cache.and_then(|c| c.project(owner, name)) {
                    return Ok(Some(p));
                }
                let generation = cache.map(|c| c.generation());
                let project = self.project_uncached(owner, name).await?;
                if let (Some(c), Some(g), Some(p)) = (cache, generation, &project) {
                    c.remember_project(g, p);
                }
                Ok(project)
            }

            async fn key_for_auth(&self, owner: &str, nonce: i64) -> Result<Option<KeyRow>, StoreError> {
                let cache = self.lookups();
                if let Some(k) = cache.and_then(|c| c.key(owner, nonce)) {
                    return Ok(Some(k));
                }
                let generation = cache.map(|c| c.generation());
                let key = self.key(owner, nonce).await?;
                if let (Some(c), Some(g), Some(k)) = (cache, generation, &key) {
                    c.remember_key(g, k);
                }
                Ok(key)
            }

            async fn add_version(&self, project_id: &str, sha256: &str, bytes: &[u8], now_ms: i64) -> Result<(), StoreError> {
                let size = bytes.len() as i64;
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                sqlx::query("INSERT INTO wasm_blobs (sha256, size, bytes, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(sha256)
                    .bind(size)
                    .bind(bytes)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO versions (project_id, wasm_sha256, size, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(project_id)
                .bind(sha256)
                .bind(size)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn versions(&self, project_id: &str) -> Result<Vec<VersionRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT wasm_sha256, size, created_ms FROM versions WHERE project_id = $1 ORDER BY created_ms, wasm_sha256",
                )
                .bind(project_id)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(VersionRow {
                            wasm_sha256: r.try_get("wasm_sha256")?,
                            size: r.try_get("size")?,
                            created_ms: r.try_get("created_ms")?,
                        })
                    })
                    .collect()
            }

            async fn set_active(&self, project_id: &str, sha256: &str) -> Result<bool, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let done = sqlx::query(
                    "UPDATE projects SET active_version = $2 WHERE id = $1 \
                     AND EXISTS (SELECT 1 FROM versions WHERE project_id = $1 AND wasm_sha256 = $2)",
                )
                .bind(project_id)
                .bind(sha256)
                .execute(&mut *tx)
                .await?;
                let change = $crate::db::LookupChange::Projects;
                self.announce(&mut tx, &change).await?;
                tx.commit().await?;
                if let Some(c) = self.lookups() {
                    c.forget(&change);
                }
                Ok(done.rows_affected() == 1)
            }

            async fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(sqlx::query_scalar("SELECT bytes FROM wasm_blobs WHERE sha256 = $1")
                    .bind(sha256)
                    .fetch_optional(&mut *self.read().await?)
                    .await?)
            }

            async fn create_key(&self, k: &KeyRow) -> Result<bool, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let done = sqlx::query(concat!(
                    "INSERT INTO payment_keys (",
                    key_columns!(),
                    ") \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
                ))
                .bind(&k.owner)
                .bind(k.nonce)
                .bind(&k.secret_hash)
                .bind(k.balance)
                .bind(k.spent)
                .bind(k.reserved)
                .bind(to_json_text(&k.allowed_projects))
                .bind(k.max_per_call)
                .bind(k.revoked as i64)
                .bind(k.created_ms)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if k.balance > 0 {
                    ledger_line(&mut *tx, &k.owner, k.nonce, None, "top_up", k.balance, k.created_ms).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn next_nonce(&self, owner: &str) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COALESCE(MAX(nonce), 0) + 1 FROM payment_keys WHERE owner = $1")
                    .bind(owner)
                    .fetch_one(&mut *self.read().await?)
                    .await?)
            }

            async fn key(&self, owner: &str, nonce: i64) -> Result<Option<KeyRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM payment_keys WHERE owner = $1 AND nonce = $2"))
                    .bind(owner)
                    .bind(nonce)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.as_ref().map(key_row).transpose()
            }

            async fn top_up(&self, owner: &str, nonce: i64, amount: i64, now_ms: i64) -> Result<Option<KeyRow>, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let row = sqlx::query(concat!(
                    "UPDATE payment_keys SET balance = balance + $3 WHERE owner = $1 AND nonce = $2 AND balance <= $4 - $3 RETURNING ",
                    key_columns!()
                ))
                .bind(owner)
                .bind(nonce)
                .bind(amount)
                .bind($crate::limits::MAX_BALANCE)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let key = key_row(&row)?;
                ledger_line(&mut *tx, owner, nonce, None, "top_up", amount, now_ms).await?;
                tx.commit().await?;
                Ok(Some(key))
            }

            async fn revoke(&self, owner: &str, nonce: i64) -> Result<bool, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let done = sqlx::query("UPDATE payment_keys SET revoked = 1 WHERE owner = $1 AND nonce = $2")
                    .bind(owner)
                    .bind(nonce)
                    .execute(&mut *tx)
                    .await?;
                let change = $crate::db::LookupChange::Key { owner: owner.to_owned(), nonce };
                self.announce(&mut tx, &change).await?;
                tx.commit().await?;
                if let Some(c) = self.lookups() {
                    c.forget(&change);
                }
                Ok(done.rows_affected() == 1)
            }

            async fn ledger(&self, owner: &str, nonce: i64, after_id: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, call_id, kind, amount, created_ms FROM ledger \
                     WHERE owner = $1 AND nonce = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(owner)
                .bind(nonce)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter().map(ledger_row).collect()
            }

            async fn call(&self, id: &str) -> Result<Option<CallRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", call_columns!(), " FROM calls WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.as_ref().map(call_row).transpose()
            }

            async fn lease(
                &self,
                worker_id: &str,
                lease_id: &str,
                now_ms: i64,
                lease_ms: i64,
                grace_ms: i64,
                max_attempts: i64,
            ) -> Result<Option<CallRow>, StoreError> {
                let row = sqlx::query(lease_statement!($lock))
                .bind(lease_id)
                .bind(worker_id)
                .bind(now_ms)
                .bind(now_ms + lease_ms)
                .bind(max_attempts)
                .bind(grace_ms)
                .fetch_optional(&mut *self.write().await?)
                .await?;
                row.as_ref().map(call_row).transpose()
            }

            async fn heartbeat(
                &self,
                worker_id: &str,
                lease_ids: &[String],
                now_ms: i64,
                lease_ms: i64,
            ) -> Result<Vec<String>, StoreError> {
                let mut extended = Vec::new();
                for lease_id in lease_ids {
                    // Never past the hard deadline; a lease at or past it is lost.
                    let done = sqlx::query(
                        "UPDATE calls SET lease_expires_ms = CASE WHEN $3 < lease_deadline_ms THEN $3 ELSE lease_deadline_ms END \
                         WHERE lease_id = $1 AND worker_id = $2 AND status = 'leased' AND lease_deadline_ms > $4",
                    )
                    .bind(lease_id)
                    .bind(worker_id)
                    .bind(now_ms + lease_ms)
                    .bind(now_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                    if done.rows_affected() == 1 {
                        extended.push(lease_id.clone());
                    }
                }
                self.touch_worker(worker_id, now_ms).await?;
                Ok(extended)
            }

            async fn exhausted(&self, now_ms: i64, max_attempts: i64) -> Result<Vec<CallRow>, StoreError> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    call_columns!(),
                    " FROM calls WHERE status = 'leased' AND lease_expires_ms < $1 AND attempts >= $2 ORDER BY created_ms LIMIT 100"
                ))
                .bind(now_ms)
                .bind(max_attempts)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter().map(call_row).collect()
            }

            async fn register_worker(&self, w: &WorkerRow, evidence: &str, challenge: &str) -> Result<(), StoreError> {
                let tee = match w.verified.tee {
                    outlayer_attest::Tee::Tdx => "tdx",
                    outlayer_attest::Tee::Dev => "dev",
                };
                sqlx::query(concat!(
                    "INSERT INTO workers (",
                    worker_columns!(),
                    ", tee, attestation, challenge) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ))
                .bind(&w.id)
                .bind(&w.public_key)
                .bind(&w.token_hash)
                .bind(&w.attestation_sha256)
                .bind(to_json_text(&w.verified))
                .bind(w.created_ms)
                .bind(w.last_heartbeat_ms)
                .bind(tee)
                .bind(evidence)
                .bind(challenge)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(())
            }

            async fn worker_attestation(&self, id: &str) -> Result<Option<(WorkerRow, String, String)>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", worker_columns!(), ", attestation, challenge FROM workers WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some((worker_row(&row)?, row.try_get("attestation")?, row.try_get("challenge")?)))
            }

            async fn issue_challenge(
                &self,
                nonce: &str,
                issued_at: i64,
                expires_at: i64,
                now_secs: i64,
                max_pending: i64,
            ) -> Result<bool, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                sqlx::query("DELETE FROM worker_challenges WHERE expires_at < $1").bind(now_secs).execute(&mut *tx).await?;
                let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM worker_challenges").fetch_one(&mut *tx).await?;
                if pending >= max_pending {
                    return Ok(false);
                }
                sqlx::query("INSERT INTO worker_challenges (nonce, issued_at, expires_at) VALUES ($1, $2, $3)")
                    .bind(nonce)
                    .bind(issued_at)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn consume_challenge(&self, nonce: &str, issued_at: i64, expires_at: i64) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM worker_challenges WHERE nonce = $1 AND issued_at = $2 AND expires_at = $3")
                    .bind(nonce)
                    .bind(issued_at)
                    .bind(expires_at)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn worker_by_token(&self, token_hash: &str) -> Result<Option<WorkerRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", worker_columns!(), " FROM workers WHERE token_hash = $1"))
                    .bind(token_hash)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.as_ref().map(worker_row).transpose()
            }

            async fn worker(&self, id: &str) -> Result<Option<WorkerRow>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", worker_columns!(), " FROM workers WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.as_ref().map(worker_row).transpose()
            }

            async fn touch_worker(&self, id: &str, now_ms: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE workers SET last_heartbeat_ms = $2 WHERE id = $1")
                    .bind(id)
                    .bind(now_ms)
                    .execute(&mut *self.write().await?)
                    .await?;
                Ok(())
            }

            async fn earnings(&self, owner: &str) -> Result<Vec<EarningRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT e.project_id, p.name, e.amount, e.calls FROM earnings e \
                     JOIN projects p ON p.id = e.project_id WHERE e.owner = $1 ORDER BY p.name",
                )
                .bind(owner)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(EarningRow {
                            project_id: r.try_get("project_id")?,
                            project_name: r.try_get("name")?,
                            amount: r.try_get("amount")?,
                            calls: r.try_get("calls")?,
                        })
                    })
                    .collect()
            }

            async fn queue_depth(&self) -> Result<(i64, i64), StoreError> {
                let row = sqlx::query(
                    // One count per partial index (`calls_queued`, `calls_leased`).
                    "SELECT (SELECT COUNT(*) FROM calls WHERE status = 'queued') AS queued, \
                     (SELECT COUNT(*) FROM calls WHERE status = 'leased') AS leased",
                )
                .fetch_one(&mut *self.read().await?)
                .await?;
                Ok((row.try_get("queued")?, row.try_get("leased")?))
            }

            async fn projects_of(&self, owner: &str) -> Result<Vec<ProjectRow>, StoreError> {
                let rows =
                    sqlx::query("SELECT id, owner, name, active_version, grants, http_allowlist, created_ms FROM projects WHERE owner = $1 ORDER BY name")
                        .bind(owner)
                        .fetch_all(&mut *self.read().await?)
                        .await?;
                rows.iter().map(project_row).collect()
            }

            async fn keys_of(&self, owner: &str) -> Result<Vec<KeyRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", key_columns!(), " FROM payment_keys WHERE owner = $1 ORDER BY nonce"))
                    .bind(owner)
                    .fetch_all(&mut *self.read().await?)
                    .await?;
                rows.iter().map(key_row).collect()
            }

            async fn calls_by_project(&self, project_id: &str, page: &CallPage) -> Result<Vec<CallRow>, StoreError> {
                // No cursor: every call is before (i64::MAX, "").
                let (before_ms, before_id) = page.before.clone().unwrap_or((i64::MAX, String::new()));
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    call_columns!(),
                    " FROM calls WHERE project_id = $1 AND (created_ms < $2 OR (created_ms = $2 AND id < $3)) \
                     ORDER BY created_ms DESC, id DESC LIMIT $4"
                ))
                .bind(project_id)
                .bind(before_ms)
                .bind(before_id)
                .bind(page.limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter().map(call_row).collect()
            }

            async fn calls_by_key(&self, owner: &str, nonce: i64, page: &CallPage) -> Result<Vec<CallRow>, StoreError> {
                // No cursor: every call is before (i64::MAX, "").
                let (before_ms, before_id) = page.before.clone().unwrap_or((i64::MAX, String::new()));
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    call_columns!(),
                    " FROM calls WHERE key_owner = $1 AND key_nonce = $2 \
                     AND (created_ms < $3 OR (created_ms = $3 AND id < $4)) \
                     ORDER BY created_ms DESC, id DESC LIMIT $5"
                ))
                .bind(owner)
                .bind(nonce)
                .bind(before_ms)
                .bind(before_id)
                .bind(page.limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter().map(call_row).collect()
            }

            async fn owner_call_samples(&self, owner: &str, since_ms: i64, limit: i64) -> Result<Vec<CallSample>, StoreError> {
                let rows = sqlx::query(
                    "SELECT c.created_ms, c.completed_ms, c.status, COALESCE(l.amount, 0) AS charged FROM calls c \
                     LEFT JOIN ledger l ON l.call_id = c.id AND l.kind = 'settle' \
                     WHERE c.key_owner = $1 AND c.created_ms >= $2 ORDER BY c.created_ms DESC LIMIT $3",
                )
                .bind(owner)
                .bind(since_ms)
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(CallSample {
                            created_ms: r.try_get("created_ms")?,
                            completed_ms: r.try_get("completed_ms")?,
                            status: r
                                .try_get::<String, _>("status")?
                                .parse()
                                .map_err(|e: outlayer_protocol::status::UnknownStatus| StoreError::Corrupt(e.to_string()))?,
                            charged: r.try_get("charged")?,
                        })
                    })
                    .collect()
            }

            async fn ledger_before(&self, owner: &str, nonce: i64, before_id: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, call_id, kind, amount, created_ms FROM ledger \
                     WHERE owner = $1 AND nonce = $2 AND id < $3 ORDER BY id DESC LIMIT $4",
                )
                .bind(owner)
                .bind(nonce)
                .bind(before_id)
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter().map(ledger_row).collect()
            }

            async fn recent_workers(&self, limit: i64) -> Result<Vec<WorkerRow>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", worker_columns!(), " FROM workers ORDER BY last_heartbeat_ms DESC, id LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&mut *self.read().await?)
                    .await?;
                rows.iter().map(worker_row).collect()
            }
        }
    };
}

pub(crate) use {
    bind_enqueue, bind_finish, call_columns, call_columns_before_result, call_row_from, impl_backend, key_columns, lease_candidates,
    lease_statement, lease_update, settled_call_columns, worker_columns,
};

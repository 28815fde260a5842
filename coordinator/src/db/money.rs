//! Where money comes from and where earnings go ([`MoneyDb`], issue 12), shared by both backends
//! like `sql.rs`: instantiated inside each backend's module by [`impl_money!`].
//!
//! A payment key's balance grows only by a credit: a `top_up` ledger line whose `source` says
//! why — `deposit` (a verified on-chain deposit, `source_ref` = its NEAR receipt id),
//! `admin_grant` (`source_ref` = the admin's reason) or `dev_credit` (an owner's own credit, only
//! on a `--dev-owners` coordinator). Deposits are rows of their own, unique by
//! `(receipt_id, event_index)`: recording one twice is a no-op, so a deposit is credited once.

use async_trait::async_trait;

use crate::db::KeyRow;
use crate::error::StoreError;

/// The cursor name of the deposit watcher ([`crate::deposits`]).
pub const DEPOSIT_CURSOR: &str = "deposits";

/// Why a payment key was credited (the `source` of its `top_up` ledger line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditSource {
    /// An on-chain deposit, by NEAR receipt id.
    Deposit(String),
    /// A grant by the operator (admin token), with its reason.
    AdminGrant(String),
    /// The owner's own credit on a `--dev-owners` coordinator.
    DevCredit,
}

impl CreditSource {
    /// The `source` column value.
    pub fn kind(&self) -> &'static str {
        match self {
            CreditSource::Deposit(_) => "deposit",
            CreditSource::AdminGrant(_) => "admin_grant",
            CreditSource::DevCredit => "dev_credit",
        }
    }

    /// The `source_ref` column value.
    pub fn reference(&self) -> Option<&str> {
        match self {
            CreditSource::Deposit(r) | CreditSource::AdminGrant(r) => Some(r),
            CreditSource::DevCredit => None,
        }
    }
}

/// One ledger line of a payment key with the source of a credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    /// Sequence number.
    pub id: i64,
    /// Call it belongs to, if any.
    pub call_id: Option<String>,
    /// `top_up` (a credit), `reserve`, `settle` or `release`.
    pub kind: String,
    /// micro-USD.
    pub amount: i64,
    /// When.
    pub created_ms: i64,
    /// Of a credit: `deposit`, `admin_grant`, `dev_credit`, or `legacy` (written before sources
    /// were recorded); none for other kinds and for compacted summary lines.
    pub source: Option<String>,
    /// Of a credit: the receipt id of a deposit, the reason of an admin grant.
    pub source_ref: Option<String>,
}

/// What became of a deposit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositStatus {
    /// Credited to its payment key.
    Credited,
    /// No payment key `owner:nonce` exists yet: credited when it is created.
    Pending,
    /// The contract had no payment rate at the deposit's block: not credited (an admin grant
    /// can make up for it).
    Unpriced,
    /// The credit would pass [`crate::limits::MAX_BALANCE`]: not credited.
    OverLimit,
}

impl DepositStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DepositStatus::Credited => "credited",
            DepositStatus::Pending => "pending",
            DepositStatus::Unpriced => "unpriced",
            DepositStatus::OverLimit => "over_limit",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "credited" => DepositStatus::Credited,
            "pending" => DepositStatus::Pending,
            "unpriced" => DepositStatus::Unpriced,
            "over_limit" => DepositStatus::OverLimit,
            other => return Err(StoreError::Corrupt(format!("deposit status {other:?}"))),
        })
    }
}

/// A `payment_key_topped_up` event the watcher found in a successful receipt of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposit {
    /// The receipt that logged it (base58).
    pub receipt_id: String,
    /// Its index among the receipt's `payment_key_topped_up` events (a batch transaction can top
    /// up several keys in one receipt).
    pub event_index: i64,
    /// The payment key's owner (the NEAR account named in the event).
    pub owner: String,
    /// The payment key's nonce.
    pub nonce: i64,
    /// Deposited yoctoNEAR.
    pub amount_yocto: u128,
    /// The contract's rate at the deposit's block: micro-USD per NEAR (0 = unset).
    pub rate: u128,
    /// `amount_yocto × rate / 10²⁴` rounded down; `None` if it does not fit an `i64`.
    pub micro_usd: Option<i64>,
    /// Who paid (the event's `payer`).
    pub payer: String,
    /// Height of the block the receipt was executed in.
    pub block_height: i64,
}

/// A stored deposit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRow {
    /// Receipt id.
    pub receipt_id: String,
    /// Index of the event in the receipt.
    pub event_index: i64,
    /// Key owner.
    pub owner: String,
    /// Key nonce.
    pub nonce: i64,
    /// Deposited yoctoNEAR (decimal).
    pub amount_yocto: String,
    /// Rate used (micro-USD per NEAR, decimal).
    pub rate: String,
    /// micro-USD credited or to credit (0 when unpriced or too large).
    pub micro_usd: i64,
    /// Payer account.
    pub payer: String,
    /// Block height.
    pub block_height: i64,
    /// What became of it.
    pub status: DepositStatus,
    /// First seen.
    pub seen_ms: i64,
    /// Credited at.
    pub credited_ms: Option<i64>,
}

/// What [`MoneyDb::record_deposit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First sight of this deposit; stored with this status.
    New(DepositStatus),
    /// Already recorded (credited at most once): nothing changed.
    AlreadySeen,
}

/// Where a withdrawal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithdrawalStatus {
    /// Requested by the owner; the amount is out of the available earnings.
    Pending,
    /// Paid by the operator (`tx_hash`).
    Settled,
    /// Refused by the operator: the amount is available again.
    Rejected,
}

impl WithdrawalStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalStatus::Pending => "pending",
            WithdrawalStatus::Settled => "settled",
            WithdrawalStatus::Rejected => "rejected",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => WithdrawalStatus::Pending,
            "settled" => WithdrawalStatus::Settled,
            "rejected" => WithdrawalStatus::Rejected,
            other => return Err(StoreError::Corrupt(format!("withdrawal status {other:?}"))),
        })
    }
}

/// A withdrawal of an owner's earnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRow {
    /// UUID.
    pub id: String,
    /// The owner whose earnings it takes.
    pub owner: String,
    /// micro-USD.
    pub amount: i64,
    /// The NEAR account to pay.
    pub to_account: String,
    /// Where it is.
    pub status: WithdrawalStatus,
    /// The operator's payment transaction (settled).
    pub tx_hash: Option<String>,
    /// The operator's note (rejected).
    pub note: Option<String>,
    /// Requested at.
    pub requested_ms: i64,
    /// Settled or rejected at.
    pub finished_ms: Option<i64>,
}

/// Credits, deposits, the watcher's cursor and withdrawals. Every method is one transaction.
#[async_trait]
pub trait MoneyDb: Send + Sync {
    /// Inserts `key` with a zero balance, then in the same transaction credits `dev_credit` (if
    /// positive, source `dev_credit`) and every pending deposit of `owner:nonce`. `None` if the
    /// nonce is taken. Returns the key as stored.
    async fn create_key_credited(&self, key: &KeyRow, dev_credit: i64, now_ms: i64) -> Result<Option<KeyRow>, StoreError>;
    /// Credits a key with a `top_up` line naming `source`; `None` if the key does not exist or
    /// the balance would pass [`crate::limits::MAX_BALANCE`].
    async fn credit(&self, owner: &str, nonce: i64, amount: i64, source: &CreditSource, now_ms: i64) -> Result<Option<KeyRow>, StoreError>;
    /// Records a deposit and, on first sight, credits its key if it exists (one transaction).
    async fn record_deposit(&self, deposit: &Deposit, now_ms: i64) -> Result<Recorded, StoreError>;
    /// Credits, one transaction each, up to `limit` pending deposits whose key exists now (a key
    /// created while its deposit was being recorded on another connection); returns how many.
    async fn claim_pending_deposits(&self, limit: i64, now_ms: i64) -> Result<u64, StoreError>;
    /// The deposits of `owner:nonce`, oldest block first.
    async fn deposits_of_key(&self, owner: &str, nonce: i64) -> Result<Vec<DepositRow>, StoreError>;
    /// A ledger page of a key with credit sources, oldest first: at most `limit` lines with
    /// `id > after_id`.
    async fn ledger_lines(&self, owner: &str, nonce: i64, after_id: i64, limit: i64) -> Result<Vec<LedgerLine>, StoreError>;
    /// The last block height the watcher `name` fully processed.
    async fn chain_cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;
    /// Moves the cursor `name` to `height` (never back).
    async fn set_chain_cursor(&self, name: &str, height: i64) -> Result<(), StoreError>;
    /// Records a pending withdrawal if the owner's available earnings (earned minus pending and
    /// settled withdrawals) cover it; `false` (nothing stored) otherwise.
    async fn request_withdrawal(&self, withdrawal: &WithdrawalRow) -> Result<bool, StoreError>;
    /// Settles (`tx_hash`) or rejects (`note`) a pending withdrawal; `None` if there is no
    /// pending withdrawal `id`.
    async fn finish_withdrawal(
        &self,
        id: &str,
        status: WithdrawalStatus,
        tx_hash: Option<&str>,
        note: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<WithdrawalRow>, StoreError>;
    /// A withdrawal by id.
    async fn withdrawal(&self, id: &str) -> Result<Option<WithdrawalRow>, StoreError>;
    /// An owner's withdrawals, newest first, at most `limit`.
    async fn withdrawals_of(&self, owner: &str, limit: i64) -> Result<Vec<WithdrawalRow>, StoreError>;
    /// `(earned, pending, settled)`: the owner's total earnings and the sums of its pending and
    /// settled withdrawals.
    async fn earnings_totals(&self, owner: &str) -> Result<(i64, i64, i64), StoreError>;
}

/// Implements [`MoneyDb`] for `$backend` (inside its module, after `impl_backend!`, whose
/// `key_row` it uses); `begin` starts a write transaction; `lock_owner` is the statement that
/// serialises one owner's withdrawal requests (bind `$1` = the owner).
macro_rules! impl_money {
    ($backend:ident, $db:ty, begin = $begin:literal, lock_owner = $lock:literal) => {
        type MoneyConn = <$db as sqlx::Database>::Connection;

        const WITHDRAWAL_COLUMNS: &str = "id, owner, amount, to_account, status, tx_hash, note, requested_ms, finished_ms";

        fn money_withdrawal(r: &DbRow) -> Result<$crate::db::money::WithdrawalRow, StoreError> {
            Ok($crate::db::money::WithdrawalRow {
                id: r.try_get("id")?,
                owner: r.try_get("owner")?,
                amount: r.try_get("amount")?,
                to_account: r.try_get("to_account")?,
                status: $crate::db::money::WithdrawalStatus::parse(&r.try_get::<String, _>("status")?)?,
                tx_hash: r.try_get("tx_hash")?,
                note: r.try_get("note")?,
                requested_ms: r.try_get("requested_ms")?,
                finished_ms: r.try_get("finished_ms")?,
            })
        }

        /// Credits a key inside a transaction: balance, then its `top_up` line.
        async fn money_credit(
            conn: &mut MoneyConn,
            owner: &str,
            nonce: i64,
            amount: i64,
            source: &$crate::db::money::CreditSource,
            now_ms: i64,
        ) -> Result<Option<KeyRow>, StoreError> {
            let row = sqlx::query(concat!(
                "UPDATE payment_keys SET balance = balance + $3 WHERE owner = $1 AND nonce = $2 AND balance <= $4 - $3 RETURNING ",
                key_columns!()
            ))
            .bind(owner)
            .bind(nonce)
            .bind(amount)
            .bind($crate::limits::MAX_BALANCE)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok(None) };
            sqlx::query(
                "INSERT INTO ledger (owner, nonce, call_id, kind, amount, created_ms, source, source_ref) \
                 VALUES ($1, $2, NULL, 'top_up', $3, $4, $5, $6)",
            )
            .bind(owner)
            .bind(nonce)
            .bind(amount)
            .bind(now_ms)
            .bind(source.kind())
            .bind(source.reference())
            .execute(&mut *conn)
            .await?;
            Ok(Some(key_row(&row)?))
        }

        /// Credits one pending deposit inside a transaction if its key exists: marks it credited
        /// (only if still pending: never twice), then credits; over the balance limit it is marked
        /// `over_limit` instead. Returns whether it was credited.
        async fn money_claim(conn: &mut MoneyConn, receipt_id: &str, event_index: i64, now_ms: i64) -> Result<bool, StoreError> {
            let row = sqlx::query(
                "UPDATE deposits SET status = 'credited', credited_ms = $3 WHERE receipt_id = $1 AND event_index = $2 \
                 AND status = 'pending' AND EXISTS (SELECT 1 FROM payment_keys k WHERE k.owner = deposits.owner AND k.nonce = deposits.nonce) \
                 RETURNING owner, nonce, micro_usd",
            )
            .bind(receipt_id)
            .bind(event_index)
            .bind(now_ms)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else { return Ok(false) };
            let (owner, nonce, micro_usd): (String, i64, i64) = (row.try_get("owner")?, row.try_get("nonce")?, row.try_get("micro_usd")?);
            let source = $crate::db::money::CreditSource::Deposit(receipt_id.to_owned());
            if money_credit(conn, &owner, nonce, micro_usd, &source, now_ms).await?.is_some() {
                return Ok(true);
            }
            sqlx::query("UPDATE deposits SET status = 'over_limit', credited_ms = NULL WHERE receipt_id = $1 AND event_index = $2")
                .bind(receipt_id)
                .bind(event_index)
                .execute(&mut *conn)
                .await?;
            Ok(false)
        }

        #[async_trait::async_trait]
        impl $crate::db::money::MoneyDb for $backend {
            async fn create_key_credited(&self, k: &KeyRow, dev_credit: i64, now_ms: i64) -> Result<Option<KeyRow>, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let done = sqlx::query(concat!(
                    "INSERT INTO payment_keys (",
                    key_columns!(),
                    ") VALUES ($1, $2, $3, 0, 0, 0, $4, $5, $6, $7) ON CONFLICT DO NOTHING"
                ))
                .bind(&k.owner)
                .bind(k.nonce)
                .bind(&k.secret_hash)
                .bind(to_json_text(&k.allowed_projects))
                .bind(k.max_per_call)
                .bind(k.revoked as i64)
                .bind(k.created_ms)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(None);
                }
                if dev_credit > 0
                    && money_credit(&mut tx, &k.owner, k.nonce, dev_credit, &$crate::db::money::CreditSource::DevCredit, now_ms)
                        .await?
                        .is_none()
                {
                    return Ok(None);
                }
                let pending = sqlx::query(
                    "SELECT receipt_id, event_index FROM deposits WHERE owner = $1 AND nonce = $2 AND status = 'pending' \
                     ORDER BY block_height, receipt_id, event_index",
                )
                .bind(&k.owner)
                .bind(k.nonce)
                .fetch_all(&mut *tx)
                .await?;
                for p in &pending {
                    money_claim(&mut tx, &p.try_get::<String, _>("receipt_id")?, p.try_get("event_index")?, now_ms).await?;
                }
                let row = sqlx::query(concat!("SELECT ", key_columns!(), " FROM payment_keys WHERE owner = $1 AND nonce = $2"))
                    .bind(&k.owner)
                    .bind(k.nonce)
                    .fetch_one(&mut *tx)
                    .await?;
                let key = key_row(&row)?;
                tx.commit().await?;
                Ok(Some(key))
            }

            async fn credit(
                &self,
                owner: &str,
                nonce: i64,
                amount: i64,
                source: &$crate::db::money::CreditSource,
                now_ms: i64,
            ) -> Result<Option<KeyRow>, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let key = money_credit(&mut tx, owner, nonce, amount, source, now_ms).await?;
                if key.is_some() {
                    tx.commit().await?;
                }
                Ok(key)
            }

            async fn record_deposit(
                &self,
                d: &$crate::db::money::Deposit,
                now_ms: i64,
            ) -> Result<$crate::db::money::Recorded, StoreError> {
                use $crate::db::money::{DepositStatus, Recorded};
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                let inserted = sqlx::query(
                    "INSERT INTO deposits (receipt_id, event_index, owner, nonce, amount_yocto, rate, micro_usd, payer, block_height, \
                     status, seen_ms, credited_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, NULL) ON CONFLICT DO NOTHING",
                )
                .bind(&d.receipt_id)
                .bind(d.event_index)
                .bind(&d.owner)
                .bind(d.nonce)
                .bind(d.amount_yocto.to_string())
                .bind(d.rate.to_string())
                .bind(d.micro_usd.unwrap_or(0))
                .bind(&d.payer)
                .bind(d.block_height)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() != 1 {
                    return Ok(Recorded::AlreadySeen);
                }
                let status = if d.rate == 0 {
                    DepositStatus::Unpriced
                } else if d.micro_usd.is_none() {
                    DepositStatus::OverLimit
                } else if money_claim(&mut tx, &d.receipt_id, d.event_index, now_ms).await? {
                    DepositStatus::Credited
                } else {
                    let status: String = sqlx::query_scalar("SELECT status FROM deposits WHERE receipt_id = $1 AND event_index = $2")
                        .bind(&d.receipt_id)
                        .bind(d.event_index)
                        .fetch_one(&mut *tx)
                        .await?;
                    DepositStatus::parse(&status)?
                };
                if matches!(status, DepositStatus::Unpriced | DepositStatus::OverLimit) {
                    sqlx::query("UPDATE deposits SET status = $3 WHERE receipt_id = $1 AND event_index = $2")
                        .bind(&d.receipt_id)
                        .bind(d.event_index)
                        .bind(status.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Recorded::New(status))
            }

            async fn claim_pending_deposits(&self, limit: i64, now_ms: i64) -> Result<u64, StoreError> {
                let pending = sqlx::query(
                    "SELECT d.receipt_id, d.event_index FROM deposits d JOIN payment_keys k ON k.owner = d.owner AND k.nonce = d.nonce \
                     WHERE d.status = 'pending' ORDER BY d.block_height LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                let mut claimed = 0;
                for p in &pending {
                    let mut conn = self.write().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                    if money_claim(&mut tx, &p.try_get::<String, _>("receipt_id")?, p.try_get("event_index")?, now_ms).await? {
                        claimed += 1;
                    }
                    tx.commit().await?;
                }
                Ok(claimed)
            }

            async fn deposits_of_key(&self, owner: &str, nonce: i64) -> Result<Vec<$crate::db::money::DepositRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT receipt_id, event_index, owner, nonce, amount_yocto, rate, micro_usd, payer, block_height, status, seen_ms, \
                     credited_ms FROM deposits WHERE owner = $1 AND nonce = $2 ORDER BY block_height, receipt_id, event_index",
                )
                .bind(owner)
                .bind(nonce)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::db::money::DepositRow {
                            receipt_id: r.try_get("receipt_id")?,
                            event_index: r.try_get("event_index")?,
                            owner: r.try_get("owner")?,
                            nonce: r.try_get("nonce")?,
                            amount_yocto: r.try_get("amount_yocto")?,
                            rate: r.try_get("rate")?,
                            micro_usd: r.try_get("micro_usd")?,
                            payer: r.try_get("payer")?,
                            block_height: r.try_get("block_height")?,
                            status: $crate::db::money::DepositStatus::parse(&r.try_get::<String, _>("status")?)?,
                            seen_ms: r.try_get("seen_ms")?,
                            credited_ms: r.try_get("credited_ms")?,
                        })
                    })
                    .collect()
            }

            async fn ledger_lines(
                &self,
                owner: &str,
                nonce: i64,
                after_id: i64,
                limit: i64,
            ) -> Result<Vec<$crate::db::money::LedgerLine>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, call_id, kind, amount, created_ms, source, source_ref FROM ledger \
                     WHERE owner = $1 AND nonce = $2 AND id > $3 ORDER BY id LIMIT $4",
                )
                .bind(owner)
                .bind(nonce)
                .bind(after_id)
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::db::money::LedgerLine {
                            id: r.try_get("id")?,
                            call_id: r.try_get("call_id")?,
                            kind: r.try_get("kind")?,
                            amount: r.try_get("amount")?,
                            created_ms: r.try_get("created_ms")?,
                            source: r.try_get("source")?,
                            source_ref: r.try_get("source_ref")?,
                        })
                    })
                    .collect()
            }

            async fn chain_cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
                Ok(sqlx::query_scalar("SELECT height FROM chain_cursors WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *self.read().await?)
                    .await?)
            }

            async fn set_chain_cursor(&self, name: &str, height: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO chain_cursors (name, height) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET height = excluded.height WHERE chain_cursors.height < excluded.height",
                )
                .bind(name)
                .bind(height)
                .execute(&mut *self.write().await?)
                .await?;
                Ok(())
            }

            async fn request_withdrawal(&self, w: &$crate::db::money::WithdrawalRow) -> Result<bool, StoreError> {
                let mut conn = self.write().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, $begin).await?;
                sqlx::query($lock).bind(&w.owner).execute(&mut *tx).await?;
                let available: i64 = sqlx::query_scalar(
                    "SELECT CAST((SELECT COALESCE(SUM(amount), 0) FROM earnings WHERE owner = $1) \
                     - (SELECT COALESCE(SUM(amount), 0) FROM withdrawals WHERE owner = $1 AND status <> 'rejected') AS BIGINT)",
                )
                .bind(&w.owner)
                .fetch_one(&mut *tx)
                .await?;
                if available < w.amount {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO withdrawals (id, owner, amount, to_account, status, tx_hash, note, requested_ms, finished_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&w.id)
                .bind(&w.owner)
                .bind(w.amount)
                .bind(&w.to_account)
                .bind(w.status.as_str())
                .bind(&w.tx_hash)
                .bind(&w.note)
                .bind(w.requested_ms)
                .bind(w.finished_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn finish_withdrawal(
                &self,
                id: &str,
                status: $crate::db::money::WithdrawalStatus,
                tx_hash: Option<&str>,
                note: Option<&str>,
                now_ms: i64,
            ) -> Result<Option<$crate::db::money::WithdrawalRow>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE withdrawals SET status = $2, tx_hash = $3, note = $4, finished_ms = $5 \
                     WHERE id = $1 AND status = 'pending' RETURNING {WITHDRAWAL_COLUMNS}"
                )))
                .bind(id)
                .bind(status.as_str())
                .bind(tx_hash)
                .bind(note)
                .bind(now_ms)
                .fetch_optional(&mut *self.write().await?)
                .await?;
                row.as_ref().map(money_withdrawal).transpose()
            }

            async fn withdrawal(&self, id: &str) -> Result<Option<$crate::db::money::WithdrawalRow>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = $1")))
                    .bind(id)
                    .fetch_optional(&mut *self.read().await?)
                    .await?;
                row.as_ref().map(money_withdrawal).transpose()
            }

            async fn withdrawals_of(&self, owner: &str, limit: i64) -> Result<Vec<$crate::db::money::WithdrawalRow>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {WITHDRAWAL_COLUMNS} FROM withdrawals WHERE owner = $1 ORDER BY requested_ms DESC, id DESC LIMIT $2"
                )))
                .bind(owner)
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
                rows.iter().map(money_withdrawal).collect()
            }

            async fn earnings_totals(&self, owner: &str) -> Result<(i64, i64, i64), StoreError> {
                let row = sqlx::query(
                    "SELECT CAST((SELECT COALESCE(SUM(amount), 0) FROM earnings WHERE owner = $1) AS BIGINT) AS earned, \
                     CAST((SELECT COALESCE(SUM(amount), 0) FROM withdrawals WHERE owner = $1 AND status = 'pending') AS BIGINT) AS pending, \
                     CAST((SELECT COALESCE(SUM(amount), 0) FROM withdrawals WHERE owner = $1 AND status = 'settled') AS BIGINT) AS settled",
                )
                .bind(owner)
                .fetch_one(&mut *self.read().await?)
                .await?;
                Ok((row.try_get("earned")?, row.try_get("pending")?, row.try_get("settled")?))
            }
        }
    };
}

pub(crate) use impl_money;

//! Storage: the [`Backend`] trait and its SQLite and PostgreSQL implementations.
//!
//! Both implementations share their SQL text (see `sql.rs`); they differ only in the pool type,
//! how a write transaction begins (`BEGIN IMMEDIATE` on SQLite, so concurrent writers queue on the
//! busy timeout instead of failing) and `FOR UPDATE SKIP LOCKED` when leasing on PostgreSQL.
//! Every amount is micro-USD in an `i64`; every time is unix milliseconds.

pub mod builds;
mod group;
pub mod money;
mod pg_group;
mod pg_listen;
mod postgres;
pub mod registry;
pub mod retention;
pub mod secrets;
pub mod signin;
mod sql;
mod sqlite;

pub use postgres::PostgresBackend;
pub use sqlite::SqliteBackend;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{CallStatus, Capability, SettledResult};
use outlayer_attest::VerifiedQuote;

/// A project: an owner's named WebAssembly service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    /// Random UUID, stable across versions (the guest's `OUTLAYER_PROJECT_UUID`).
    pub id: String,
    /// Owner account name.
    pub owner: String,
    /// Project name, unique per owner.
    pub name: String,
    /// sha256 of the version that `POST /call` runs when none is named.
    pub active_version: Option<String>,
    /// Capabilities granted to every call of this project (deny by default).
    pub grants: Vec<Capability>,
    /// Hosts a granted `http` may reach (entries checked by `outlayer_protocol::http`); kept but
    /// without effect unless `grants` holds `http`.
    pub http_allowlist: Vec<String>,
    /// Creation time.
    pub created_ms: i64,
}

/// One uploaded version of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// sha256 (hex) of the wasm bytes.
    pub wasm_sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Upload time.
    pub created_ms: i64,
}

/// A payment key. Invariant enforced by the database: `spent + reserved <= balance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Owner (payer) account.
    pub owner: String,
    /// Per-owner key number.
    pub nonce: i64,
    /// sha256 (hex) of the secret.
    pub secret_hash: String,
    /// Total credited.
    pub balance: i64,
    /// Total charged by settled calls.
    pub spent: i64,
    /// Held for calls in flight.
    pub reserved: i64,
    /// `owner/name` or `owner/*` entries; empty = any project.
    pub allowed_projects: Vec<String>,
    /// Largest reservation one call may make.
    pub max_per_call: Option<i64>,
    /// Revoked keys authenticate nothing.
    pub revoked: bool,
    /// Creation time.
    pub created_ms: i64,
}

/// A call (= a job in the queue).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    /// Call id (UUID).
    pub id: String,
    /// Request id given to the guest (UUID).
    pub request_id: String,
    /// Project UUID.
    pub project_id: String,
    /// Project owner.
    pub project_owner: String,
    /// Project name.
    pub project_name: String,
    /// Version that runs.
    pub wasm_sha256: String,
    /// Paying key's owner.
    pub key_owner: String,
    /// Paying key's nonce.
    pub key_nonce: i64,
    /// Guest stdin (JSON text of the request's `input`).
    pub input: String,
    /// Instruction budget.
    pub max_instructions: i64,
    /// Memory cap in MiB.
    pub max_memory_mb: i64,
    /// Wall-time cap in seconds.
    pub max_execution_seconds: i64,
    /// Granted capabilities.
    pub grants: Vec<Capability>,
    /// The project's http allowlist when the call was accepted (the job carries this one).
    pub http_allowlist: Vec<String>,
    /// The sealed secrets the call was accepted with (its owner's profile), if any.
    pub secrets_ref: Option<outlayer_protocol::secrets::SecretsRef>,
    /// micro-USD handed to the guest, refundable by it.
    pub attached_deposit: i64,
    /// Most the caller accepts to pay (`X-Compute-Limit`).
    pub compute_limit: i64,
    /// Amount reserved on the key for this call.
    pub reserved: i64,
    /// Where the call is.
    pub status: CallStatus,
    /// Current (or final) lease.
    pub lease_id: Option<String>,
    /// Worker holding (or that completed) the lease.
    pub worker_id: Option<String>,
    /// When the current lease expires.
    pub lease_expires_ms: Option<i64>,
    /// How many times the job was leased.
    pub attempts: i64,
    /// Accept time.
    pub created_ms: i64,
    /// Settle time.
    pub completed_ms: Option<i64>,
    /// Settled result (a JSON column in the database).
    pub result: Option<SettledResult>,
}

/// A registered (attested) worker. Its evidence and challenge are read only when published
/// ([`Backend::worker_attestation`]), never on the hot path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// Worker id (UUID).
    pub id: String,
    /// ed25519 public key (hex) that signs results.
    pub public_key: String,
    /// sha256 (hex) of the worker's bearer token.
    pub token_hash: String,
    /// Hex sha256 of the evidence it registered with (what its receipts must carry).
    pub attestation_sha256: String,
    /// What verifying that evidence established (TEE kind, measurements, TCB status, time).
    pub verified: VerifiedQuote,
    /// Registration time.
    pub created_ms: i64,
    /// Last lease / heartbeat.
    pub last_heartbeat_ms: i64,
}

/// One ledger line of a payment key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// Sequence number.
    pub id: i64,
    /// Call it belongs to, if any.
    pub call_id: Option<String>,
    /// `top_up`, `reserve`, `settle` (charged) or `release` (reservation returned).
    pub kind: String,
    /// micro-USD.
    pub amount: i64,
    /// When.
    pub created_ms: i64,
}

/// Earnings of an owner from one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarningRow {
    /// Project UUID.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// micro-USD earned.
    pub amount: i64,
    /// Settled calls counted.
    pub calls: i64,
}

/// Settling a call: the values the service computed.
#[derive(Debug, Clone)]
pub struct Finish {
    /// Call to settle.
    pub call_id: String,
    /// Lease that must still be the call's current lease.
    pub lease_id: String,
    /// `Completed` or `Failed`.
    pub status: CallStatus,
    /// The settled result.
    pub result: SettledResult,
    /// Amount moved from reserved to spent (≤ the call's reservation).
    pub charged: i64,
    /// Amount credited to the project owner.
    pub earnings: i64,
    /// Settle time.
    pub now_ms: i64,
    /// The payment key and earnings row the settlement updates, when the settler knows them (it
    /// leased the call): the PostgreSQL group writer then locks them in its global order before a
    /// group runs, without looking the call up. `None`: it is not grouped there, and runs alone
    /// (`db/pg_group.rs`).
    pub rows: Option<SettledRows>,
}

/// The rows a settlement updates besides its call (see [`Finish::rows`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledRows {
    /// The paying key's owner.
    pub key_owner: String,
    /// The paying key's nonce.
    pub key_nonce: i64,
    /// The project's owner (the earnings row's owner).
    pub project_owner: String,
    /// The project's id (the earnings row's project).
    pub project_id: String,
}

impl From<&CallRow> for SettledRows {
    fn from(c: &CallRow) -> Self {
        Self {
            key_owner: c.key_owner.clone(),
            key_nonce: c.key_nonce,
            project_owner: c.project_owner.clone(),
            project_id: c.project_id.clone(),
        }
    }
}

/// What enqueueing a call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Reserved and queued.
    Queued,
    /// The key's available balance does not cover the reservation (or it was revoked meanwhile).
    InsufficientBalance,
}

/// The coordinator's storage. Every method is one transaction; the ledger invariant
/// (`spent + reserved <= balance`) holds after each, whatever runs concurrently.
#[async_trait]
pub trait Backend:
    builds::BuildStore
    + money::MoneyDb
    + registry::RegistryDb
    + retention::Retention
    + secrets::SecretsDb
    + signin::SigninDb
    + Send
    + Sync
    + 'static
{
    /// Inserts an owner; `false` if the name is taken.
    async fn create_owner(&self, name: &str, token_hash: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Owner name for an API token hash.
    async fn owner_by_token(&self, token_hash: &str) -> Result<Option<String>, StoreError>;
    /// Inserts a project; `false` if `(owner, name)` exists.
    async fn create_project(&self, project: &ProjectRow) -> Result<bool, StoreError>;
    /// Looks a project up by owner and name.
    async fn project(&self, owner: &str, name: &str) -> Result<Option<ProjectRow>, StoreError>;
    /// Stores wasm bytes under their sha256 and records them as a version of the project
    /// (both idempotent).
    async fn add_version(&self, project_id: &str, sha256: &str, bytes: &[u8], now_ms: i64) -> Result<(), StoreError>;
    /// Versions of a project, oldest first.
    async fn versions(&self, project_id: &str) -> Result<Vec<VersionRow>, StoreError>;
    /// Sets the active version; `false` if it is not a version of the project.
    async fn set_active(&self, project_id: &str, sha256: &str) -> Result<bool, StoreError>;
    /// Wasm bytes by sha256.
    async fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Inserts a key (with a `top_up` ledger line for its balance); `false` if the nonce is taken.
    async fn create_key(&self, key: &KeyRow) -> Result<bool, StoreError>;
    /// Next free nonce of an owner.
    async fn next_nonce(&self, owner: &str) -> Result<i64, StoreError>;
    /// A key by owner and nonce.
    async fn key(&self, owner: &str, nonce: i64) -> Result<Option<KeyRow>, StoreError>;
    /// A key for authenticating a call: like [`Backend::key`], except that the balance fields
    /// (`balance`, `spent`, `reserved`) may be stale (a backend may serve it from memory). Its
    /// secret hash, restrictions and revocation are current.
    async fn key_for_auth(&self, owner: &str, nonce: i64) -> Result<Option<KeyRow>, StoreError>;
    /// Credits a key; `None` if it does not exist or the balance would exceed
    /// [`crate::limits::MAX_BALANCE`].
    async fn top_up(&self, owner: &str, nonce: i64, amount: i64, now_ms: i64) -> Result<Option<KeyRow>, StoreError>;
    /// Revokes a key; `false` if it does not exist.
    async fn revoke(&self, owner: &str, nonce: i64) -> Result<bool, StoreError>;
    /// Ledger of a key, oldest first: at most `limit` lines with `id > after_id`.
    async fn ledger(&self, owner: &str, nonce: i64, after_id: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError>;
    /// Reserves `call.reserved` on the paying key and queues the call, atomically. The row is
    /// inserted as given: `queued`, or already `leased` (lease id, worker, expiry, attempts 1:
    /// the lease shortcut) with its hard deadline `lease_deadline_ms`.
    async fn enqueue(&self, call: &CallRow, lease_deadline_ms: Option<i64>) -> Result<Enqueued, StoreError>;
    /// A call by id.
    async fn call(&self, id: &str) -> Result<Option<CallRow>, StoreError>;
    /// Leases the oldest queued (or lease-expired) job with fewer than `max_attempts` leases,
    /// until `now_ms + lease_ms` but never past its hard deadline: `now_ms` + its wall-time limit
    /// + `grace_ms` ([`crate::config::CoordinatorConfig::lease_grace`]).
    async fn lease(
        &self,
        worker_id: &str,
        lease_id: &str,
        now_ms: i64,
        lease_ms: i64,
        grace_ms: i64,
        max_attempts: i64,
    ) -> Result<Option<CallRow>, StoreError>;
    /// Extends those of `lease_ids` the worker still holds and whose hard deadline (set when
    /// leased: lease time + the job's wall-time limit + `grace_ms`) is not past; never beyond that
    /// deadline. Returns the extended ones.
    async fn heartbeat(&self, worker_id: &str, lease_ids: &[String], now_ms: i64, lease_ms: i64) -> Result<Vec<String>, StoreError>;
    /// Settles a call if `lease_id` is still its lease and it is not final; `None` otherwise.
    /// Moves `reserved` off the key, `charged` onto `spent`, credits earnings, writes the ledger.
    async fn finish(&self, finish: &Finish) -> Result<Option<CallRow>, StoreError>;
    /// [`Backend::finish`], then [`Backend::lease`] for `worker_id`, in one transaction and round
    /// trip; a backend that cannot do both in one round trip only finishes (leases nothing).
    /// Returns (settled, leased).
    #[allow(clippy::too_many_arguments)] // the settling write and the lease's own arguments, unchanged
    async fn finish_and_lease(
        &self,
        finish: &Finish,
        worker_id: &str,
        lease_id: &str,
        now_ms: i64,
        lease_ms: i64,
        grace_ms: i64,
        max_attempts: i64,
    ) -> Result<(Option<CallRow>, Option<CallRow>), StoreError>;
    /// Leased calls whose lease expired after their last allowed attempt.
    async fn exhausted(&self, now_ms: i64, max_attempts: i64) -> Result<Vec<CallRow>, StoreError>;
    /// Registers a worker with the evidence (JSON text) and challenge (JSON text) it proved
    /// itself with.
    async fn register_worker(&self, worker: &WorkerRow, evidence: &str, challenge: &str) -> Result<(), StoreError>;
    /// A worker with its evidence and challenge (JSON texts as stored).
    async fn worker_attestation(&self, id: &str) -> Result<Option<(WorkerRow, String, String)>, StoreError>;
    /// Remembers an issued challenge (nonce hex) after deleting expired ones (`expires_at <
    /// now_secs`); `false` (nothing stored) when `max_pending` unexpired challenges are pending.
    async fn issue_challenge(
        &self,
        nonce: &str,
        issued_at: i64,
        expires_at: i64,
        now_secs: i64,
        max_pending: i64,
    ) -> Result<bool, StoreError>;
    /// Deletes the challenge with exactly these values: `true` if it was pending (it can never be
    /// used again), `false` if it is unknown or already used.
    async fn consume_challenge(&self, nonce: &str, issued_at: i64, expires_at: i64) -> Result<bool, StoreError>;
    /// A worker by token hash.
    async fn worker_by_token(&self, token_hash: &str) -> Result<Option<WorkerRow>, StoreError>;
    /// A worker by id.
    async fn worker(&self, id: &str) -> Result<Option<WorkerRow>, StoreError>;
    /// Records a sign of life.
    async fn touch_worker(&self, id: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Earnings of an owner per project.
    async fn earnings(&self, owner: &str) -> Result<Vec<EarningRow>, StoreError>;
    /// `(queued, leased)` job counts.
    async fn queue_depth(&self) -> Result<(i64, i64), StoreError>;

    // The dashboard's reads (called by `crate::dashboard` page handlers, never on the hot path).

    /// Projects of an owner, by name.
    async fn projects_of(&self, owner: &str) -> Result<Vec<ProjectRow>, StoreError>;
    /// Payment keys of an owner, by nonce.
    async fn keys_of(&self, owner: &str) -> Result<Vec<KeyRow>, StoreError>;
    /// Calls of a project, newest first, one [`CallPage`].
    async fn calls_by_project(&self, project_id: &str, page: &CallPage) -> Result<Vec<CallRow>, StoreError>;
    /// Calls paid by a key, newest first, one [`CallPage`].
    async fn calls_by_key(&self, owner: &str, nonce: i64, page: &CallPage) -> Result<Vec<CallRow>, StoreError>;
    /// Calls paid by any key of `owner` created at or after `since_ms`, newest first, at most
    /// `limit`, as [`CallSample`]s (what the overview charts need).
    async fn owner_call_samples(&self, owner: &str, since_ms: i64, limit: i64) -> Result<Vec<CallSample>, StoreError>;
    /// Ledger of a key, newest first: at most `limit` lines with `id < before_id`.
    async fn ledger_before(&self, owner: &str, nonce: i64, before_id: i64, limit: i64) -> Result<Vec<LedgerRow>, StoreError>;
    /// Registered workers, most recently seen first, at most `limit`.
    async fn recent_workers(&self, limit: i64) -> Result<Vec<WorkerRow>, StoreError>;
}

/// One page of a newest-first call listing: at most `limit` calls strictly before the cursor
/// `(created_ms, id)` (keyset paging: stable while new calls arrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallPage {
    /// `(created_ms, id)` of the last call of the previous page; `None` = the newest.
    pub before: Option<(i64, String)>,
    /// Most calls returned.
    pub limit: i64,
}

/// What the overview charts need of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSample {
    /// Accept time.
    pub created_ms: i64,
    /// Settle time (none while queued or leased).
    pub completed_ms: Option<i64>,
    /// Where the call is.
    pub status: CallStatus,
    /// micro-USD charged to the key (its `settle` ledger line; 0 before settling).
    pub charged: i64,
}

/// Most entries of each [`LookupCache`] map (it is emptied when full).
pub const MAX_CACHED_LOOKUPS: usize = 10_000;

/// Rows read on every call that change rarely, kept in memory. The writes that change them
/// ([`Backend::set_active`], [`Backend::revoke`], a chain project's upsert) forget them; a
/// generation counter keeps a read that raced such a write from caching what it read before the
/// write. On SQLite every write goes through this process (one coordinator process per database
/// file); on PostgreSQL the writes of every replica are announced to the others, and the cache is
/// used only while this replica hears the announcements (`db/pg_listen.rs`).
#[derive(Debug, Default)]
pub(crate) struct LookupCache {
    inner: std::sync::Mutex<Lookups>,
}

#[derive(Debug, Default)]
struct Lookups {
    generation: u64,
    projects: std::collections::HashMap<(String, String), ProjectRow>,
    keys: std::collections::HashMap<(String, i64), KeyRow>,
}

impl LookupCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lookups> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// The generation to pass to the `remember_*` methods after reading.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }
    pub fn project(&self, owner: &str, name: &str) -> Option<ProjectRow> {
        self.lock().projects.get(&(owner.to_owned(), name.to_owned())).cloned()
    }
    pub fn key(&self, owner: &str, nonce: i64) -> Option<KeyRow> {
        self.lock().keys.get(&(owner.to_owned(), nonce)).cloned()
    }
    pub fn remember_project(&self, generation: u64, p: &ProjectRow) {
        let mut l = self.lock();
        if l.generation == generation {
            if l.projects.len() >= MAX_CACHED_LOOKUPS {
                l.projects.clear();
            }
            l.projects.insert((p.owner.clone(), p.name.clone()), p.clone());
        }
    }
    pub fn remember_key(&self, generation: u64, k: &KeyRow) {
        let mut l = self.lock();
        if l.generation == generation {
            if l.keys.len() >= MAX_CACHED_LOOKUPS {
                l.keys.clear();
            }
            l.keys.insert((k.owner.clone(), k.nonce), k.clone());
        }
    }
    /// Forgets every project (after a write that changed one).
    pub fn forget_projects(&self) {
        let mut l = self.lock();
        l.generation += 1;
        l.projects.clear();
    }
    /// Forgets a key (after a write that changed it).
    pub fn forget_key(&self, owner: &str, nonce: i64) {
        let mut l = self.lock();
        l.generation += 1;
        l.keys.remove(&(owner.to_owned(), nonce));
    }
    /// Forgets what `change` changed.
    pub fn forget(&self, change: &LookupChange) {
        match change {
            LookupChange::Projects => self.forget_projects(),
            LookupChange::Key { owner, nonce } => self.forget_key(owner, *nonce),
        }
    }
    /// Forgets everything (the changes of other replicas may have been missed).
    pub fn forget_all(&self) {
        let mut l = self.lock();
        l.generation += 1;
        l.projects.clear();
        l.keys.clear();
    }
}

/// A write that changed rows a [`LookupCache`] keeps: announced to the other replicas on
/// PostgreSQL (`NOTIFY`, in the writing transaction; see `db/pg_listen.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupChange {
    /// A project's active version, grants or allowlist.
    Projects,
    /// A payment key (revoked).
    Key { owner: String, nonce: i64 },
}

impl LookupChange {
    /// The notification's payload: `p`, or `k:<nonce>:<owner>`.
    pub fn payload(&self) -> String {
        match self {
            LookupChange::Projects => "p".into(),
            LookupChange::Key { owner, nonce } => format!("k:{nonce}:{owner}"),
        }
    }
    /// The change a payload announces (`None`: not one this version knows; forget everything).
    pub fn parse(payload: &str) -> Option<Self> {
        if payload == "p" {
            return Some(LookupChange::Projects);
        }
        let (nonce, owner) = payload.strip_prefix("k:")?.split_once(':')?;
        Some(LookupChange::Key { owner: owner.to_owned(), nonce: nonce.parse().ok()? })
    }
}

/// Decodes a JSON array of strings stored as text.
pub(crate) fn from_json_text<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The row a settlement returned (read with [`sql::settled_call_columns!`], its `result` NULL)
/// with the result the settlement wrote: the row as it now is in the database.
pub(crate) fn with_result(mut row: CallRow, f: &Finish) -> CallRow {
    row.result = Some(f.result.clone());
    row
}

/// Encodes a value (a list, a settled result) as the JSON text stored in a column. The values
/// stored this way hold no maps with non-string keys, so serializing cannot fail.
pub(crate) fn to_json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("column values serialize to JSON")
}

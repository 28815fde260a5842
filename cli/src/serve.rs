//! `outlayer serve` (coordinator + worker in one process), `outlayer coordinator` and
//! `outlayer worker`: the HTTPS path of OutLayer.
//!
//! Configuration flows from flags (each with an `OUTLAYER_*` environment variable) into typed
//! configs; the libraries never read the environment.

use anyhow::Context;
use outlayer_attest::{Allowlist, TcbStatus};
use outlayer_coordinator::writes::GuestStorage;
use outlayer_coordinator::{AttestationConfig, CoordinatorConfig, DatabaseConfig, PricingConfig, RateLimitConfig};
use outlayer_host::{Runtime, RuntimeConfig};
use outlayer_storage::{PostgresStorage, SqliteStorage, StorageBackend};
use outlayer_worker::{Backends, QuoteSource, WorkerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Options of the coordinator (API server and job queue).
#[derive(clap::Args, Clone)]
pub struct CoordinatorOpts {
    /// Address to listen on.
    #[arg(long, env = "OUTLAYER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database: a SQLite file path (embedded default) or a `postgres://` URL.
    #[arg(long, env = "OUTLAYER_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// PostgreSQL schema to use (created if missing).
    #[arg(long, env = "OUTLAYER_DATABASE_SCHEMA")]
    database_schema: Option<String>,
    /// Redis URL for wake-ups and rate limits across coordinator replicas.
    #[arg(long, env = "OUTLAYER_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Bearer token of the operator: grants credit to any payment key (POST /admin/grants), settles
    /// or rejects owners' withdrawals.
    #[arg(long, env = "OUTLAYER_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Bearer token workers must present to get a challenge and register, on top of attestation
    /// (unset: attestation alone decides; an empty token refuses to start).
    #[arg(long, env = "OUTLAYER_WORKER_TOKEN", hide_env_values = true)]
    worker_token: Option<String>,
    /// Bearer token `outlayer builder` processes present (unset: no remote builder may connect;
    /// `serve`'s in-process builder needs none).
    #[arg(long, env = "OUTLAYER_BUILDER_TOKEN", hide_env_values = true)]
    builder_token: Option<String>,
    /// The measurement allowlist workers' TDX quotes must match: a JSON file
    /// `[{"mrtd": hex, "rtmr0": hex, "rtmr1": hex, "rtmr2": hex, "rtmr3": hex}, ...]`.
    #[arg(long, env = "OUTLAYER_MEASUREMENTS")]
    measurements: Option<PathBuf>,
    /// TCB statuses accepted, comma-separated (e.g. `UpToDate,SWHardeningNeeded`).
    #[arg(long, env = "OUTLAYER_ACCEPT_TCB", value_delimiter = ',', default_value = "UpToDate")]
    accept_tcb: Vec<String>,
    /// Accept dev evidence from workers: NOT a TEE, results are not TEE-backed. Development only
    /// (`outlayer serve` always turns it on and says so).
    #[arg(long, env = "OUTLAYER_ALLOW_DEV_ATTESTATION")]
    allow_dev_attestation: bool,
    /// Allow `POST /owners {owner}`: owners under any name with no proof. Development only
    /// (`outlayer serve` turns it on and says so); otherwise owners sign in with a NEAR account.
    #[arg(long, env = "OUTLAYER_DEV_OWNERS")]
    dev_owners: bool,
    /// The NEP-413 recipient of sign-in challenges (the name a wallet shows the user).
    #[arg(long, env = "OUTLAYER_AUTH_RECIPIENT", default_value = outlayer_coordinator::signin::DEFAULT_RECIPIENT)]
    auth_recipient: String,
    /// NEAR JSON-RPC endpoint sign-in checks access keys with (default: the --network's public RPC).
    #[arg(long, env = "OUTLAYER_AUTH_RPC_URL", hide_env_values = true)]
    auth_rpc_url: Option<String>,
    /// NEAR JSON-RPC endpoint the coordinator reads the OutLayer contract through (with
    /// --near-contract).
    #[arg(long, env = "OUTLAYER_NEAR_RPC", hide_env_values = true, requires = "near_contract")]
    near_rpc: Option<String>,
    /// The OutLayer contract whose projects this coordinator serves over HTTPS (synced at final
    /// finality; the chain is the record).
    #[arg(long, env = "OUTLAYER_NEAR_CONTRACT", requires = "near_rpc")]
    near_contract: Option<String>,
    /// The first block the deposit watcher reads for the contract's payment-key top-ups when the
    /// database has no cursor yet (default: the final block at the first start; later starts
    /// resume from the cursor).
    #[arg(long, env = "OUTLAYER_NEAR_DEPOSITS_FROM", requires = "near_contract")]
    near_deposits_from: Option<u64>,
    /// Milliseconds between two syncs of the contract's projects.
    #[arg(long, env = "OUTLAYER_REGISTRY_INTERVAL_MS", default_value_t = outlayer_coordinator::config::DEFAULT_REGISTRY_INTERVAL.as_millis() as u64)]
    registry_interval_ms: u64,
    /// TEST-ONLY: a loopback `ip:port` a chain version's source_url may name (plain http); repeatable.
    /// Never set in production (said on stderr).
    #[arg(long = "wasm-fetch-admit-loopback-for-tests", value_name = "HOST:PORT")]
    wasm_fetch_admit_loopback_for_tests: Vec<SocketAddr>,
    /// NEAR network id given to guests.
    #[arg(long, env = "OUTLAYER_NETWORK", default_value = "testnet")]
    network: String,
    /// Fee charged per executed call, micro-USD.
    #[arg(long, env = "OUTLAYER_BASE_FEE", default_value_t = PricingConfig::default().base_fee)]
    base_fee: u64,
    /// Price of a million instructions, micro-USD.
    #[arg(long, env = "OUTLAYER_PRICE_PER_MILLION_INSTRUCTIONS", default_value_t = PricingConfig::default().per_million_instructions)]
    price_per_million_instructions: u64,
    /// Price of a second of wall time, micro-USD.
    #[arg(long, env = "OUTLAYER_PRICE_PER_SECOND", default_value_t = PricingConfig::default().per_second)]
    price_per_second: u64,
    /// Seconds a job lease lasts without a heartbeat (a dead worker's job is re-leased after it).
    #[arg(long, env = "OUTLAYER_LEASE_SECONDS", default_value_t = outlayer_coordinator::config::DEFAULT_LEASE_DURATION.as_secs())]
    lease_seconds: u64,
    /// Calls per second allowed per payment key.
    #[arg(long, env = "OUTLAYER_RATE_LIMIT", default_value_t = RateLimitConfig::default().max_calls)]
    rate_limit: u32,
    #[command(flatten)]
    hardening: crate::hardening::HardeningOpts,
}

/// Options of a worker.
#[derive(clap::Args, Clone)]
pub struct WorkerOpts {
    /// Jobs run at once.
    #[arg(long, env = "OUTLAYER_CONCURRENCY", default_value_t = outlayer_worker::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Guest storage: a SQLite file path or a `postgres://` URL (serve: `storage.db` in the data
    /// directory, or the coordinator's PostgreSQL database).
    #[arg(long, env = "OUTLAYER_STORAGE_DATABASE", hide_env_values = true)]
    storage_database: Option<String>,
    /// Hex 32-byte key encrypting guest storage at rest (default: created in the data directory).
    #[arg(long, env = "OUTLAYER_STORAGE_KEY", hide_env_values = true)]
    storage_key: Option<String>,
    /// NEAR JSON-RPC endpoint for the rpc capability.
    #[arg(long, env = "OUTLAYER_RPC_URL", default_value = "https://rpc.testnet.near.org", hide_env_values = true)]
    rpc_url: String,
    /// TEST-ONLY: a loopback `ip:port` that guests granted http (with it on their allowlist) may
    /// reach despite the SSRF rules; repeatable. Never set in production (said on stderr).
    #[arg(long = "http-admit-loopback-for-tests", value_name = "HOST:PORT")]
    http_admit_loopback_for_tests: Vec<std::net::SocketAddr>,
}

/// `outlayer serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    coordinator: CoordinatorOpts,
    #[command(flatten)]
    worker: WorkerOpts,
    /// Where local state lives (database, keys, caches).
    #[arg(long, env = "OUTLAYER_DATA_DIR", default_value = ".outlayer")]
    data_dir: PathBuf,
    /// Also serve the conformance endpoint (`POST /conformance/run`) on this address, so
    /// `outlayer conformance --host URL` can check this host. It runs any wasm with any grant:
    /// development and testing only, never on a production worker.
    #[arg(long, env = "OUTLAYER_CONFORMANCE_LISTEN")]
    conformance_listen: Option<SocketAddr>,
    /// Where the embedded keystore listens (dev attestation, master in DATA_DIR/keystore/).
    #[arg(long, env = "OUTLAYER_KEYSTORE_LISTEN", default_value = "127.0.0.1:0")]
    keystore_listen: SocketAddr,
    #[command(flatten)]
    builder: Box<crate::builder::BuilderOpts>,
}

/// `outlayer coordinator`.
#[derive(clap::Args)]
pub struct CoordinatorArgs {
    #[command(flatten)]
    coordinator: CoordinatorOpts,
    /// The keystore developers seal secrets for (shown by `GET /projects/{owner}/{name}/secrets`).
    /// The keystore must trust this coordinator's ticket key, printed at start.
    #[arg(long, env = "OUTLAYER_KEYSTORE_URL")]
    keystore_url: Option<String>,
    /// Guest storage — the database this coordinator's workers read (`--storage-database` of
    /// `outlayer worker`): a call's storage writes are applied there with its settled result
    /// (default: the coordinator's PostgreSQL database; on SQLite, none: workers then commit
    /// their writes themselves).
    #[arg(long, env = "OUTLAYER_STORAGE_DATABASE", hide_env_values = true)]
    storage_database: Option<String>,
    #[arg(long, env = "OUTLAYER_DATA_DIR", default_value = ".outlayer")]
    data_dir: PathBuf,
}

/// `outlayer worker`: the HTTPS path (`--coordinator`), the on-chain path (`--near-contract`),
/// or both.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// Coordinator base URL (the HTTPS path).
    #[arg(long, env = "OUTLAYER_COORDINATOR_URL")]
    coordinator: Option<String>,
    #[command(flatten)]
    near: NearOpts,
    /// Bearer token for registration, if the coordinator requires one.
    #[arg(long, env = "OUTLAYER_WORKER_TOKEN", hide_env_values = true)]
    worker_token: Option<String>,
    /// The keystore (`outlayer keystore`): secrets, per-project storage keys and the VRF key,
    /// released to this worker after it attests itself. Without one, jobs with secrets fail and
    /// guest storage is encrypted with the operator's --storage-key.
    #[arg(long, env = "OUTLAYER_KEYSTORE_URL")]
    keystore: Option<String>,
    /// Where the registration evidence comes from: `configfs` (Linux configfs-tsm in a TDX
    /// guest), `dstack` (the dstack guest agent) or `dev` (NOT a TEE; only a coordinator started
    /// with --allow-dev-attestation accepts it).
    #[arg(long, env = "OUTLAYER_QUOTE_PROVIDER", value_enum, default_value_t = QuoteProviderArg::Configfs)]
    quote_provider: QuoteProviderArg,
    /// Collateral for configfs / dstack quotes: dcap-qvl `QuoteCollateralV3` JSON, refreshed
    /// from Intel PCS / a PCCS before its `nextUpdate`.
    #[arg(long, env = "OUTLAYER_COLLATERAL")]
    collateral: Option<PathBuf>,
    #[command(flatten)]
    worker: WorkerOpts,
    #[arg(long, env = "OUTLAYER_DATA_DIR", default_value = ".outlayer")]
    data_dir: PathBuf,
}

/// `--quote-provider`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteProviderArg {
    /// Linux configfs-tsm.
    Configfs,
    /// The dstack guest agent.
    Dstack,
    /// Dev evidence: not a TEE.
    Dev,
}

impl QuoteProviderArg {
    pub(crate) fn source(self, collateral: Option<PathBuf>) -> QuoteSource {
        match self {
            Self::Configfs => QuoteSource::Configfs { collateral },
            Self::Dstack => QuoteSource::Dstack { collateral },
            Self::Dev => QuoteSource::Dev,
        }
    }
}

/// The first line `outlayer serve` prints: dev mode, said aloud.
pub const DEV_MODE_BANNER: &str = "DEV MODE: workers are not attested (--allow-dev-attestation); results are not TEE-backed";

/// Options of the on-chain path: requests from the OutLayer contract, resolved with
/// `resolve_execution` signed by this worker's registered key.
#[derive(clap::Args, Clone)]
pub struct NearOpts {
    /// The OutLayer contract account to serve.
    #[arg(long, env = "OUTLAYER_NEAR_CONTRACT")]
    near_contract: Option<String>,
    /// NEAR JSON-RPC endpoint the on-chain path reads and writes through.
    #[arg(long, env = "OUTLAYER_NEAR_RPC", default_value = "https://rpc.testnet.near.org", hide_env_values = true)]
    near_rpc: String,
    /// Account whose registered function-call key signs `resolve_execution` (default: the contract).
    #[arg(long, env = "OUTLAYER_NEAR_ACCOUNT")]
    near_account: Option<String>,
    /// The signing key: a NEAR credentials JSON file (`private_key`) or a file holding `ed25519:…`.
    #[arg(long, env = "OUTLAYER_NEAR_KEY_FILE")]
    near_key_file: Option<PathBuf>,
    /// Where the block cursor and in-flight resolutions are kept (default: data dir).
    #[arg(long, env = "OUTLAYER_NEAR_CURSOR")]
    near_cursor: Option<PathBuf>,
    /// Network name given to guests.
    #[arg(long, env = "OUTLAYER_NEAR_NETWORK", default_value = "testnet")]
    near_network: String,
    /// Milliseconds between polls of the chain.
    #[arg(long, env = "OUTLAYER_NEAR_POLL_MS", default_value_t = 2000)]
    near_poll_ms: u64,
    /// IPFS gateway for `ipfs://` wasm URLs.
    #[arg(long, env = "OUTLAYER_IPFS_GATEWAY")]
    ipfs_gateway: Option<String>,
    /// Coordinator whose builder API builds `GitHub` sources (`POST /builds`); without it such
    /// requests are resolved as failures.
    #[arg(long, env = "OUTLAYER_NEAR_BUILDER_URL")]
    near_builder_url: Option<String>,
    /// An owner token of that coordinator (`POST /builds` needs one).
    #[arg(long, env = "OUTLAYER_NEAR_BUILDER_TOKEN", hide_env_values = true, requires = "near_builder_url")]
    near_builder_token: Option<String>,
}

fn near_key(path: &Path) -> anyhow::Result<outlayer_near::tx::SecretKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let key = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => v["private_key"].as_str().or(v["secret_key"].as_str()).context("credentials JSON has no private_key")?.to_string(),
        Err(_) => text.trim().to_string(),
    };
    key.parse().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn near_config(o: &NearOpts, contract: &str, data_dir: &Path) -> anyhow::Result<outlayer_worker::near::NearWorkerConfig> {
    let key_file = o.near_key_file.as_deref().context("--near-key-file is required with --near-contract")?;
    let account = o.near_account.clone().unwrap_or_else(|| contract.to_string());
    let cursor = o.near_cursor.clone().unwrap_or_else(|| data_dir.join("near-cursor.json"));
    let mut c =
        outlayer_worker::near::NearWorkerConfig::new(&o.near_rpc, contract, account, near_key(key_file)?, cursor, data_dir.join("wasm"));
    c.poll_interval = Duration::from_millis(o.near_poll_ms.max(100));
    c.network = o.near_network.clone();
    c.ipfs_gateway = o.ipfs_gateway.clone();
    c.grants = outlayer_worker::near::NearGrants { storage: true, rpc: true, vrf: true };
    if let Some(url) = &o.near_builder_url {
        let token = o.near_builder_token.clone().context("--near-builder-token is required with --near-builder-url")?;
        c.builder = Some(outlayer_worker::near::build::BuilderLink { url: url.clone(), token });
    }
    Ok(c)
}

fn database(spec: &str, schema: Option<String>) -> DatabaseConfig {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        DatabaseConfig::Postgres { url: spec.to_string(), schema }
    } else {
        DatabaseConfig::Sqlite { path: PathBuf::from(spec) }
    }
}

/// The measurement allowlist in `path` (none: empty).
pub(crate) fn allowlist(path: Option<&Path>) -> anyhow::Result<Allowlist> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Allowlist::from_json(&text).with_context(|| format!("{} is not a measurement allowlist", path.display()))
        }
        None => Ok(Allowlist::default()),
    }
}

/// `--accept-tcb` values as TCB statuses.
pub(crate) fn tcb_statuses(names: &[String]) -> anyhow::Result<Vec<TcbStatus>> {
    names
        .iter()
        .map(|s| {
            serde_json::from_value::<TcbStatus>(serde_json::Value::String(s.trim().to_owned()))
                .map_err(|_| anyhow::anyhow!("--accept-tcb: unknown TCB status {s:?} (e.g. UpToDate, SWHardeningNeeded)"))
        })
        .collect()
}

fn attestation_config(o: &CoordinatorOpts) -> anyhow::Result<AttestationConfig> {
    Ok(AttestationConfig {
        allowed_measurements: allowlist(o.measurements.as_deref())?,
        accepted_tcb_statuses: tcb_statuses(&o.accept_tcb)?,
        allow_dev: o.allow_dev_attestation,
        ..AttestationConfig::default()
    })
}

fn coordinator_config(o: &CoordinatorOpts, data_dir: &Path) -> anyhow::Result<CoordinatorConfig> {
    let spec = o.database.clone().unwrap_or_else(|| data_dir.join("outlayer.db").display().to_string());
    let mut config = CoordinatorConfig {
        database: database(&spec, o.database_schema.clone()),
        redis_url: o.redis_url.clone(),
        pricing: PricingConfig {
            base_fee: o.base_fee,
            per_million_instructions: o.price_per_million_instructions,
            per_second: o.price_per_second,
            ..PricingConfig::default()
        },
        rate_limit: RateLimitConfig { max_calls: o.rate_limit, window: Duration::from_secs(1) },
        admin_token: o.admin_token.clone(),
        worker_registration_token: o.worker_token.clone(),
        builder_token: o.builder_token.clone(),
        attestation: attestation_config(o)?,
        network: o.network.clone(),
        lease_duration: Duration::from_secs(o.lease_seconds.max(1)),
        ..CoordinatorConfig::default()
    };
    config.signin = crate::login::signin_config(o.dev_owners, &o.auth_recipient, o.auth_rpc_url.as_deref(), &o.network);
    if let (Some(rpc), Some(contract)) = (&o.near_rpc, &o.near_contract) {
        let mut near = outlayer_coordinator::config::NearChainConfig::new(rpc, contract);
        near.registry_interval = Duration::from_millis(o.registry_interval_ms.max(100));
        for addr in &o.wasm_fetch_admit_loopback_for_tests {
            if !addr.ip().is_loopback() {
                anyhow::bail!("--wasm-fetch-admit-loopback-for-tests admits loopback addresses only, not {addr}");
            }
            eprintln!("warning: TEST-ONLY --wasm-fetch-admit-loopback-for-tests: chain versions may be fetched from http://{addr}");
        }
        near.wasm_fetch_admit_loopback_for_tests = o.wasm_fetch_admit_loopback_for_tests.clone();
        config.near = Some(near);
        // Payment keys are credited from the contract's top_up_payment_key deposits.
        let mut deposits = outlayer_coordinator::deposits::DepositsConfig::new(rpc, contract);
        deposits.start_height = o.near_deposits_from;
        config.deposits = Some(deposits);
    }
    o.hardening.apply(&mut config);
    // The key that signs keystore tickets; the keystore is told its public half.
    config.ticket_key = Some(Arc::new(crate::keys::load_or_create(&data_dir.join("ticket.key"))?));
    // Verified results whose settling write failed (disk full, database down) survive a restart.
    config.held_spool = Some(data_dir.join("held"));
    Ok(config)
}

fn storage_key(opts: &WorkerOpts, data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    let text = match &opts.storage_key {
        Some(k) => k.clone(),
        None => crate::keys::load_or_create_secret(&data_dir.join("storage.key"))?,
    };
    parse_storage_key(&text)
}

/// The operator storage key data may have been written under before a keystore was used: the
/// given --storage-key, or an existing DATA_DIR/storage.key (never created here).
fn legacy_storage_key(opts: &WorkerOpts, data_dir: &Path) -> anyhow::Result<Option<[u8; 32]>> {
    let path = data_dir.join("storage.key");
    match &opts.storage_key {
        Some(k) => Ok(Some(parse_storage_key(k)?)),
        None if path.exists() => Ok(Some(parse_storage_key(&crate::keys::load_or_create_secret(&path)?)?)),
        None => Ok(None),
    }
}

fn parse_storage_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim()).context("--storage-key must be hex")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("--storage-key must be 32 bytes"))
}

/// The worker's backends. With `keystore` (its URL and this worker's evidence), guest storage
/// is encrypted per project with keys from the keystore (values written under the operator
/// key stay readable and move on their next write), secrets and the VRF key come from it.
async fn backends(opts: &WorkerOpts, storage_db: &str, data_dir: &Path, keystore: Option<(&str, QuoteSource)>) -> anyhow::Result<Backends> {
    let key = crate::keys::load_or_create(&data_dir.join("worker.key"))?;
    let inner = guest_store(storage_db).await?;
    let mut backends = match keystore {
        Some((url, quote)) => {
            let link = outlayer_worker::keys::KeystoreLink::new(url, Arc::new(key.clone()), quote)?;
            Backends::new(key).with_keystore(link, Some(inner), legacy_storage_key(opts, data_dir)?)
        }
        None => Backends::new(key).with_sealed_storage(inner, storage_key(opts, data_dir)?),
    }
    .with_rpc(opts.rpc_url.clone());
    for addr in &opts.http_admit_loopback_for_tests {
        if !addr.ip().is_loopback() {
            anyhow::bail!("--http-admit-loopback-for-tests admits loopback addresses only, not {addr}");
        }
        eprintln!("warning: TEST-ONLY --http-admit-loopback-for-tests: granted http may reach {addr} (SSRF protection bypassed for it)");
    }
    backends.caps.http_test_admit = opts.http_admit_loopback_for_tests.clone();
    Ok(backends)
}

/// The guest store at `storage_db`: a `postgres://` URL or a SQLite file (created 0600).
async fn guest_store(storage_db: &str) -> anyhow::Result<Arc<dyn StorageBackend>> {
    Ok(if storage_db.starts_with("postgres://") || storage_db.starts_with("postgresql://") {
        Arc::new(PostgresStorage::connect(storage_db).await.context("connecting guest storage")?)
    } else {
        if let Some(dir) = Path::new(storage_db).parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Guest data: 0600 from creation (its -wal / -shm follow the file's mode).
        outlayer_coordinator::files::create_private_file(Path::new(storage_db))?;
        Arc::new(SqliteStorage::open(Path::new(storage_db)).await.context("opening guest storage")?)
    })
}

fn runtime(data_dir: &Path) -> anyhow::Result<Runtime> {
    Ok(Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..Default::default() })?)
}

/// Resolves once `true` is sent on the channel: one shutdown fanned out to several tasks.
async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

pub fn serve(mut args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The embedded worker has no TEE: dev attestation is on, and the first line says so.
    args.coordinator.allow_dev_attestation = true;
    eprintln!("{DEV_MODE_BANNER}");
    // Local owners need no NEAR account in the embedded mode (also said on its first lines).
    args.coordinator.dev_owners = true;
    eprintln!("{}", crate::login::DEV_OWNERS_BANNER);
    tokio::runtime::Runtime::new()?.block_on(async move {
        outlayer_coordinator::files::create_private_dir(&args.data_dir)?;
        let mut config = coordinator_config(&args.coordinator, &args.data_dir)?;
        let ticket_key = config.ticket_key.as_ref().expect("coordinator_config sets the ticket key").verifying_key();
        let (keystore_url, _keystore) =
            crate::keystore::embedded(&args.data_dir, ticket_key, args.keystore_listen, Some(&args.worker.rpc_url)).await?;
        config.keystore_url = Some(keystore_url.clone());
        // Guest storage never opens a second pool on the coordinator's SQLite file (whose one
        // writer owns it): it gets a file of its own. On PostgreSQL it shares the database
        // (its own tables and migrations).
        let storage_db = args.worker.storage_database.clone().unwrap_or_else(|| match &config.database {
            DatabaseConfig::Sqlite { .. } => args.data_dir.join("storage.db").display().to_string(),
            DatabaseConfig::Postgres { url, .. } => url.clone(),
        });
        // The worker's backends first: what they say (test-only flags) is said before the API answers.
        let backends = backends(&args.worker, &storage_db, &args.data_dir, Some((&keystore_url, QuoteSource::Dev))).await?;
        // A call's guest storage writes are applied with its settled result, to the store the
        // embedded worker reads.
        config.guest_storage = backends.project_storage.as_ref().map(|p| GuestStorage(p.inner.clone()));
        let state = outlayer_coordinator::build_state(config).await.context("starting the coordinator")?;
        let listener =
            tokio::net::TcpListener::bind(args.coordinator.listen).await.with_context(|| format!("binding {}", args.coordinator.listen))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(outlayer_coordinator::run(listener, state.clone(), stopped(stop_rx.clone())));

        let (builder_state, builder_stop) = (state.clone(), stop_rx.clone());
        // The worker talks to the coordinator in this process directly (same protocol as
        // `outlayer worker` over HTTP, without the loopback hop).
        // It registers through the same attestation check as any worker, with dev evidence.
        let source = outlayer_coordinator::embedded::EmbeddedSource::register_dev(state, &backends.key).await?;
        let mut wcfg = WorkerConfig::new(&url, args.data_dir.join("wasm"));
        wcfg.concurrency = args.worker.concurrency;
        let runtime = runtime(&args.data_dir)?;
        if let Some(addr) = args.conformance_listen {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            eprintln!("conformance endpoint (development only) at http://{}", listener.local_addr()?);
            let host = Arc::new(outlayer_conformance::InProcessHost::with_runtime(runtime.clone()));
            let app = outlayer_conformance::server::router(host);
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        let worker =
            tokio::spawn(
                async move { outlayer_worker::run_with_source(Arc::new(source), &wcfg, runtime, backends, stopped(stop_rx)).await },
            );

        // Builds from source, in process, in the same sandbox as `outlayer builder`.
        let builder = crate::builder::embedded(builder_state, &args.builder, &args.data_dir, stopped(builder_stop)).await;
        print_welcome(&url, &keystore_url, &args.data_dir);
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        worker.await?.context("worker")?;
        if let Some(builder) = builder {
            let _ = builder.await;
        }
        server.await?.context("coordinator")?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn coordinator(args: CoordinatorArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        outlayer_coordinator::files::create_private_dir(&args.data_dir)?;
        let mut config = coordinator_config(&args.coordinator, &args.data_dir)?;
        config.keystore_url = args.keystore_url.clone();
        let storage_db = args.storage_database.clone().or_else(|| match &config.database {
            DatabaseConfig::Postgres { url, .. } => Some(url.clone()),
            DatabaseConfig::Sqlite { .. } => None,
        });
        if let Some(db) = &storage_db {
            config.guest_storage = Some(GuestStorage(guest_store(db).await?));
        } else {
            eprintln!("no guest storage database (--storage-database): workers commit guest storage writes themselves");
        }
        if let Some(key) = &config.ticket_key {
            eprintln!("ticket key {} (start the keystore with --coordinator-key {0})", hex::encode(key.verifying_key().to_bytes()));
        }
        if config.attestation.allow_dev {
            eprintln!("{DEV_MODE_BANNER}");
        }
        if config.signin.dev_owners {
            eprintln!("{}", crate::login::DEV_OWNERS_BANNER);
        }
        if config.attestation.allowed_measurements.0.is_empty() {
            eprintln!("warning: no --measurements allowlist: no TDX worker can register");
        }
        let state = outlayer_coordinator::build_state(config).await?;
        let listener = tokio::net::TcpListener::bind(args.coordinator.listen).await?;
        eprintln!("OutLayer coordinator listening on http://{}", listener.local_addr()?);
        outlayer_coordinator::run(listener, state, shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        outlayer_coordinator::files::create_private_dir(&args.data_dir)?;
        let storage_db = args.worker.storage_database.clone().unwrap_or_else(|| args.data_dir.join("storage.db").display().to_string());
        if args.coordinator.is_none() && args.near.near_contract.is_none() {
            anyhow::bail!("give --coordinator URL (HTTPS path), --near-contract ACCOUNT (on-chain path), or both");
        }
        let quote = args.quote_provider.source(args.collateral.clone());
        let backends = backends(&args.worker, &storage_db, &args.data_dir, args.keystore.as_deref().map(|url| (url, quote))).await?;
        let runtime = runtime(&args.data_dir)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>> = Vec::new();
        if let Some(url) = &args.coordinator {
            let mut config = WorkerConfig::new(url, args.data_dir.join("wasm"));
            config.concurrency = args.worker.concurrency;
            config.registration_token = args.worker_token.clone();
            config.quote = args.quote_provider.source(args.collateral.clone());
            if args.quote_provider == QuoteProviderArg::Dev {
                eprintln!("DEV MODE: this worker registers with dev evidence (--quote-provider dev); its results are not TEE-backed");
            }
            eprintln!("OutLayer worker for {url} (public key {})", hex::encode(backends.key.verifying_key().to_bytes()));
            let (rt, b, stop) = (runtime.clone(), backends.clone(), stopped(stop_rx.clone()));
            tasks.push(tokio::spawn(async move { Ok(outlayer_worker::run(config, rt, b, stop).await?) }));
        }
        if let Some(contract) = &args.near.near_contract {
            let config = near_config(&args.near, contract, &args.data_dir)?;
            eprintln!("OutLayer on-chain worker for {contract} via {} (signing as {})", args.near.near_rpc, config.signer_account_id);
            let (rt, b, stop) = (runtime.clone(), backends.clone(), stopped(stop_rx.clone()));
            tasks.push(tokio::spawn(async move { Ok(outlayer_worker::near::run_near_worker(config, rt, b, stop).await?) }));
        }
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        for t in tasks {
            t.await??;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_welcome(url: &str, keystore: &str, data_dir: &Path) {
    let data = data_dir.display();
    // The commands use the binary that is running, not `cargo run` (which would start a second,
    // debug build of the workspace).
    let exe = std::env::current_exe().map(|p| shell_quote(&p.display().to_string())).unwrap_or_else(|_| "outlayer".into());
    eprintln!(
        r#"OutLayer is running at {url} (coordinator + worker; state in {data}/). Ctrl-C stops it.

Try it (in another terminal, from the repository root):

  WASM=$({exe} build guests/echo)
  TOKEN=$(curl -s -X POST {url}/owners -H 'content-type: application/json' -d '{{"owner":"alice"}}' | jq -r .token)
  curl -s -X POST {url}/projects -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{{"name":"echo"}}'
  curl -s -X POST {url}/projects/alice/echo/versions -H "authorization: Bearer $TOKEN" --data-binary @"$WASM"
  KEY=$(curl -s -X POST {url}/payment-keys -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{{"initial_balance":1000000}}' | jq -r .key)
  curl -s -X POST {url}/call/alice/echo -H "x-payment-key: $KEY" -H 'content-type: application/json' -d '{{"input":{{"hello":"world"}}}}'

Secrets (sealed here for the keystore at {keystore}; only an attested worker opens them):

  {exe} secrets seal --keystore {keystore} --scope 'project:alice/reader|alice|default' --json '{{"API_KEY":"s3cr3t"}}' > sealed.json
  curl -s -X POST {url}/projects -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{{"name":"reader"}}'
  curl -s -X POST {url}/projects/alice/reader/versions -H "authorization: Bearer $TOKEN" --data-binary @"$({exe} build guests/secret-reader)"
  curl -s -X PUT {url}/projects/alice/reader/secrets/default -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' --data-binary @sealed.json
  curl -s -X POST {url}/call/alice/reader -H "x-payment-key: $KEY" -H 'content-type: application/json' -d '{{"input":"API_KEY","secrets_ref":{{"profile":"default","account_id":"alice"}}}}'
"#
    );
}

/// `text` as one POSIX shell word.
fn shell_quote(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:@".contains(&b)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

//! `outlayer keystore`: the key service (see the `outlayer-keystore` crate), and the embedded
//! keystore of `outlayer serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use outlayer_attest::providers::{ProviderError, QuoteProvider};
use outlayer_attest::{Evidence, Policy};
use outlayer_keystore::chain::ContractReader;
use outlayer_keystore::conditions::RpcChain;
use outlayer_keystore::derive::HkdfDerivation;
use outlayer_keystore::master::{MasterSecret, Origin};
use outlayer_keystore::{Keystore, KeystoreConfig};
use outlayer_worker::QuoteSource;

use crate::serve::QuoteProviderArg;

/// `outlayer keystore` options.
#[derive(clap::Args)]
pub struct KeystoreArgs {
    /// Address to listen on.
    #[arg(long, env = "OUTLAYER_KEYSTORE_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The master secret's file: created (0600) on first start, read afterwards.
    #[arg(long, env = "OUTLAYER_KEYSTORE_MASTER_FILE", default_value = ".outlayer/keystore/master.key")]
    master_file: PathBuf,
    /// The master secret itself (64 hex characters) instead of the file.
    #[arg(long = "master", env = "OUTLAYER_KEYSTORE_MASTER", hide_env_values = true, conflicts_with = "join")]
    master_hex: Option<String>,
    /// Obtain the master secret from the running keystore at this URL (both sides attest),
    /// then keep it in --master-file.
    #[arg(long, env = "OUTLAYER_KEYSTORE_JOIN")]
    join: Option<String>,
    /// The ed25519 ticket key (hex) of a coordinator whose tickets are honoured; repeatable
    /// (`outlayer coordinator` prints its key at start).
    #[arg(long = "coordinator-key", env = "OUTLAYER_KEYSTORE_COORDINATOR_KEYS", value_delimiter = ',')]
    coordinator_keys: Vec<String>,
    /// NEAR JSON-RPC for access conditions and on-chain jobs.
    #[arg(long, env = "OUTLAYER_NEAR_RPC")]
    near_rpc: Option<String>,
    /// The `outlayer` contract on-chain jobs and their secrets are read from.
    #[arg(long, env = "OUTLAYER_NEAR_CONTRACT", requires = "near_rpc")]
    contract: Option<String>,
    /// Allowed measurement sets of workers (and replica keystores), JSON.
    #[arg(long, env = "OUTLAYER_MEASUREMENTS")]
    measurements: Option<PathBuf>,
    /// TCB statuses accepted.
    #[arg(long, env = "OUTLAYER_ACCEPT_TCB", value_delimiter = ',', default_value = "UpToDate")]
    accept_tcb: Vec<String>,
    /// DEV ONLY: accept dev evidence (not a TEE) from workers and replicas.
    #[arg(long, env = "OUTLAYER_ALLOW_DEV_ATTESTATION")]
    allow_dev_attestation: bool,
    /// Where this keystore's own evidence comes from (to answer and make replica joins).
    #[arg(long, env = "OUTLAYER_QUOTE_PROVIDER", value_enum, default_value_t = QuoteProviderArg::Configfs)]
    quote_provider: QuoteProviderArg,
    /// Collateral file for configfs / dstack quotes.
    #[arg(long, env = "OUTLAYER_COLLATERAL")]
    collateral: Option<PathBuf>,
}

/// A worker's [`QuoteSource`] as the keystore's quote provider.
pub struct SourceProvider(pub QuoteSource);

impl QuoteProvider for SourceProvider {
    fn evidence(&self, report_data: [u8; 64]) -> Result<Evidence, ProviderError> {
        self.0.evidence(report_data).map_err(|e| match e {
            outlayer_worker::EvidenceError::Provider(p) => p,
            other => ProviderError::Io { what: "quote source".into(), source: std::io::Error::other(other.to_string()) },
        })
    }
}

pub(crate) fn policy(measurements: Option<&Path>, accept_tcb: &[String], allow_dev: bool) -> anyhow::Result<Policy> {
    let mut allowed = crate::serve::allowlist(measurements)?;
    if allow_dev && !allowed.contains(&outlayer_protocol::DEV_MEASUREMENTS) {
        allowed.0.push(outlayer_protocol::DEV_MEASUREMENTS);
    }
    Ok(Policy { allowed_measurements: allowed, accepted_tcb_statuses: crate::serve::tcb_statuses(accept_tcb)?, allow_dev })
}

pub(crate) fn ticket_key(hex_key: &str) -> anyhow::Result<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("--coordinator-key {hex_key:?} is not 32 bytes of hex"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| anyhow::anyhow!("--coordinator-key {hex_key:?} is not an ed25519 key"))
}

/// The NEAR readers of a keystore, when an RPC endpoint is given.
pub(crate) fn near_readers(near_rpc: Option<&str>, contract: Option<&str>, config: &mut KeystoreConfig) {
    if let Some(rpc) = near_rpc {
        config.chain = Some(Arc::new(RpcChain::new(outlayer_near::RpcClient::new(rpc))));
        if let Some(contract) = contract {
            config.contract = Some(Arc::new(ContractReader::new(outlayer_near::RpcClient::new(rpc), contract)));
        }
    }
}

/// `outlayer keystore`.
pub fn main(args: KeystoreArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Runtime::new()?.block_on(async move {
        let policy = policy(args.measurements.as_deref(), &args.accept_tcb, args.allow_dev_attestation)?;
        if policy.allow_dev {
            eprintln!("DEV MODE: this keystore accepts dev evidence (--allow-dev-attestation): keys go to machines that are not TEEs");
        }
        if args.measurements.is_none() {
            eprintln!("warning: no --measurements allowlist: no TDX worker can open a session");
        }
        let quote: Arc<dyn QuoteProvider + Send + Sync> = Arc::new(SourceProvider(args.quote_provider.source(args.collateral.clone())));
        let (master, origin) = match (&args.master_hex, &args.join) {
            (Some(hex), _) => (MasterSecret::from_hex(hex)?, Origin::Environment),
            (None, Some(primary)) => {
                let master = outlayer_keystore::replica::join(primary, quote.as_ref(), &policy).await?;
                if args.master_file.exists() {
                    let (existing, _) = MasterSecret::load_or_create(&args.master_file)?;
                    anyhow::ensure!(
                        existing.expose() == master.expose(),
                        "{} holds another master secret than {primary}'s; move it away to join",
                        args.master_file.display()
                    );
                } else {
                    if let Some(dir) = args.master_file.parent() {
                        outlayer_coordinator::files::create_private_dir(dir)?;
                    }
                    outlayer_coordinator::files::write_private(&args.master_file, hex::encode(master.expose()).as_bytes())?;
                }
                (master, Origin::Replica(primary.clone()))
            }
            (None, None) => MasterSecret::load_or_create(&args.master_file)?,
        };
        let mut config = KeystoreConfig {
            policy,
            coordinators: args.coordinator_keys.iter().map(|k| ticket_key(k)).collect::<anyhow::Result<_>>()?,
            quote: Some(quote),
            ..KeystoreConfig::default()
        };
        near_readers(args.near_rpc.as_deref(), args.contract.as_deref(), &mut config);
        if config.coordinators.is_empty() {
            eprintln!("warning: no --coordinator-key: HTTPS jobs get no keys (tickets of no coordinator are honoured)");
        }
        let fingerprint = master.fingerprint();
        let keystore = Arc::new(Keystore::new(Arc::new(HkdfDerivation::new(master)), config));
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        eprintln!(
            "OutLayer keystore listening on http://{} (master {}, fingerprint {fingerprint}; VRF key {})",
            listener.local_addr()?,
            describe(&origin),
            keystore.vrf_key().public_key
        );
        axum::serve(listener, outlayer_keystore::api::router(keystore)).with_graceful_shutdown(crate::serve::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn describe(origin: &Origin) -> String {
    match origin {
        Origin::Created(p) => format!("created in {}", p.display()),
        Origin::Loaded(p) => format!("read from {}", p.display()),
        Origin::Environment => "from OUTLAYER_KEYSTORE_MASTER".into(),
        Origin::Replica(url) => format!("replicated from {url}"),
    }
}

/// The keystore `outlayer serve` embeds: dev attestation, the master in `data_dir/keystore/`,
/// trusting `coordinator`'s tickets, on a loopback port of its own. Returns its URL.
pub(crate) async fn embedded(
    data_dir: &Path,
    coordinator: VerifyingKey,
    listen: SocketAddr,
    near_rpc: Option<&str>,
) -> anyhow::Result<(String, Arc<Keystore>)> {
    let (master, _) = MasterSecret::load_or_create(&data_dir.join("keystore").join("master.key"))?;
    let mut config = KeystoreConfig {
        policy: policy(None, &["UpToDate".into()], true)?,
        coordinators: vec![coordinator],
        quote: Some(Arc::new(SourceProvider(QuoteSource::Dev))),
        ..KeystoreConfig::default()
    };
    near_readers(near_rpc, None, &mut config);
    let keystore = Arc::new(Keystore::new(Arc::new(HkdfDerivation::new(master)), config));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding the keystore on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = outlayer_keystore::api::router(keystore.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, keystore))
}

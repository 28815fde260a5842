//! # outlayer-keystore
//!
//! The keystore holds one root secret and derives every key from it ([`derive`]): an X25519
//! key per secrets accessor (developers seal secrets to its public key on their own machine), a
//! storage key per project, and the VRF key. It hands keys out only to attested workers, only
//! for jobs they prove are theirs, and only sealed to the worker's session key, so whoever
//! relays the answer (the coordinator, the network) sees ciphertext.
//!
//! # Flow
//!
//! 1. A worker asks `POST /sessions/challenge`, binds its ed25519 key and the challenge into its
//!    attestation evidence (the same binding as worker registration), signs a fresh X25519
//!    session key with its ed25519 key and opens a session (`POST /sessions`). The evidence is
//!    verified with `outlayer-attest` under the keystore's [`outlayer_attest::Policy`] (dev
//!    evidence only when dev mode is on, said at start-up). The answer carries the VRF key,
//!    sealed to the session.
//! 2. For each job it asks `POST /release` with a [`JobProof`]: the coordinator's signed
//!    [`outlayer_protocol::secrets::Ticket`] for an HTTPS job (it must name this worker's key),
//!    or the request id of an on-chain job (the keystore reads the pending request and the
//!    secrets record from the `outlayer` contract itself, [`chain`]).
//! 3. The keystore opens the job's sealed secrets with the accessor's key and the scope as
//!    associated data, evaluates their access condition for the account the job runs for
//!    ([`conditions`]), and answers the secrets and the project's storage key sealed to the
//!    session key. A failed condition is `access_denied` naming the condition.
//!
//! # Layout
//!
//! - [`master`]: the master secret (file 0600, environment, or a replica's join);
//! - [`derive`]: [`derive::KeyDerivation`], the boundary where NEAR MPC would plug in;
//! - [`sessions`]: challenges and attested sessions;
//! - [`conditions`]: access conditions evaluated against NEAR;
//! - [`chain`]: the contract reads for on-chain jobs;
//! - [`replica`]: a second keystore obtaining the master from a running one, both attested;
//! - [`api`]: the axum router; [`error`]: typed refusals.

#![warn(missing_docs)]

pub mod api;
pub mod chain;
pub mod conditions;
pub mod derive;
pub mod error;
pub mod master;
pub mod replica;
pub mod sessions;

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use outlayer_attest::providers::QuoteProvider;
use outlayer_attest::{Challenge, Policy, seal, vrf::VrfSecretKey};
use outlayer_protocol::secrets::{
    JobProof, OpenSession, ReleaseRequest, Released, ReleasedKeys, SealedSecrets, SealingKey, SecretAccessor, SecretScope, SecretsRef,
    SessionOpened, VrfKey,
};

use crate::chain::ContractReader;
use crate::conditions::{ChainView, EvalError};
use crate::derive::{KeyDerivation, Purpose};
pub use crate::error::KeystoreError;
use crate::sessions::Sessions;

/// Default port of `outlayer keystore`.
pub const DEFAULT_PORT: u16 = 8081;
/// The VRF suite served.
pub const VRF_SUITE: &str = "ECVRF-EDWARDS25519-SHA512-TAI";

/// What a keystore trusts and reads.
#[derive(Clone, Default)]
pub struct KeystoreConfig {
    /// What worker (and replica) evidence must satisfy. `allow_dev` only in dev mode.
    pub policy: Policy,
    /// The coordinators whose tickets are honoured (their ed25519 ticket keys).
    pub coordinators: Vec<VerifyingKey>,
    /// The `outlayer` contract, for on-chain jobs and their secrets.
    pub contract: Option<Arc<ContractReader>>,
    /// Where access conditions read NEAR (balances, tokens).
    pub chain: Option<Arc<dyn ChainView>>,
    /// This keystore's own evidence, to answer a replica's join.
    pub quote: Option<Arc<dyn QuoteProvider + Send + Sync>>,
    /// A fixed clock (unix ms) for tests; `None` = the system clock.
    pub fixed_now_ms: Option<i64>,
}

/// A running keystore's state.
pub struct Keystore {
    derivation: Arc<dyn KeyDerivation>,
    config: KeystoreConfig,
    sessions: Sessions,
    pub(crate) replica_challenges: Sessions,
    vrf: VrfSecretKey,
}

impl Keystore {
    /// A keystore deriving from `derivation`.
    pub fn new(derivation: Arc<dyn KeyDerivation>, config: KeystoreConfig) -> Self {
        let vrf = VrfSecretKey::from_seed(*derivation.derive(Purpose::Vrf, "default"));
        Self { derivation, config, sessions: Sessions::default(), replica_challenges: Sessions::default(), vrf }
    }

    /// The derivation in use.
    pub fn derivation(&self) -> &dyn KeyDerivation {
        self.derivation.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &KeystoreConfig {
        &self.config
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.config.fixed_now_ms.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
        })
    }

    /// The public key secrets for `accessor` are sealed to (`GET /pubkey`).
    pub fn sealing_key(&self, accessor: &SecretAccessor) -> SealingKey {
        let secret = self.derivation.derive(Purpose::Seal, &accessor.to_string());
        SealingKey { accessor: accessor.to_string(), public_key: hex::encode(seal::public_key(&secret)), seal_version: seal::VERSION }
    }

    /// The VRF public key (`GET /vrf/pubkey`).
    pub fn vrf_key(&self) -> VrfKey {
        VrfKey { public_key: hex::encode(self.vrf.public_key()), suite: VRF_SUITE.into() }
    }

    /// The storage key for a context (`project:{owner}/{name}` or `wasm:{sha256}`).
    pub fn storage_key(&self, context: &str) -> zeroize::Zeroizing<[u8; 32]> {
        self.derivation.derive(Purpose::Storage, context)
    }

    /// `POST /sessions/challenge`.
    pub fn challenge(&self) -> Result<Challenge, KeystoreError> {
        self.sessions.challenge((self.now_ms() / 1000) as u64)
    }

    /// `POST /sessions`: verifies the worker's attestation and opens a session; the VRF seed
    /// travels sealed to the session key.
    pub fn open_session(&self, req: &OpenSession) -> Result<SessionOpened, KeystoreError> {
        let (session_id, session) = self.sessions.open(req, &self.config.policy, self.now_ms())?;
        let vrf_seed = self.derivation.derive(Purpose::Vrf, "default");
        let sealed_vrf_seed = seal::seal(&session.session_key, &format!("session:{session_id}:vrf"), vrf_seed.as_ref())?;
        tracing::info!(%session_id, tee = ?session.verified.tee, worker_key = %hex::encode(session.worker_key), "keystore session opened");
        Ok(SessionOpened {
            session_id,
            expires_at_ms: session.expires_at_ms,
            vrf_public_key: hex::encode(self.vrf.public_key()),
            sealed_vrf_seed,
        })
    }

    /// `POST /release`: the keys of one job, sealed to the session.
    pub async fn release(&self, req: &ReleaseRequest) -> Result<Released, KeystoreError> {
        let now = self.now_ms();
        let session = self.sessions.get(&req.session_id, now)?;
        let job = match &req.proof {
            JobProof::Ticket(signed) => {
                let trusted = self
                    .config
                    .coordinators
                    .iter()
                    .find(|k| signed.issuer.eq_ignore_ascii_case(&hex::encode(k.to_bytes())))
                    .ok_or_else(|| KeystoreError::Ticket("not issued by a coordinator this keystore trusts".into()))?;
                let ticket = signed.verify(trusted, now).map_err(|e| KeystoreError::Ticket(e.to_string()))?;
                if !ticket.worker_key.eq_ignore_ascii_case(&hex::encode(session.worker_key)) {
                    return Err(KeystoreError::Ticket("the ticket names another worker".into()));
                }
                JobFacts {
                    job_id: ticket.job_id.clone(),
                    project_id: ticket.project_id.clone(),
                    wasm_sha256: ticket.wasm_sha256.clone(),
                    account: ticket.caller.clone(),
                    secrets: ticket.secrets.as_ref().map(|s| (s.reference.clone(), Some(s.record.clone()))),
                }
            }
            JobProof::Near { request_id } => {
                let contract = self.contract()?;
                let request = contract
                    .pending_request(*request_id)
                    .await
                    .map_err(|e| KeystoreError::Chain(e.to_string()))?
                    .filter(|r| !r.resolved)
                    .ok_or(KeystoreError::RequestNotPending(*request_id))?;
                JobFacts {
                    job_id: request_id.to_string(),
                    project_id: request.project_id,
                    wasm_sha256: request.wasm_sha256,
                    account: request.sender_id,
                    secrets: request.secrets_ref.map(|r| (r, None)),
                }
            }
        };
        let storage_scope = match &job.project_id {
            Some(project) => format!("project:{project}"),
            None => format!("wasm:{}", job.wasm_sha256),
        };
        let secrets = match &job.secrets {
            Some((reference, record)) => Some(self.open_secrets(&job, reference, record.clone()).await?),
            None => None,
        };
        let keys = ReleasedKeys {
            job_id: job.job_id.clone(),
            storage_key: hex::encode(self.storage_key(&storage_scope).as_ref()),
            storage_scope,
            secrets,
        };
        let plaintext = zeroize::Zeroizing::new(serde_json::to_vec(&keys).expect("keys serialize"));
        let sealed = seal::seal(&session.session_key, &format!("session:{}:job:{}", req.session_id, job.job_id), &plaintext)?;
        tracing::info!(job_id = %job.job_id, secrets = keys.secrets.is_some(), "keys released");
        Ok(Released { job_id: job.job_id, sealed })
    }

    fn contract(&self) -> Result<&ContractReader, KeystoreError> {
        self.config
            .contract
            .as_deref()
            .ok_or_else(|| KeystoreError::NotConfigured("this keystore reads no contract (--near-rpc and --contract)".into()))
    }

    /// Finds (on chain) or takes (from the ticket) the job's sealed record, opens it with the
    /// accessor's key and the scope, evaluates its condition and parses the map.
    async fn open_secrets(
        &self,
        job: &JobFacts,
        reference: &SecretsRef,
        record: Option<SealedSecrets>,
    ) -> Result<BTreeMap<String, String>, KeystoreError> {
        reference.validate().map_err(|e| KeystoreError::bad("invalid_secrets_ref", e.to_string()))?;
        let wasm = SecretAccessor::Wasm { sha256: job.wasm_sha256.clone() };
        let project = job.project_id.clone().map(|project_id| SecretAccessor::Project { project_id });
        let (accessor, record) = match record {
            // HTTPS: the coordinator keeps records per project (per component for none).
            Some(record) => (project.unwrap_or(wasm), record),
            // On chain: the project's record first, then the component's (the contract's order).
            None => {
                let contract = self.contract()?;
                let mut found = None;
                for accessor in project.into_iter().chain([wasm]) {
                    let stored = contract
                        .secrets(&reference.account_id, &accessor, &reference.profile)
                        .await
                        .map_err(|e| KeystoreError::Chain(e.to_string()))?;
                    if let Some(record) = stored {
                        found = Some((accessor, record));
                        break;
                    }
                }
                found.ok_or_else(|| {
                    KeystoreError::SecretsNotFound(format!(
                        "no secrets of {} with profile {} for this project or component",
                        reference.account_id, reference.profile
                    ))
                })?
            }
        };
        // Without NEAR, conditions that read nothing (whitelist, account pattern) still decide;
        // one whose result depends on a read is refused as not configured.
        let chain: &dyn ChainView = self.config.chain.as_deref().unwrap_or(&NoChain);
        match conditions::evaluate(&record.access, &job.account, chain).await {
            Ok(()) => {}
            Err(EvalError::Denied(d)) => return Err(KeystoreError::AccessDenied { condition: d.condition, message: d.message }),
            Err(EvalError::Chain(_)) if self.config.chain.is_none() => {
                return Err(KeystoreError::NotConfigured("this access condition reads NEAR: start the keystore with --near-rpc".into()));
            }
            Err(EvalError::Chain(e)) => return Err(KeystoreError::Chain(e.to_string())),
        }
        let scope = SecretScope::new(accessor.clone(), reference);
        let secret = self.derivation.derive(Purpose::Seal, &accessor.to_string());
        let plain = zeroize::Zeroizing::new(seal::open(&secret, &scope.to_string(), &record.sealed)?);
        serde_json::from_slice(&plain).map_err(|_| KeystoreError::SecretsNotAMap)
    }
}

/// NEAR for a keystore started without it: every read fails.
struct NoChain;

#[async_trait::async_trait]
impl ChainView for NoChain {
    async fn near_balance(&self, _: &str) -> Result<u128, conditions::ChainError> {
        Err(conditions::ChainError::Rpc("no NEAR RPC configured".into()))
    }

    async fn ft_balance(&self, _: &str, _: &str) -> Result<u128, conditions::ChainError> {
        Err(conditions::ChainError::Rpc("no NEAR RPC configured".into()))
    }

    async fn nft_owned(&self, _: &str, _: &str, _: Option<&str>) -> Result<bool, conditions::ChainError> {
        Err(conditions::ChainError::Rpc("no NEAR RPC configured".into()))
    }
}

/// What the keystore established about a job.
struct JobFacts {
    job_id: String,
    project_id: Option<String>,
    wasm_sha256: String,
    /// The account access conditions are evaluated for.
    account: String,
    /// The secrets asked for, with the record when the proof carries it (HTTPS).
    secrets: Option<(SecretsRef, Option<SealedSecrets>)>,
}

//! The worker's side of the keystore: an attested session, and per job the release of the
//! project's storage key and the job's secrets, opened only here, inside the worker.
//!
//! The session binds the worker's ed25519 key and the keystore's challenge into evidence from
//! the worker's [`QuoteSource`] (the same binding as registration) and signs a fresh X25519
//! session key; every answer is sealed to that key. A session the keystore no longer knows
//! (expired, keystore restarted) is reopened once, transparently.

use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey};
use outlayer_attest::seal;
use outlayer_attest::vrf::VrfSecretKey;
use outlayer_protocol::client::ClientError;
use outlayer_protocol::keystore_client::KeystoreClient;
use outlayer_protocol::secrets::{JobProof, OpenSession, ReleaseRequest, ReleasedKeys};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::evidence::{EvidenceError, QuoteSource};

/// Why a job's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// An access condition of the job's secrets failed: the job fails with `access_denied`.
    #[error("access denied: {condition}: {message}")]
    Denied {
        /// The failing condition's kind.
        condition: String,
        /// The keystore's explanation.
        message: String,
    },
    /// The keystore refused or could not be reached.
    #[error("keystore: {0}")]
    Keystore(#[from] ClientError),
    /// The worker could not attest itself.
    #[error("attestation evidence for the keystore: {0}")]
    Evidence(#[from] EvidenceError),
    /// The answer did not open (not sealed to this session).
    #[error("the keystore's answer does not open: {0}")]
    Seal(#[from] seal::SealError),
    /// The answer is not what was asked for.
    #[error("the keystore's answer is malformed: {0}")]
    Malformed(String),
}

impl KeysError {
    /// Whether asking again later may succeed: the keystore could not be reached, was busy, or
    /// could not read NEAR. A refusal (bad ticket, tampered secrets, denial) is final.
    pub fn is_transient(&self) -> bool {
        match self {
            KeysError::Keystore(ClientError::Http(_)) => true,
            KeysError::Keystore(ClientError::Api { status, code, .. }) => *status >= 500 && code != "not_configured",
            KeysError::Evidence(_) => true,
            _ => false,
        }
    }
}

struct Live {
    id: String,
    secret: Zeroizing<[u8; 32]>,
}

/// A worker's link to the keystore.
pub struct KeystoreLink {
    client: KeystoreClient,
    key: Arc<SigningKey>,
    quote: QuoteSource,
    session: tokio::sync::Mutex<Option<Live>>,
}

impl std::fmt::Debug for KeystoreLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoreLink").field("keystore", &self.client.base()).finish_non_exhaustive()
    }
}

impl KeystoreLink {
    /// A link to the keystore at `url`, attesting `key` with `quote`.
    pub fn new(url: &str, key: Arc<SigningKey>, quote: QuoteSource) -> Result<Self, KeysError> {
        Ok(Self { client: KeystoreClient::new(url)?, key, quote, session: tokio::sync::Mutex::new(None) })
    }

    /// Opens a session (replacing any) and returns the keystore's VRF key.
    pub async fn open(&self) -> Result<VrfSecretKey, KeysError> {
        let mut session = self.session.lock().await;
        let (live, vrf) = self.open_session().await?;
        *session = Some(live);
        Ok(vrf)
    }

    async fn open_session(&self) -> Result<(Live, VrfSecretKey), KeysError> {
        let challenge = self.client.challenge().await?;
        let worker_key = self.key.verifying_key().to_bytes();
        let report_data = outlayer_attest::report_data(&worker_key, &challenge);
        let quote = self.quote.clone();
        let evidence = tokio::task::spawn_blocking(move || quote.evidence(report_data))
            .await
            .map_err(|e| KeysError::Malformed(format!("quote provider panicked: {e}")))??;
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(secret.as_mut());
        let session_key = seal::public_key(&secret);
        let signature = self.key.sign(&OpenSession::signed_bytes(&session_key, &challenge));
        let opened = self
            .client
            .open_session(&OpenSession {
                worker_key: hex::encode(worker_key),
                session_key: hex::encode(session_key),
                challenge,
                evidence,
                signature: hex::encode(signature.to_bytes()),
            })
            .await?;
        let seed = Zeroizing::new(seal::open(&secret, &format!("session:{}:vrf", opened.session_id), &opened.sealed_vrf_seed)?);
        let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| KeysError::Malformed("the VRF seed is not 32 bytes".into()))?;
        let vrf = VrfSecretKey::from_seed(seed);
        if hex::encode(vrf.public_key()) != opened.vrf_public_key {
            return Err(KeysError::Malformed("the VRF seed does not match the keystore's VRF public key".into()));
        }
        tracing::info!(keystore = %self.client.base(), session_id = %opened.session_id, "keystore session opened");
        Ok((Live { id: opened.session_id, secret }, vrf))
    }

    /// The keys of the job proved by `proof`. A session the keystore does not know is reopened
    /// once.
    pub async fn release(&self, proof: &JobProof) -> Result<ReleasedKeys, KeysError> {
        for attempt in 0..2 {
            let mut session = self.session.lock().await;
            if session.is_none() {
                *session = Some(self.open_session().await?.0);
            }
            let live = session.as_ref().expect("opened");
            let (id, secret) = (live.id.clone(), live.secret.clone());
            drop(session);
            match self.client.release(&ReleaseRequest { session_id: id.clone(), proof: proof.clone() }).await {
                Ok(released) => {
                    let scope = format!("session:{id}:job:{}", released.job_id);
                    let plain = Zeroizing::new(seal::open(&secret, &scope, &released.sealed)?);
                    let keys: ReleasedKeys = serde_json::from_slice(&plain).map_err(|e| KeysError::Malformed(e.to_string()))?;
                    if keys.job_id != released.job_id {
                        return Err(KeysError::Malformed("the keys are for another job".into()));
                    }
                    return Ok(keys);
                }
                Err(ClientError::Api { code, .. }) if code == "session_unknown" && attempt == 0 => {
                    *self.session.lock().await = None;
                }
                Err(ClientError::Api { code, message, .. }) if code == "access_denied" => {
                    let condition = message.strip_prefix("access denied: ").and_then(|m| m.split(':').next()).unwrap_or("unknown");
                    return Err(KeysError::Denied { condition: condition.to_owned(), message });
                }
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("the loop returns on its second attempt")
    }
}

/// The 32-byte storage key in `keys`.
pub fn storage_key(keys: &ReleasedKeys) -> Result<Zeroizing<[u8; 32]>, KeysError> {
    let bytes = Zeroizing::new(hex::decode(&keys.storage_key).map_err(|_| KeysError::Malformed("storage key is not hex".into()))?);
    Ok(Zeroizing::new(bytes.as_slice().try_into().map_err(|_| KeysError::Malformed("storage key is not 32 bytes".into()))?))
}

//! Replication: a second keystore obtains the master secret from a running one, so both derive
//! the same keys. Both sides attest over one exchange:
//!
//! 1. the joiner gets a challenge from the primary (`POST /replica/challenge`);
//! 2. it sends an X25519 key bound with that challenge in its own evidence, and a challenge of
//!    its own ([`ReplicaJoin`]);
//! 3. the primary verifies the joiner's evidence under its policy (the same rule as for workers:
//!    dev evidence only in dev mode), seals the master to the joiner's key and answers with
//!    evidence binding the sealing's ephemeral key and the joiner's challenge;
//! 4. the joiner verifies that evidence under its own policy before it uses the master.
//!
//! So the master only ever leaves an attested keystore sealed to an attested keystore, and a
//! joiner never accepts a master from a machine that is not an attested keystore.

use outlayer_attest::providers::QuoteProvider;
use outlayer_attest::{Challenge, Policy, check_binding, report_data, seal, verify_evidence};
use outlayer_protocol::secrets::{ReplicaJoin, ReplicaMaster};
use rand::RngCore;

use crate::derive::HKDF_V1;
use crate::master::MasterSecret;
use crate::sessions::key32;
use crate::{Keystore, KeystoreError};

/// The sealing scope of a replicated master.
pub const REPLICA_SCOPE: &str = "replica:v1";

impl Keystore {
    /// The primary's side of a join.
    pub fn answer_join(&self, req: &ReplicaJoin) -> Result<ReplicaMaster, KeystoreError> {
        let master = self
            .derivation()
            .master()
            .ok_or_else(|| KeystoreError::NotConfigured("this keystore's derivation has no master to replicate".into()))?;
        let quote = self
            .config()
            .quote
            .clone()
            .ok_or_else(|| KeystoreError::NotConfigured("this keystore has no quote provider to attest itself to a replica".into()))?;
        let joiner_key = key32(&req.session_key, "session_key")?;
        let now_secs = (self.now_ms() / 1000) as u64;
        self.replica_challenges.consume(&req.challenge, now_secs)?;
        let verified = verify_evidence(&req.evidence, &self.config().policy, now_secs)?;
        check_binding(&verified, &joiner_key, &req.challenge)?;
        req.joiner_challenge.check_fresh(now_secs)?;
        let sealed_master = seal::seal(&joiner_key, REPLICA_SCOPE, master.expose())?;
        let ephemeral: [u8; 32] = sealed_master[1..33].try_into().expect("a sealed blob carries its ephemeral key");
        let evidence = quote
            .evidence(report_data(&ephemeral, &req.joiner_challenge))
            .map_err(|e| KeystoreError::NotConfigured(format!("this keystore could not attest itself: {e}")))?;
        tracing::warn!(tee = ?verified.tee, "master secret replicated to an attested keystore");
        Ok(ReplicaMaster { sealed_master, evidence, derivation: HKDF_V1.into() })
    }
}

/// The joiner's side: obtains the master from the keystore at `primary`, attesting with `quote`
/// and accepting the primary only if its evidence passes `policy`.
pub async fn join(primary: &str, quote: &(dyn QuoteProvider + Send + Sync), policy: &Policy) -> Result<MasterSecret, KeystoreError> {
    let http = reqwest::Client::new();
    let base = primary.trim_end_matches('/');
    let chain = |e: reqwest::Error| KeystoreError::Chain(format!("keystore {base}: {e}"));
    let challenge: Challenge = http
        .post(format!("{base}/replica/challenge"))
        .send()
        .await
        .map_err(chain)?
        .error_for_status()
        .map_err(chain)?
        .json()
        .await
        .map_err(chain)?;
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(secret.as_mut());
    let public = seal::public_key(&secret);
    let evidence = quote
        .evidence(report_data(&public, &challenge))
        .map_err(|e| KeystoreError::NotConfigured(format!("this keystore could not attest itself: {e}")))?;
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let now_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let joiner_challenge = Challenge::new(nonce, now_secs, 300);
    let req = ReplicaJoin { session_key: hex::encode(public), challenge, evidence, joiner_challenge };
    let resp = http.post(format!("{base}/replica/join")).json(&req).send().await.map_err(chain)?;
    if !resp.status().is_success() {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        return Err(KeystoreError::Chain(format!("the primary refused the join: {}", body["error"])));
    }
    let answer: ReplicaMaster = resp.json().await.map_err(chain)?;
    if answer.derivation != HKDF_V1 {
        return Err(KeystoreError::NotConfigured(format!("the primary derives with {}, this keystore with {HKDF_V1}", answer.derivation)));
    }
    let ephemeral: [u8; 32] = answer
        .sealed_master
        .get(1..33)
        .and_then(|b| b.try_into().ok())
        .ok_or(KeystoreError::Seal(seal::SealError::TooShort { len: answer.sealed_master.len() }))?;
    let verified = verify_evidence(&answer.evidence, policy, now_secs)?;
    check_binding(&verified, &ephemeral, &joiner_challenge)?;
    let bytes = zeroize::Zeroizing::new(seal::open(&secret, REPLICA_SCOPE, &answer.sealed_master)?);
    let master: [u8; 32] =
        bytes.as_slice().try_into().map_err(|_| KeystoreError::bad("invalid_master", "the replicated master is not 32 bytes"))?;
    Ok(MasterSecret::from_bytes(master))
}

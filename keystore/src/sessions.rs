//! Attested worker sessions: single-use challenges, then a session bound to the worker's
//! attested ed25519 key and an X25519 key every answer is sealed to. Kept in memory: after a
//! keystore restart workers open new sessions (their keys are derived again from the master).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use outlayer_attest::{Challenge, Policy, VerifiedQuote, check_binding, verify_evidence};
use outlayer_protocol::secrets::OpenSession;
use rand::RngCore;

use crate::error::KeystoreError;

/// Most unused challenges kept.
pub const MAX_PENDING_CHALLENGES: usize = 10_000;
/// Most live sessions.
pub const MAX_SESSIONS: usize = 10_000;
/// Lifetime of a session.
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
/// Lifetime of a challenge.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);

/// One attested worker's session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The worker's attested ed25519 key.
    pub worker_key: [u8; 32],
    /// The X25519 key answers are sealed to.
    pub session_key: [u8; 32],
    /// Unix ms it ends.
    pub expires_at_ms: i64,
    /// What its evidence proved.
    pub verified: VerifiedQuote,
}

/// Challenges and sessions.
#[derive(Default)]
pub struct Sessions {
    challenges: Mutex<HashMap<[u8; 32], Challenge>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A fresh single-use challenge valid for [`CHALLENGE_TTL`].
    pub fn challenge(&self, now_secs: u64) -> Result<Challenge, KeystoreError> {
        let mut challenges = self.challenges.lock().expect("challenges lock");
        challenges.retain(|_, c| c.expires_at > now_secs);
        if challenges.len() >= MAX_PENDING_CHALLENGES {
            return Err(KeystoreError::Busy("too many unused challenges are pending; retry later".into()));
        }
        let mut nonce = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let challenge = Challenge::new(nonce, now_secs, CHALLENGE_TTL.as_secs());
        challenges.insert(nonce, challenge);
        Ok(challenge)
    }

    /// Consumes `challenge` if this keystore issued it and it is fresh. A refused attempt burns
    /// it too (it is removed before anything else is looked at).
    pub fn consume(&self, challenge: &Challenge, now_secs: u64) -> Result<(), KeystoreError> {
        let issued = self.challenges.lock().expect("challenges lock").remove(&challenge.nonce);
        match issued {
            Some(c) if &c == challenge => Ok(challenge.check_fresh(now_secs)?),
            _ => Err(KeystoreError::ChallengeUnknown),
        }
    }

    /// Verifies an [`OpenSession`] under `policy` and opens the session. Checks, in order: the
    /// keys, the challenge (single use, fresh), the evidence under the policy, the binding of
    /// the worker key and the challenge, the worker key's signature over the session key.
    pub fn open(&self, req: &OpenSession, policy: &Policy, now_ms: i64) -> Result<(String, Session), KeystoreError> {
        let worker_key = key32(&req.worker_key, "worker_key")?;
        let session_key = key32(&req.session_key, "session_key")?;
        let verifying = VerifyingKey::from_bytes(&worker_key)
            .map_err(|_| KeystoreError::bad("invalid_public_key", "worker_key is not an ed25519 public key"))?;
        let now_secs = (now_ms / 1000) as u64;
        self.consume(&req.challenge, now_secs)?;
        let verified = verify_evidence(&req.evidence, policy, now_secs)?;
        check_binding(&verified, &worker_key, &req.challenge)?;
        let signature = hex::decode(&req.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or_else(|| KeystoreError::bad("bad_signature", "signature must be 64 bytes of hex"))?;
        verifying
            .verify(&OpenSession::signed_bytes(&session_key, &req.challenge), &signature)
            .map_err(|_| KeystoreError::bad("bad_signature", "the session key is not signed by the attested worker key"))?;
        let session = Session { worker_key, session_key, expires_at_ms: now_ms + SESSION_TTL.as_millis() as i64, verified };
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires_at_ms > now_ms);
        if sessions.len() >= MAX_SESSIONS {
            return Err(KeystoreError::Busy("too many open sessions; retry later".into()));
        }
        let id = uuid::Uuid::new_v4().to_string();
        sessions.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session `id`.
    pub fn get(&self, id: &str, now_ms: i64) -> Result<Session, KeystoreError> {
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions.get(id).filter(|s| s.expires_at_ms > now_ms).cloned().ok_or(KeystoreError::SessionUnknown)
    }
}

pub(crate) fn key32(text: &str, field: &'static str) -> Result<[u8; 32], KeystoreError> {
    hex::decode(text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| KeystoreError::bad("invalid_public_key", format!("{field} must be 32 bytes of hex")))
}

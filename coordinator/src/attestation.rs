//! Worker registration by attestation: challenges, verifying evidence against the configured
//! policy, and the public records (`GET /workers`, `GET /workers/{id}/attestation`).
//!
//! A worker proves three things before it gets a token: its evidence is genuine and allowed
//! (`verify_evidence` under [`crate::config::AttestationConfig::policy`]), it binds the worker's
//! ed25519 key and a challenge this coordinator issued (`check_binding`), and that challenge is
//! fresh and unused (single use: consumed before the evidence is even looked at, so a refused
//! attempt burns it too). Dev evidence goes through the same path and passes only when dev mode
//! is on.

use outlayer_attest::{Challenge, Evidence, VerifiedQuote, check_binding, evidence_digest, verify_evidence};
use outlayer_protocol::receipt::parse_public_key;
use outlayer_protocol::{RegisterRequest, WorkerAttestation, WorkerSummary};
use rand::RngCore;

use crate::config::MAX_PENDING_CHALLENGES;
use crate::db::WorkerRow;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Most workers listed by `GET /workers` (most recently seen first).
pub const MAX_LISTED_WORKERS: i64 = 1_000;

impl AppState {
    /// Issues a fresh challenge (32 random bytes, [`crate::config::AttestationConfig::challenge_ttl`]
    /// to live) and remembers it until it is used or expires. 503 `too_many_challenges` when
    /// [`MAX_PENDING_CHALLENGES`] are pending.
    pub async fn issue_challenge(&self) -> Result<Challenge, ApiError> {
        let mut nonce = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let now = self.config.attestation.clock.now_secs();
        let challenge = Challenge::new(nonce, now, self.config.attestation.challenge_ttl.as_secs().max(1));
        let stored = self
            .db
            .issue_challenge(&hex::encode(nonce), secs(challenge.issued_at), secs(challenge.expires_at), secs(now), MAX_PENDING_CHALLENGES)
            .await?;
        if !stored {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "too_many_challenges",
                "too many unused registration challenges are pending; retry later",
            ));
        }
        Ok(challenge)
    }

    /// Verifies a registration and registers the worker; returns it and its bearer token (shown
    /// once). Checks, in order: the key (400 `invalid_public_key`), that evidence and challenge
    /// are present (403 `attestation_invalid`), the challenge's freshness and single use (400
    /// `challenge_expired`), the evidence under the policy (403 with its code), the binding of key
    /// and challenge (403 `binding_mismatch`). Embedded workers call this too (no bypass).
    pub async fn register_worker(&self, req: &RegisterRequest) -> Result<(WorkerRow, String), ApiError> {
        let key = parse_public_key(&req.public_key)
            .ok_or_else(|| ApiError::bad_request("invalid_public_key", "public_key must be a 32-byte ed25519 key in hex"))?;
        let missing = |what: &str| {
            ApiError::forbidden(
                "attestation_invalid",
                format!(
                    "registration needs {what}: get a challenge from POST /workers/challenge and bind it with your key into your evidence"
                ),
            )
        };
        let challenge = req.challenge.as_ref().ok_or_else(|| missing("a challenge"))?;
        let evidence = req.evidence.as_ref().ok_or_else(|| missing("attestation evidence"))?;
        let now = self.config.attestation.clock.now_secs();
        challenge.check_fresh(now)?;
        let issued_here =
            self.db.consume_challenge(&hex::encode(challenge.nonce), secs(challenge.issued_at), secs(challenge.expires_at)).await?;
        if !issued_here {
            return Err(ApiError::bad_request(
                "challenge_expired",
                "this challenge was not issued by this coordinator or was already used; get a new one",
            ));
        }
        let verified = verify_evidence(evidence, &self.config.attestation.policy(), now)?;
        check_binding(&verified, &key.to_bytes(), challenge)?;

        let token = crate::auth::new_secret("olw_");
        let at = now_ms();
        let worker = WorkerRow {
            id: uuid::Uuid::new_v4().to_string(),
            public_key: req.public_key.to_lowercase(),
            token_hash: crate::auth::hash_secret(&token),
            attestation_sha256: hex::encode(evidence_digest(evidence)),
            verified,
            created_ms: at,
            last_heartbeat_ms: at,
        };
        let evidence_json = serde_json::to_string(evidence).map_err(ApiError::internal)?;
        let challenge_json = serde_json::to_string(challenge).map_err(ApiError::internal)?;
        self.db.register_worker(&worker, &evidence_json, &challenge_json).await?;
        tracing::info!(worker_id = %worker.id, tee = ?worker.verified.tee, "worker registered with verified attestation");
        Ok((worker, token))
    }

    /// `GET /workers`: registered workers, most recently seen first.
    pub async fn worker_summaries(&self) -> Result<Vec<WorkerSummary>, ApiError> {
        Ok(self.db.recent_workers(MAX_LISTED_WORKERS).await?.iter().map(summary).collect())
    }

    /// `GET /workers/{id}/attestation`; 404 `worker_not_found`.
    pub async fn worker_attestation(&self, id: &str) -> Result<WorkerAttestation, ApiError> {
        let (worker, evidence, challenge) =
            self.db.worker_attestation(id).await?.ok_or_else(|| ApiError::not_found("worker_not_found", "no such worker"))?;
        let evidence: Evidence = serde_json::from_str(&evidence).map_err(ApiError::internal)?;
        let challenge: Challenge = serde_json::from_str(&challenge).map_err(ApiError::internal)?;
        let VerifiedQuote { tee, verified_at, .. } = worker.verified;
        Ok(WorkerAttestation {
            worker_id: worker.id,
            public_key: worker.public_key,
            tee,
            evidence,
            challenge,
            verified: worker.verified,
            policy_result: "accepted".into(),
            verified_at,
            attestation_sha256: worker.attestation_sha256,
        })
    }
}

fn summary(w: &WorkerRow) -> WorkerSummary {
    WorkerSummary {
        id: w.id.clone(),
        public_key: w.public_key.clone(),
        tee: w.verified.tee,
        measurements: w.verified.measurements,
        tcb_status: w.verified.tcb_status,
        verified_at: w.verified.verified_at,
        last_seen_ms: w.last_heartbeat_ms,
    }
}

/// Unix seconds as the database stores them (saturating: a u64 past i64 is not a real time).
fn secs(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

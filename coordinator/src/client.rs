//! A worker-side client of the coordinator's worker API (register, lease, heartbeat, fetch wasm,
//! complete with a signed receipt). The worker binary uses it; so do this crate's tests.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::model::{CallView, CompleteRequest, ExecutionResult, HeartbeatResponse, Job, Outcome, RegisterResponse};
use crate::receipt::{receipt_digest, sign_digest};

/// Extra time the HTTP client waits beyond a long poll before giving up on the request.
pub const CLIENT_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// Failures of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport failure (connect, timeout, bad body).
    #[error("http error: {0}")]
    Http(#[from] reqwest::Error),
    /// The coordinator answered with an error body.
    #[error("coordinator error {status}: {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Message.
        message: String,
    },
}

/// What the worker observed, to be signed and reported with [`WorkerClient::complete`].
#[derive(Debug, Clone)]
pub struct Observed {
    /// How it ended.
    pub outcome: Outcome,
    /// Exact stdout bytes.
    pub output: Vec<u8>,
    /// Last part of stderr.
    pub stderr_tail: Option<String>,
    /// Instructions executed.
    pub instructions: u64,
    /// Wall time in ms.
    pub wall_ms: u64,
    /// Peak memory.
    pub peak_memory_bytes: u64,
    /// Deposit refunded by the guest.
    pub refund: u64,
}

/// A registered worker talking to one coordinator.
#[derive(Debug, Clone)]
pub struct WorkerClient {
    http: reqwest::Client,
    base: String,
    token: String,
    key: SigningKey,
    /// Id assigned at registration.
    pub worker_id: String,
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp.json().await?);
    }
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    Err(ClientError::Api {
        status: status.as_u16(),
        code: body["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
        message: body["error"]["message"].as_str().unwrap_or("").to_owned(),
    })
}

impl WorkerClient {
    /// Registers `key`'s public half with the coordinator at `base` (e.g. `http://127.0.0.1:8080`).
    pub async fn register(base: &str, key: SigningKey, attestation: Option<Value>, registration_token: Option<&str>) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().build()?;
        let base = base.trim_end_matches('/').to_owned();
        let mut req = http
            .post(format!("{base}/workers/register"))
            .json(&json!({ "public_key": hex::encode(key.verifying_key().to_bytes()), "attestation": attestation }));
        if let Some(t) = registration_token {
            req = req.bearer_auth(t);
        }
        let reg: RegisterResponse = decode(req.send().await?).await?;
        Ok(Self { http, base, token: reg.token, key, worker_id: reg.worker_id })
    }

    async fn post(&self, path: &str, body: &impl Serialize, timeout: Duration) -> Result<reqwest::Response, ClientError> {
        Ok(self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).timeout(timeout).json(body).send().await?)
    }

    /// Asks for a job, waiting up to `wait` on the server; `None` = no job.
    pub async fn lease(&self, wait: Duration) -> Result<Option<Job>, ClientError> {
        let resp = self.post("/workers/lease", &json!({ "wait_seconds": wait.as_secs() }), wait + CLIENT_TIMEOUT_MARGIN).await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(resp).await.map(Some)
    }

    /// Extends leases.
    pub async fn heartbeat(&self, lease_ids: &[String]) -> Result<HeartbeatResponse, ClientError> {
        decode(self.post("/workers/heartbeat", &json!({ "lease_ids": lease_ids }), CLIENT_TIMEOUT_MARGIN).await?).await
    }

    /// Downloads a wasm by sha256.
    pub async fn wasm(&self, sha256: &str) -> Result<Vec<u8>, ClientError> {
        let resp = self.http.get(format!("{}/wasm/{sha256}", self.base)).bearer_auth(&self.token).send().await?;
        if !resp.status().is_success() {
            return decode::<Value>(resp).await.map(|_| Vec::new());
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// Signs and reports a result; returns the settled call.
    pub async fn complete(&self, job: &Job, observed: &Observed) -> Result<CallView, ClientError> {
        let req = signed_completion(job, observed, &self.key);
        decode(self.post("/workers/complete", &req, CLIENT_TIMEOUT_MARGIN).await?).await
    }
}

/// Builds the `POST /workers/complete` body for `job`, signing the receipt digest with `key`.
/// The embedded mode passes it to [`crate::AppState::complete_job`] directly.
pub fn signed_completion(job: &Job, observed: &Observed, key: &SigningKey) -> CompleteRequest {
    let digest = receipt_digest(&job.call_id, &job.wasm_sha256, job.input.as_bytes(), &observed.output, observed.instructions, observed.outcome);
    CompleteRequest {
        lease_id: job.lease_id.clone(),
        call_id: job.call_id.clone(),
        result: ExecutionResult {
            outcome: observed.outcome,
            output: B64.encode(&observed.output),
            stderr_tail: observed.stderr_tail.clone(),
            instructions: observed.instructions,
            wall_ms: observed.wall_ms,
            peak_memory_bytes: observed.peak_memory_bytes,
            refund: observed.refund,
        },
        signature: sign_digest(key, &digest),
    }
}

//! The worker-side HTTP client of a coordinator's worker API (feature `client`): challenge,
//! attested register, lease, heartbeat, fetch wasm, complete. [`WorkerClient`] is a [`JobSource`], the one the
//! `outlayer worker` process uses.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use outlayer_attest::{Challenge, Evidence};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::CallView;
use crate::job::Job;
use crate::result::Completion;
use crate::source::{JobSource, SourceError, SourceFuture};
use crate::worker::{HeartbeatResponse, RegisterResponse};

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

impl ClientError {
    /// Whether the same request may succeed if sent again later: the coordinator could not be
    /// reached (connect, timeout, a cut connection) or answered 502/503/504 — e.g. 503
    /// `settle_pending` (it holds a result it could not record yet) or a database that is down.
    /// A 4xx (409 `lease_lost`, 400 …) is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Http(e) => !e.is_builder() && !e.is_decode(),
            Self::Api { status, .. } => matches!(status, 502..=504),
        }
    }
}

/// Start of the text of a [`SourceError`] made from a retryable [`ClientError`] (see
/// [`is_retryable`]).
pub const UNAVAILABLE: &str = "coordinator unavailable";

/// Whether a [`WorkerClient`] exchange failed in a way worth retrying
/// ([`ClientError::is_retryable`]): the worker keeps a finished result and sends it again.
pub fn is_retryable(e: &SourceError) -> bool {
    e.0.starts_with(UNAVAILABLE)
}

/// Bearer-authenticated JSON requests to one coordinator: the part the worker client and the
/// builder client (`crate::build::BuilderClient`) share.
#[derive(Debug, Clone)]
pub(crate) struct Authed {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Authed {
    /// Requests to `base` (trailing `/` ignored) with `token`.
    pub(crate) fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Self { http, base: base.trim_end_matches('/').to_owned(), token: token.to_owned() }
    }

    /// `POST base+path` with a JSON body, answered within `timeout`.
    pub(crate) async fn post(&self, path: &str, body: &impl Serialize, timeout: Duration) -> Result<reqwest::Response, ClientError> {
        Ok(self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).timeout(timeout).json(body).send().await?)
    }

    /// `POST base+path`, decoded as `T` (an error body as [`ClientError::Api`]).
    pub(crate) async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        decode(self.post(path, body, timeout).await?).await
    }

    /// A long poll: `POST base+path {wait_seconds}`, waiting up to `wait` on the server; 204 =
    /// `None`.
    pub(crate) async fn long_poll<T: DeserializeOwned>(&self, path: &str, wait: Duration) -> Result<Option<T>, ClientError> {
        let resp = self.post(path, &json!({ "wait_seconds": wait.as_secs() }), wait + CLIENT_TIMEOUT_MARGIN).await?;
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(resp).await.map(Some)
    }

    /// `GET base+path`, authenticated.
    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token)
    }
}

/// A registered worker talking to one coordinator.
#[derive(Debug, Clone)]
pub struct WorkerClient {
    api: Authed,
    /// Id assigned at registration.
    pub worker_id: String,
    /// Hex sha256 of the evidence registered with (signed into receipts).
    pub attestation_sha256: String,
}

pub(crate) async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
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
    /// Asks the coordinator at `base` (e.g. `http://127.0.0.1:8080`) for a registration
    /// challenge (`POST /workers/challenge`): short-lived and single-use; the worker binds it into
    /// its evidence with [`outlayer_attest::report_data`].
    pub async fn challenge(base: &str, registration_token: Option<&str>) -> Result<Challenge, ClientError> {
        let http = reqwest::Client::builder().build()?;
        let mut req = http.post(format!("{}/workers/challenge", base.trim_end_matches('/')));
        if let Some(t) = registration_token {
            req = req.bearer_auth(t);
        }
        decode(req.send().await?).await
    }

    /// Registers `key`'s public half with the coordinator at `base`, proving it with `evidence`
    /// whose report data binds the key and `challenge` (from [`WorkerClient::challenge`]).
    pub async fn register(
        base: &str,
        key: &SigningKey,
        challenge: &Challenge,
        evidence: &Evidence,
        registration_token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder().build()?;
        let base = base.trim_end_matches('/');
        let body = json!({
            "public_key": hex::encode(key.verifying_key().to_bytes()),
            "challenge": challenge,
            "evidence": evidence,
        });
        let mut req = http.post(format!("{base}/workers/register")).json(&body);
        if let Some(t) = registration_token {
            req = req.bearer_auth(t);
        }
        let reg: RegisterResponse = decode(req.send().await?).await?;
        let api = Authed::new(http, base, &reg.token);
        Ok(Self { api, worker_id: reg.worker_id, attestation_sha256: reg.attestation_sha256 })
    }

    /// Asks for a job, waiting up to `wait` on the server; `None` = no job.
    pub async fn lease(&self, wait: Duration) -> Result<Option<Job>, ClientError> {
        self.api.long_poll("/workers/lease", wait).await
    }

    /// Extends leases.
    pub async fn heartbeat(&self, lease_ids: &[String]) -> Result<HeartbeatResponse, ClientError> {
        self.api.post_json("/workers/heartbeat", &json!({ "lease_ids": lease_ids }), CLIENT_TIMEOUT_MARGIN).await
    }

    /// Downloads a wasm by sha256.
    pub async fn wasm(&self, sha256: &str) -> Result<Vec<u8>, ClientError> {
        let resp = self.api.get(&format!("/wasm/{sha256}")).send().await?;
        if !resp.status().is_success() {
            return decode::<Value>(resp).await.map(|_| Vec::new());
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// Reports a signed result; returns the settled call. Sending the same completion again is
    /// safe (the coordinator answers a settled call's own result with the same view), so a
    /// [retryable](ClientError::is_retryable) failure may be retried.
    pub async fn complete(&self, completion: &Completion) -> Result<CallView, ClientError> {
        self.api.post_json("/workers/complete", completion, CLIENT_TIMEOUT_MARGIN).await
    }
}

fn source_error(e: ClientError) -> SourceError {
    if e.is_retryable() { SourceError(format!("{UNAVAILABLE}: {e}")) } else { SourceError(e.to_string()) }
}

impl JobSource for WorkerClient {
    fn worker_id(&self) -> &str {
        &self.worker_id
    }
    fn attestation_sha256(&self) -> &str {
        &self.attestation_sha256
    }
    fn lease(&self, wait: Duration) -> SourceFuture<'_, Option<Job>> {
        Box::pin(async move { WorkerClient::lease(self, wait).await.map_err(source_error) })
    }
    fn heartbeat<'a>(&'a self, lease_ids: &'a [String]) -> SourceFuture<'a, HeartbeatResponse> {
        Box::pin(async move { WorkerClient::heartbeat(self, lease_ids).await.map_err(source_error) })
    }
    fn wasm<'a>(&'a self, job: &'a Job) -> SourceFuture<'a, Vec<u8>> {
        Box::pin(async move { WorkerClient::wasm(self, &job.wasm_sha256).await.map_err(source_error) })
    }
    fn complete<'a>(&'a self, _job: &'a Job, completion: &'a Completion) -> SourceFuture<'a, ()> {
        Box::pin(async move { WorkerClient::complete(self, completion).await.map(|_| ()).map_err(source_error) })
    }
}

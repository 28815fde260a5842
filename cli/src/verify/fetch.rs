//! The coordinator's public endpoints, as `outlayer verify` reads them:
//!
//! - `GET /calls/{id}/receipt` → `{call_id, status, receipt: SignedReceipt, worker: {id,
//!   public_key}, attestation_url}`;
//! - `GET /workers/{id}/attestation` → `{worker_id, public_key, tee, evidence, challenge,
//!   verified, policy_result, verified_at}` (kept whole in bundles; only the evidence, key, id
//!   and challenge are used: the coordinator's own `verified` is not trusted);
//! - `POST /call/{owner}/{project}` (`x-payment-key`) and `GET /calls/{id}` → `{call_id, status,
//!   output_base64, receipt, worker, …}`.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_attest::Challenge;
use outlayer_attest::evidence::Evidence;
use outlayer_attest::receipt::SignedReceipt;
use outlayer_attest::verdict::AttestedWorker;
use serde::Deserialize;
use serde_json::{Value, json};

/// How long `verify run` waits for an asynchronous call to finish.
const CALL_WAIT: Duration = Duration::from_secs(120);
/// Poll interval while waiting.
const POLL: Duration = Duration::from_millis(200);
/// Timeout of one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `/workers/{id}/attestation` for a worker id.
pub fn attestation_path(worker_id: &str) -> String {
    format!("/workers/{worker_id}/attestation")
}

/// The worker's attestation record: the parts the checks use, and the record as served.
#[derive(Clone, Debug)]
pub struct WorkerRecord {
    /// Worker id, key, evidence and challenge.
    pub attested: AttestedWorker,
    /// The whole record as the coordinator served it (stored in bundles).
    pub raw: Value,
}

#[derive(Deserialize)]
struct RecordFields {
    worker_id: String,
    public_key: String,
    evidence: Evidence,
    #[serde(default)]
    challenge: Option<Challenge>,
}

impl WorkerRecord {
    /// Parses a record (from the coordinator or a bundle).
    pub fn from_value(raw: Value) -> anyhow::Result<Self> {
        let f: RecordFields = serde_json::from_value(raw.clone()).context("the attestation record does not have the expected shape")?;
        let attested = AttestedWorker { worker_id: f.worker_id, public_key: f.public_key, evidence: f.evidence, challenge: f.challenge };
        Ok(Self { attested, raw })
    }
}

/// `GET /calls/{id}/receipt`.
pub struct FetchedReceipt {
    /// The signed receipt.
    pub receipt: SignedReceipt,
    /// Where the worker's attestation is (a path on the coordinator).
    pub attestation_url: String,
}

/// A call made by `verify run`, with both payloads as the receipt hashes them.
pub struct MadeCall {
    /// The call id.
    pub call_id: String,
    /// The signed receipt.
    pub receipt: SignedReceipt,
    /// The input bytes: `serde_json::to_string` of the input value, as the coordinator does.
    pub input: Vec<u8>,
    /// The output bytes (decoded `output_base64`).
    pub output: Vec<u8>,
}

/// A client of one coordinator.
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client of the coordinator at `url`.
    pub fn new(url: &str) -> Self {
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("HTTP client");
        Self { http, base: url.trim_end_matches('/').to_owned() }
    }

    async fn get(&self, path: &str, payment_key: Option<&str>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.get(&url);
        if let Some(key) = payment_key {
            request = request.header("x-payment-key", key);
        }
        let response = request.send().await.with_context(|| format!("GET {url}"))?;
        json_of(response, &url).await
    }

    /// `GET /calls/{id}/receipt`.
    pub async fn receipt(&self, call_id: &str) -> anyhow::Result<FetchedReceipt> {
        let v = self.get(&format!("/calls/{call_id}/receipt"), None).await?;
        let receipt = receipt_of(&v).with_context(|| format!("call {call_id}"))?;
        let worker_id = receipt.receipt.worker_id.clone();
        let attestation_url = v["attestation_url"].as_str().map(str::to_owned).unwrap_or_else(|| attestation_path(&worker_id));
        Ok(FetchedReceipt { receipt, attestation_url })
    }

    /// `GET` the attestation record at `path` (from `attestation_url`).
    pub async fn attestation(&self, path: &str) -> anyhow::Result<WorkerRecord> {
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        WorkerRecord::from_value(self.get(&path, None).await?)
    }

    /// `POST /call/{project}` with `{"input": input}`, waiting for an asynchronous result.
    pub async fn call(&self, project: &str, input: &Value, payment_key: &str) -> anyhow::Result<MadeCall> {
        let url = format!("{}/call/{project}", self.base);
        let response = self
            .http
            .post(&url)
            .header("x-payment-key", payment_key)
            .json(&json!({ "input": input }))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let mut v = json_of(response, &url).await?;
        let call_id = v["call_id"].as_str().context("the call response has no call_id")?.to_owned();
        let deadline = tokio::time::Instant::now() + CALL_WAIT;
        while !matches!(v["status"].as_str(), Some("completed" | "failed")) {
            if tokio::time::Instant::now() > deadline {
                bail!("call {call_id} did not finish within {CALL_WAIT:?} (status {})", v["status"]);
            }
            tokio::time::sleep(POLL).await;
            v = self.get(&format!("/calls/{call_id}"), Some(payment_key)).await?;
        }
        let receipt = receipt_of(&v).with_context(|| format!("call {call_id}"))?;
        let output = match v["output_base64"].as_str() {
            Some(b64) => BASE64.decode(b64).context("output_base64 is not base64")?,
            None => bail!("call {call_id} returned no output_base64 (status {})", v["status"]),
        };
        let input = serde_json::to_string(input).expect("JSON values serialize").into_bytes();
        Ok(MadeCall { call_id, receipt, input, output })
    }
}

async fn json_of(response: reqwest::Response, url: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let body = response.text().await.with_context(|| format!("reading {url}"))?;
    let v: Value = serde_json::from_str(&body).with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if !status.is_success() && status != reqwest::StatusCode::ACCEPTED && status != reqwest::StatusCode::UNPROCESSABLE_ENTITY {
        bail!("{url} answered {status}: {}", v.get("error").unwrap_or(&v));
    }
    Ok(v)
}

fn receipt_of(v: &Value) -> anyhow::Result<SignedReceipt> {
    match v.get("receipt") {
        None | Some(Value::Null) => bail!("has no signed receipt (status {})", v["status"]),
        Some(r) => serde_json::from_value(r.clone()).context("the receipt does not have the v2 shape"),
    }
}

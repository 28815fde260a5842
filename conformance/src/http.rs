//! A host reached over HTTP: `POST {base}/conformance/run` (see [`crate::wire`]).

use crate::host::{ConformanceHost, HostFailure};
use crate::wire::{CaseRequest, CaseResult};
use std::time::Duration;

/// Longest wait for one execution over HTTP: the highest wall-clock cap a case may ask for
/// (180 s) plus time to compile and transfer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(240);

/// The path of the conformance endpoint under a host's base URL.
pub const RUN_PATH: &str = "/conformance/run";

/// A worker or coordinator exposing [`RUN_PATH`].
pub struct HttpHost {
    base: String,
    client: reqwest::Client,
}

impl HttpHost {
    /// A client for the host at `base` (for example `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("reqwest client with rustls");
        Self { base: base.trim_end_matches('/').to_string(), client }
    }
}

#[async_trait::async_trait]
impl ConformanceHost for HttpHost {
    fn name(&self) -> String {
        self.base.clone()
    }

    async fn run(&self, request: &CaseRequest) -> Result<CaseResult, HostFailure> {
        let url = format!("{}{RUN_PATH}", self.base);
        let response = self.client.post(&url).json(request).send().await.map_err(|e| HostFailure::Transport(format!("POST {url}: {e}")))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| HostFailure::Transport(format!("reading the answer of {url}: {e}")))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(if status.is_client_error() {
                HostFailure::Refused(format!("{status}: {text}"))
            } else {
                HostFailure::Transport(format!("{status}: {text}"))
            });
        }
        serde_json::from_slice(&body).map_err(|e| HostFailure::Transport(format!("{url} answered something that is not a CaseResult: {e}")))
    }
}

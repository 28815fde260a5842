//! Downloading a request's component: HTTP GET of its URL with a size cap, checked against the
//! sha256 the contract recorded, kept on disk by hash ([`WasmStore`]).
//!
//! Project sources need no separate fetcher: `request_execution` resolves a project (and
//! version) to that version's `source_url` and `wasm_sha256`, so every pending request carries
//! a URL and a hash. `ipfs://<cid>/<path>` URLs are fetched from the configured gateway as
//! `<gateway>/ipfs/<cid>/<path>`.

use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::wasm_store::WasmStore;

/// Largest component downloaded, in bytes. Defends the worker's memory and disk against a URL
/// serving an endless body.
pub const MAX_WASM_BYTES: usize = 64 << 20;

/// Time a whole download may take. Bounds a server that trickles bytes.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a component could not be obtained. The text is what the caller sees as the error of
/// the failed execution.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// The downloaded bytes hash to something else than the request's sha256.
    #[error("wasm from {url} has sha256 {actual}, expected {expected}; not executed")]
    HashMismatch {
        /// The URL.
        url: String,
        /// The request's sha256.
        expected: String,
        /// The sha256 of what was served.
        actual: String,
    },
    /// The body is larger than the cap.
    #[error("wasm from {url} exceeds {limit} bytes; not executed")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The server answered a non-success status.
    #[error("fetching wasm from {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The server could not be reached or the body could not be read.
    #[error("fetching wasm from {url}: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The URL's scheme cannot be fetched (ipfs:// without a gateway, or another scheme).
    #[error("cannot fetch wasm from {0}: unsupported URL (https://, http://, or ipfs:// with a gateway)")]
    UnsupportedUrl(String),
}

/// Downloads components and keeps them by hash.
#[derive(Clone, Debug)]
pub struct WasmFetcher {
    http: reqwest::Client,
    store: WasmStore,
    ipfs_gateway: Option<String>,
    max_bytes: usize,
}

impl WasmFetcher {
    /// A fetcher keeping components in `store`, resolving `ipfs://` through `ipfs_gateway`.
    pub fn new(store: WasmStore, ipfs_gateway: Option<String>) -> Self {
        let http = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().unwrap_or_default();
        Self { http, store, ipfs_gateway, max_bytes: MAX_WASM_BYTES }
    }

    /// The same fetcher with another size cap (bytes).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Keeps `bytes` (already checked to hash to `sha256`) for later [`WasmFetcher::fetch`]es.
    pub fn keep(&self, sha256: &str, bytes: &[u8]) {
        if let Err(e) = self.store.put(sha256, bytes) {
            tracing::warn!(error = %e, "could not keep wasm on disk");
        }
    }

    /// The component at `url` whose sha256 (lowercase hex) is `sha256`: from disk when kept,
    /// otherwise downloaded, checked and kept.
    pub async fn fetch(&self, url: &str, sha256: &str) -> Result<Vec<u8>, FetchError> {
        if let Some(bytes) = self.store.get(sha256) {
            return Ok(bytes);
        }
        let bytes = self.download(url).await?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            return Err(FetchError::HashMismatch { url: url.into(), expected: sha256.into(), actual });
        }
        if let Err(e) = self.store.put(sha256, &bytes) {
            tracing::warn!(error = %e, "could not keep wasm on disk");
        }
        Ok(bytes)
    }

    fn http_url(&self, url: &str) -> Result<String, FetchError> {
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(url.to_owned());
        }
        match (url.strip_prefix("ipfs://"), &self.ipfs_gateway) {
            (Some(path), Some(gateway)) => Ok(format!("{}/ipfs/{path}", gateway.trim_end_matches('/'))),
            _ => Err(FetchError::UnsupportedUrl(url.into())),
        }
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let transport = |e: reqwest::Error| FetchError::Transport { url: url.into(), message: e.without_url().to_string() };
        let mut response = self.http.get(self.http_url(url)?).send().await.map_err(transport)?;
        if !response.status().is_success() {
            return Err(FetchError::Status { url: url.into(), status: response.status().as_u16() });
        }
        let too_large = || FetchError::TooLarge { url: url.into(), limit: self.max_bytes };
        if response.content_length().is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

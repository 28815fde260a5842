//! One project registry: the OutLayer contract's projects, served over HTTPS under the same
//! `owner/name`.
//!
//! With [`CoordinatorConfig::near`](crate::config::CoordinatorConfig::near) set, a background task
//! ([`run`]) reads the contract every
//! [`registry_interval`](crate::config::NearChainConfig::registry_interval): it pages
//! `list_projects(from_index, limit)` at one final block (the first page at `final`, the others at
//! that page's height, so all pages see one state) and upserts each project with
//! `origin = chain` ([`crate::db::registry::RegistryDb::upsert_chain_project`]). The chain is
//! the record: versions, the active version, grants and the http allowlist are the contract's,
//! and the HTTPS API refuses to change them (409 `chain_project`).
//!
//! **Wasm is fetched eagerly**, at sync, from each version's `source_url` (the contract's):
//! `https://` only (plain http only to a loopback address admitted for tests,
//! [`NearChainConfig::wasm_fetch_admit_loopback_for_tests`]), no redirects, at most
//! [`MAX_WASM_BYTES`], within [`FETCH_TIMEOUT`], and kept only when its sha256 is the one the
//! contract lists. A version is recorded (and callable) once its wasm is stored; a fetch that
//! fails is logged and tried again at the next sync, and the project's other versions are
//! synced meanwhile (the active version stays what it was until the contract's is stored).
//! `ipfs://` sources are not fetched by the coordinator (the version is skipped with a reason).
//! Workers then get the wasm from `/wasm/{sha256}` like any upload, so a call never waits for
//! a download.
//!
//! Grants: the contract's `grants` (`{storage, rpc, vrf}`; missing = none) as capabilities,
//! `payment` always (as on chain, where the attached payment is the guest's to refund), and
//! `http` when the allowlist holds an entry the host accepts (entries it refuses are dropped
//! with a warning, as the on-chain worker does).

use std::time::Duration;

use serde::Deserialize;

use crate::config::NearChainConfig;
use crate::db::registry::{ChainProject, ChainVersion};
use crate::limits::MAX_WASM_BYTES;
use crate::model::Capability;
use crate::state::{AppState, now_ms};
use outlayer_near::{BlockRef, RpcClient, RpcError};
use outlayer_protocol::http::HostPattern;
use outlayer_protocol::receipt::sha256_hex;

/// Projects asked for per `list_projects` page (the contract's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Longest time one wasm download may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest time one RPC call may take.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(20);
/// Most pages read per sync (bounds one sync at 100 000 projects).
pub const MAX_PAGES: u32 = 1_000;

/// Why a sync (or one fetch) failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The RPC node failed or answered something unexpected.
    #[error("rpc: {0}")]
    Rpc(#[from] RpcError),
    /// The contract's answer is not a project list.
    #[error("list_projects answered something that is not a project list: {0}")]
    Shape(String),
    /// The coordinator's database failed.
    #[error("database: {0}")]
    Store(#[from] crate::error::StoreError),
}

/// Why a version's wasm was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one the coordinator fetches from.
    #[error("source_url {url} refused: {reason}")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The download failed (transport, status, timeout).
    #[error("fetching {url}: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The body is larger than [`MAX_WASM_BYTES`].
    #[error("{url} is larger than {MAX_WASM_BYTES} bytes")]
    TooLarge {
        /// The URL.
        url: String,
    },
    /// The body's sha256 is not the contract's.
    #[error("{url} has sha256 {found}, the contract says {expected}")]
    HashMismatch {
        /// The URL.
        url: String,
        /// The contract's sha256.
        expected: String,
        /// What was downloaded.
        found: String,
    },
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The final block height the projects were read at.
    pub block_height: u64,
    /// Projects upserted.
    pub projects: usize,
    /// Wasm blobs downloaded and stored.
    pub fetched: usize,
    /// Projects the contract listed that were skipped (`owner/name`, why).
    pub skipped: Vec<(String, String)>,
    /// Versions whose wasm is not stored yet (`owner/name@sha256`, why).
    pub missing: Vec<(String, String)>,
}

/// A project as `get_project` / `list_projects` answer it. Parsed tolerantly: fields this
/// coordinator does not know are ignored, `grants` and `http_allowlist` may be missing (none).
#[derive(Debug, Clone, Deserialize)]
pub struct ContractProject {
    /// `owner/name`.
    #[serde(default)]
    pub project_id: String,
    /// Owner account.
    pub owner: String,
    /// Project name.
    pub name: String,
    /// The active version's sha256.
    #[serde(default)]
    pub active_version: Option<String>,
    /// Versions, oldest first.
    #[serde(default)]
    pub versions: Vec<ContractVersion>,
    /// Hosts its guests may reach over http.
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// Per-project grants (`set_project_grants`); missing = none.
    #[serde(default)]
    pub grants: Option<ContractGrants>,
}

/// One version as the contract lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ContractVersion {
    /// Hex sha256 of the component.
    pub wasm_sha256: String,
    /// Where to fetch it.
    pub source_url: String,
    /// Block timestamp when added, ns.
    #[serde(default)]
    pub added_at_ns: u64,
}

/// The contract's per-project grants.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct ContractGrants {
    /// Guest storage.
    #[serde(default)]
    pub storage: bool,
    /// NEAR RPC.
    #[serde(default)]
    pub rpc: bool,
    /// Verifiable randomness.
    #[serde(default)]
    pub vrf: bool,
}

/// Owner account names: NEAR account ids (2..=64 of `[a-z0-9._-]`).
fn valid_owner(owner: &str) -> bool {
    crate::limits::valid_name(owner)
}

/// Project names as the contract allows them (1..=64 of `[a-z0-9_-]`), plus `.`.
fn valid_project_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_sha256(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ContractProject {
    /// The coordinator's record of it: grants as capabilities (see the module docs), the
    /// allowlist entries the host accepts, versions with a well-formed sha256 (lowercase).
    pub fn to_chain_project(&self) -> ChainProject {
        let g = self.grants.unwrap_or_default();
        let http_allowlist: Vec<String> = self
            .http_allowlist
            .iter()
            .filter(|entry| match HostPattern::parse(entry) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(project = %self.id(), error = %e, "skipping an http allowlist entry the host refuses");
                    false
                }
            })
            .map(|e| e.trim().to_owned())
            .collect();
        let mut grants = vec![Capability::Payment];
        for (on, cap) in [(g.storage, Capability::Storage), (g.rpc, Capability::Rpc), (g.vrf, Capability::Vrf)] {
            if on {
                grants.push(cap);
            }
        }
        if !http_allowlist.is_empty() {
            grants.push(Capability::Http);
        }
        grants.sort_by_key(|c| c.name());
        ChainProject {
            owner: self.owner.clone(),
            name: self.name.clone(),
            active_version: self.active_version.as_ref().map(|v| v.to_ascii_lowercase()),
            versions: self
                .versions
                .iter()
                .filter(|v| valid_sha256(&v.wasm_sha256))
                .map(|v| ChainVersion {
                    wasm_sha256: v.wasm_sha256.to_ascii_lowercase(),
                    source_url: v.source_url.clone(),
                    added_ms: (v.added_at_ns / 1_000_000) as i64,
                })
                .collect(),
            grants,
            http_allowlist,
        }
    }

    /// `owner/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// Reads the contract and fetches wasm for one coordinator.
#[derive(Debug, Clone)]
pub struct Registry {
    rpc: RpcClient,
    http: reqwest::Client,
    config: NearChainConfig,
}

impl Registry {
    /// A registry for `config`.
    pub fn new(config: NearChainConfig) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .build()
            .expect("a reqwest client without custom TLS builds");
        Self { rpc: RpcClient::new(config.rpc_url.clone()).with_timeout(RPC_TIMEOUT), http, config }
    }

    /// Every project of the contract at one final block: `(height, projects)`.
    pub async fn list_projects(&self) -> Result<(u64, Vec<ContractProject>), RegistryError> {
        let mut at = BlockRef::Final;
        let mut height = 0;
        let mut projects = Vec::new();
        for page in 0..MAX_PAGES {
            let args = serde_json::json!({ "from_index": page * PAGE_SIZE, "limit": PAGE_SIZE });
            let answer = self.rpc.view_call(&at, &self.config.contract, "list_projects", args.to_string().as_bytes()).await?;
            if page == 0 {
                height = answer.block_height;
                at = BlockRef::Height(height);
            }
            let batch: Vec<serde_json::Value> = answer.json().map_err(|e| RegistryError::Shape(e.to_string()))?;
            let n = batch.len();
            for value in batch {
                match serde_json::from_value::<ContractProject>(value.clone()) {
                    Ok(p) => projects.push(p),
                    Err(e) => {
                        tracing::warn!(error = %e, project = %value.get("project_id").unwrap_or(&value), "skipping a project the coordinator cannot read")
                    }
                }
            }
            if n < PAGE_SIZE as usize {
                break;
            }
        }
        Ok((height, projects))
    }

    /// Checks that `url` is one to fetch from: `https://`, or `http://` to an admitted
    /// loopback `ip:port` (tests only).
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, FetchError> {
        let refused = |reason: &str| FetchError::Refused { url: url.to_owned(), reason: reason.to_owned() };
        let parsed = reqwest::Url::parse(url).map_err(|e| refused(&e.to_string()))?;
        let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let ip = host.parse::<std::net::IpAddr>().ok();
        let admitted = match (ip, parsed.port_or_known_default()) {
            (Some(ip), Some(port)) => self.config.wasm_fetch_admit_loopback_for_tests.contains(&std::net::SocketAddr::new(ip, port)),
            _ => false,
        };
        let public = match ip {
            Some(std::net::IpAddr::V4(ip)) => !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()),
            Some(std::net::IpAddr::V6(ip)) => !(ip.is_loopback() || ip.is_unspecified()),
            None => host != "localhost" && !host.ends_with(".localhost"),
        };
        match parsed.scheme() {
            "http" | "https" if admitted => Ok(parsed),
            "https" if host.is_empty() => Err(refused("no host")),
            "https" if !public => Err(refused("not a public address")),
            "https" => Ok(parsed),
            "ipfs" => Err(refused("ipfs:// is not fetched by the coordinator")),
            _ => Err(refused("only https:// sources are fetched")),
        }
    }

    /// Downloads `url` and checks its sha256 against `sha256`: the bytes, or why not.
    pub async fn fetch(&self, url: &str, sha256: &str) -> Result<Vec<u8>, FetchError> {
        let parsed = self.check_url(url)?;
        let download = |reason: String| FetchError::Download { url: url.to_owned(), reason };
        let mut response = self.http.get(parsed).send().await.map_err(|e| download(e.to_string()))?;
        if !response.status().is_success() {
            return Err(download(format!("HTTP {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n > MAX_WASM_BYTES as u64) {
            return Err(FetchError::TooLarge { url: url.to_owned() });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| download(e.to_string()))? {
            if bytes.len() + chunk.len() > MAX_WASM_BYTES {
                return Err(FetchError::TooLarge { url: url.to_owned() });
            }
            bytes.extend_from_slice(&chunk);
        }
        let found = sha256_hex(&bytes);
        if !found.eq_ignore_ascii_case(sha256) {
            return Err(FetchError::HashMismatch { url: url.to_owned(), expected: sha256.to_owned(), found });
        }
        Ok(bytes)
    }

    /// One sync: lists the contract's projects, fetches the wasm not stored yet, upserts each.
    pub async fn sync_once(&self, state: &AppState) -> Result<SyncReport, RegistryError> {
        let (block_height, listed) = self.list_projects().await?;
        let mut report = SyncReport { block_height, ..SyncReport::default() };
        for listed in listed {
            let id = listed.id();
            if !valid_owner(&listed.owner) || !valid_project_name(&listed.name) {
                report.skipped.push((id, "owner or name is not one the coordinator serves".into()));
                continue;
            }
            let project = listed.to_chain_project();
            for v in &project.versions {
                if state.db.has_wasm(&v.wasm_sha256).await? {
                    continue;
                }
                match self.fetch(&v.source_url, &v.wasm_sha256).await {
                    Ok(bytes) => {
                        state.db.store_wasm(&v.wasm_sha256, &bytes, now_ms()).await?;
                        report.fetched += 1;
                    }
                    Err(e) => {
                        tracing::warn!(project = %id, version = %v.wasm_sha256, error = %e, "chain version not fetched; retried next sync");
                        report.missing.push((format!("{id}@{}", v.wasm_sha256), e.to_string()));
                    }
                }
            }
            state.db.upsert_chain_project(&project, &uuid::Uuid::new_v4().to_string(), now_ms()).await?;
            report.projects += 1;
        }
        Ok(report)
    }
}

/// Syncs the contract's projects every `registry_interval` until shutdown begins (the first
/// sync at once). Failures are logged (one line per kind per 10 s) and retried at the next
/// interval.
pub async fn run(state: AppState, config: NearChainConfig) {
    let interval = config.registry_interval;
    let registry = Registry::new(config);
    let stop = state.hub.shutdown_signal();
    loop {
        match registry.sync_once(&state).await {
            Ok(report) => tracing::debug!(?report, "project registry synced"),
            Err(e) => {
                if let Some(suppressed) = crate::logflood::BACKGROUND.admit("registry") {
                    tracing::warn!(error = %e, suppressed, "project registry sync failed");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = crate::notify::Hub::until_shutdown(stop.clone()) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(admit: Vec<std::net::SocketAddr>) -> Registry {
        let mut config = NearChainConfig::new("http://127.0.0.1:1", "outlayer.test");
        config.wasm_fetch_admit_loopback_for_tests = admit;
        Registry::new(config)
    }

    #[test]
    fn only_https_sources_unless_a_loopback_is_admitted() {
        let r = registry(vec![]);
        assert!(r.check_url("https://example.com/app.wasm").is_ok());
        for bad in [
            "http://example.com/app.wasm",
            "https://127.0.0.1/app.wasm",
            "https://10.0.0.1/app.wasm",
            "https://localhost/x",
            "ipfs://bafy/app.wasm",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(matches!(r.check_url(bad), Err(FetchError::Refused { .. })), "{bad} should be refused");
        }
        let r = registry(vec!["127.0.0.1:4000".parse().unwrap()]);
        assert!(r.check_url("http://127.0.0.1:4000/app.wasm").is_ok());
        assert!(r.check_url("http://127.0.0.1:4001/app.wasm").is_err(), "only the admitted port");
    }

    #[test]
    fn a_project_is_read_tolerantly() {
        let sha = "ab".repeat(32);
        let without_grants: ContractProject = serde_json::from_value(serde_json::json!({
            "project_id": "alice.near/app", "owner": "alice.near", "name": "app", "active_version": sha.to_uppercase(),
            "versions": [{"wasm_sha256": sha.to_uppercase(), "source_url": "https://x/app.wasm", "added_at_ns": 5_000_000u64},
                         {"wasm_sha256": "nothex", "source_url": "https://x/bad.wasm", "added_at_ns": 0}],
            "some_future_field": 1
        }))
        .unwrap();
        let p = without_grants.to_chain_project();
        assert_eq!(p.grants, vec![Capability::Payment], "missing grants = none (payment is always granted)");
        assert_eq!(p.active_version.as_deref(), Some(sha.as_str()));
        assert_eq!(p.versions.len(), 1, "a malformed sha256 is not a version");
        assert_eq!(p.versions[0].added_ms, 5);

        let with_grants: ContractProject = serde_json::from_value(serde_json::json!({
            "project_id": "alice.near/app", "owner": "alice.near", "name": "app", "versions": [],
            "grants": {"storage": true, "vrf": true}, "http_allowlist": ["api.example.com", "bad host/path"]
        }))
        .unwrap();
        let p = with_grants.to_chain_project();
        assert_eq!(p.grants, vec![Capability::Http, Capability::Payment, Capability::Storage, Capability::Vrf]);
        assert_eq!(p.http_allowlist, vec!["api.example.com".to_owned()], "an entry the host refuses is dropped");
    }
}

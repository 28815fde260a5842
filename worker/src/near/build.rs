//! `GitHub` sources on the chain path: the contract resolves them to
//! `wasm_url = git+<repo>@<commit>#<target>` with no sha256 (see `outlayer-contract`'s
//! `github` module); the worker asks a coordinator's builder API for the build (`POST /builds`
//! with an owner token), waits for it (`GET /builds/{id}`), downloads the wasm
//! (`GET /builds/{id}/wasm`) and checks it against the hash the build reported. The worker never
//! compiles: builders run outside the TEE, on machines that hold no secrets.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How long the worker waits for one build (a cold build of a large crate takes minutes).
pub const BUILD_WAIT: Duration = Duration::from_secs(900);
/// Pause between two reads of a build's status.
pub const BUILD_POLL: Duration = Duration::from_millis(500);
/// Largest built wasm downloaded.
pub const MAX_BUILT_WASM_BYTES: usize = super::fetch::MAX_WASM_BYTES;

/// Where builds are asked for: a coordinator URL and an owner token of it.
#[derive(Clone)]
pub struct BuilderLink {
    /// Coordinator base URL.
    pub url: String,
    /// Bearer token of an owner of that coordinator (`POST /builds` needs one).
    pub token: String,
}

impl std::fmt::Debug for BuilderLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuilderLink").field("url", &self.url).finish_non_exhaustive()
    }
}

/// A git source as the contract resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRef {
    /// Repository URL.
    pub repo: String,
    /// Commit id.
    pub commit: String,
    /// Target triple.
    pub build_target: String,
}

impl GitRef {
    /// Parses `git+<repo>@<commit>#<target>`; `None` for any other URL.
    pub fn parse(wasm_url: &str) -> Option<Self> {
        let rest = wasm_url.strip_prefix("git+")?;
        let (rest, target) = rest.rsplit_once('#')?;
        let (repo, commit) = rest.rsplit_once('@')?;
        Some(Self { repo: repo.to_owned(), commit: commit.to_owned(), build_target: target.to_owned() })
    }
}

/// A finished build.
#[derive(Clone, Debug)]
pub struct Built {
    /// The wasm.
    pub wasm: Vec<u8>,
    /// Its sha256 (checked).
    pub sha256: String,
    /// Compile time to charge, ms (0 for a cache hit).
    pub compile_ms: u64,
}

/// Why no wasm came.
#[derive(Debug, thiserror::Error)]
pub enum BuildFetchError {
    /// The builder cannot be reached or answered oddly: try again later.
    #[error("builder unavailable: {0}")]
    Unavailable(String),
    /// The build failed or was refused: the request fails with this text (`code: message`,
    /// the builder's typed code first), after `compile_ms` of building (0 when refused).
    #[error("build failed: {message}")]
    Failed {
        /// `code: message`.
        message: String,
        /// The failed build's duration, ms (charged like a successful build's).
        compile_ms: u64,
    },
}

/// Builds `git` through `link` and returns the checked wasm; `force_rebuild` (OutLayer v0.1's
/// request param) has the builder rebuild even when the build is cached.
pub async fn build(http: &reqwest::Client, link: &BuilderLink, git: &GitRef, force_rebuild: bool) -> Result<Built, BuildFetchError> {
    let base = link.url.trim_end_matches('/');
    let unavailable = |e: reqwest::Error| BuildFetchError::Unavailable(e.without_url().to_string());
    let mut body = json!({ "source": { "git": git.repo, "commit": git.commit, "build_target": git.build_target } });
    if force_rebuild {
        body["force_rebuild"] = json!(true);
    }
    let resp = http.post(format!("{base}/builds")).bearer_auth(&link.token).json(&body).send().await.map_err(unavailable)?;
    let status = resp.status();
    let answer: Value = resp.json().await.map_err(unavailable)?;
    if status.is_client_error() {
        let message = format!("{}: {}", answer["error"]["code"].as_str().unwrap_or("?"), answer["error"]["message"].as_str().unwrap_or(""));
        return Err(BuildFetchError::Failed { message, compile_ms: 0 });
    }
    let Some(id) = answer["build_id"].as_str().filter(|_| status.is_success()) else {
        return Err(BuildFetchError::Unavailable(format!("POST /builds answered {status}")));
    };
    let deadline = tokio::time::Instant::now() + BUILD_WAIT;
    let view = loop {
        let view: Value = http.get(format!("{base}/builds/{id}")).send().await.map_err(unavailable)?.json().await.map_err(unavailable)?;
        match view["status"].as_str() {
            Some("succeeded") => break view,
            Some("failed") => {
                let message =
                    format!("{}: {}", view["error"]["code"].as_str().unwrap_or("?"), view["error"]["message"].as_str().unwrap_or(""));
                return Err(BuildFetchError::Failed { message, compile_ms: view["duration_ms"].as_u64().unwrap_or(0) });
            }
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(BuildFetchError::Unavailable(format!("build {id} still not finished")));
            }
            _ => tokio::time::sleep(BUILD_POLL).await,
        }
    };
    let sha256 = view["wasm_sha256"].as_str().unwrap_or_default().to_owned();
    let resp = http.get(format!("{base}/builds/{id}/wasm")).send().await.map_err(unavailable)?;
    if !resp.status().is_success() || resp.content_length().is_some_and(|n| n > MAX_BUILT_WASM_BYTES as u64) {
        return Err(BuildFetchError::Unavailable(format!("GET /builds/{id}/wasm answered {}", resp.status())));
    }
    let wasm = resp.bytes().await.map_err(unavailable)?.to_vec();
    if wasm.len() > MAX_BUILT_WASM_BYTES || hex::encode(Sha256::digest(&wasm)) != sha256 {
        let message = format!("the wasm of build {id} does not hash to its reported sha256 {sha256}");
        return Err(BuildFetchError::Failed { message, compile_ms: 0 });
    }
    let compile_ms = if view["cache_hit"] == true { 0 } else { view["duration_ms"].as_u64().unwrap_or(0) };
    Ok(Built { wasm, sha256, compile_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_parse_and_others_do_not() {
        let g = GitRef::parse("git+https://github.com/a/b@0123456789abcdef0123456789abcdef01234567#wasm32-wasip1").unwrap();
        assert_eq!(g.repo, "https://github.com/a/b");
        assert_eq!(g.commit, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(g.build_target, "wasm32-wasip1");
        assert_eq!(GitRef::parse("https://x/a.wasm"), None);
    }
}

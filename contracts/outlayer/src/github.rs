//! `GitHub` sources: a repository at a commit, built off-chain by an OutLayer builder (outside
//! the TEE) before the worker runs it.
//!
//! The resolved form keeps [`ResolvedSource`]'s stored layout (pending requests already in state
//! decode unchanged): `wasm_url` is `git+<repo>@<commit>#<build_target>` and `wasm_sha256` is
//! empty, because the hash is known only once built. The worker's signed receipt names the hash
//! it ran ([`crate::receipt`] accepts any hash for these requests), and the settlement adds the
//! compile time at [`crate::Pricing::compile_cost`].
//!
//! A compile-only request (`params.compile_only`, OutLayer v0.1) builds without running: it is
//! stored with [`ResolvedLimits::COMPILE_ONLY`] (all zero), reserves only the compile charge and
//! answers [`compile_only_output`].

use near_sdk::env;
use near_sdk::serde_json::{Value, json};

use crate::types::{ExecutionOutput, PendingRequest, ResolvedLimits, ResolvedSource};

/// Longest repository URL accepted.
pub const MAX_REPO_BYTES: usize = 256;
/// Targets a builder builds.
pub const BUILD_TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-wasip2"];
/// The target when none is given.
pub const DEFAULT_BUILD_TARGET: &str = "wasm32-wasip2";
/// Prefix of a resolved git source's `wasm_url`.
pub const GIT_URL_PREFIX: &str = "git+";

/// Checks a `GitHub` source and resolves it: `repo` an `https://` URL of at most
/// [`MAX_REPO_BYTES`] without whitespace, `@` or `#`; `commit` 40 hex digits (stored lowercase);
/// `build_target` one of [`BUILD_TARGETS`] (default [`DEFAULT_BUILD_TARGET`]).
pub fn resolve(repo: &str, commit: &str, build_target: Option<&str>) -> ResolvedSource {
    let rest = repo.strip_prefix("https://").unwrap_or_else(|| env::panic_str("GitHub repo must be an https:// URL"));
    if repo.len() > MAX_REPO_BYTES || rest.is_empty() || repo.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '#') {
        env::panic_str(&format!("GitHub repo must be at most {MAX_REPO_BYTES} bytes, without spaces, '@' or '#'"));
    }
    if commit.len() != 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        env::panic_str("GitHub commit must be a full commit id (40 hex digits)");
    }
    let target = build_target.unwrap_or(DEFAULT_BUILD_TARGET);
    if !BUILD_TARGETS.contains(&target) {
        env::panic_str(&format!("build_target must be one of {}", BUILD_TARGETS.join(", ")));
    }
    ResolvedSource {
        project_id: None,
        project_owner: None,
        wasm_url: format!("{GIT_URL_PREFIX}{repo}@{}#{target}", commit.to_ascii_lowercase()),
        wasm_sha256: String::new(),
    }
}

/// Whether a resolved source is built from git.
pub fn is_git(source: &ResolvedSource) -> bool {
    source.wasm_url.starts_with(GIT_URL_PREFIX) && source.wasm_sha256.is_empty()
}

/// Whether a request is compile-only (`params.compile_only`): a git source stored with
/// [`ResolvedLimits::COMPILE_ONLY`] (no request that runs something has a zero limit, so the
/// stored layout of [`PendingRequest`] did not change).
pub fn is_compile_only(request: &PendingRequest) -> bool {
    is_git(&request.source) && request.limits == ResolvedLimits::COMPILE_ONLY
}

/// The output of a successful compile-only request, from the worker's JSON output: `{"wasm_sha256":
/// <64 lowercase hex>, "compile_time_ms": <the charged compile time>}` (the contract writes
/// `compile_time_ms` itself, from the response it charges). `Err` when the worker's output names
/// no valid hash.
pub fn compile_only_output(output: Option<&ExecutionOutput>, compile_time_ms: u64) -> Result<Value, String> {
    let sha256 = match output {
        Some(ExecutionOutput::Json(value)) => value["wasm_sha256"].as_str(),
        _ => None,
    };
    match sha256 {
        Some(h) if h.len() == 64 && h.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) => {
            Ok(json!({ "wasm_sha256": h, "compile_time_ms": compile_time_ms }))
        }
        _ => Err("Compile-only output must be {\"wasm_sha256\": <64 lowercase hex>, ...}".into()),
    }
}

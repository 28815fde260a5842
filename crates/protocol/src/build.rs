//! Builds from source: what `POST /projects/{owner}/{name}/versions` accepts as a `source`, what
//! a builder leases ([`BuildJob`]) and reports ([`BuildReport`]), the typed failures
//! ([`BuildErrorCode`]) and what `GET /builds/{id}` answers ([`BuildView`]). [`BuildSource`] is
//! the builder's side of the protocol as a trait (HTTP: [`BuilderClient`] with feature `client`;
//! the coordinator of the same process for `outlayer serve`).
//!
//! Every field of a [`GitSource`] is attacker input; [`GitSource::validate`] is the one check,
//! applied by the coordinator when a build is asked for and again by the builder before it runs
//! `git`.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Longest repository URL accepted.
pub const MAX_GIT_URL_BYTES: usize = 512;
/// Longest `path` inside the repository accepted.
pub const MAX_BUILD_PATH_BYTES: usize = 256;

/// The target a source is built for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BuildTarget {
    /// WASI preview 1 core module (the host runs it as a preview1 command).
    #[serde(rename = "wasm32-wasip1")]
    Wasip1,
    /// WASI 0.2 component (the default).
    #[default]
    #[serde(rename = "wasm32-wasip2")]
    Wasip2,
}

impl BuildTarget {
    /// The rustc target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Self::Wasip1 => "wasm32-wasip1",
            Self::Wasip2 => "wasm32-wasip2",
        }
    }
}

impl std::str::FromStr for BuildTarget {
    type Err = SourceRefused;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wasm32-wasip1" => Ok(Self::Wasip1),
            "wasm32-wasip2" => Ok(Self::Wasip2),
            other => Err(SourceRefused(format!("build_target {other:?} is not wasm32-wasip1 or wasm32-wasip2"))),
        }
    }
}

impl std::fmt::Display for BuildTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.triple())
    }
}

/// A source refused before anything runs (the text says which field and why).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceRefused(pub String);

/// A git repository at an exact commit: the `source` of a version built from source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSource {
    /// Repository URL (`https://…`; other schemes only where the builder allows them).
    pub git: String,
    /// Full commit id: 40 lowercase hex digits.
    pub commit: String,
    /// Directory of the crate inside the repository (default: its root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Target (default `wasm32-wasip2`).
    #[serde(default)]
    pub build_target: BuildTarget,
}

impl GitSource {
    /// Checks every field and normalises the commit to lowercase: the URL is at most
    /// [`MAX_GIT_URL_BYTES`], has a `scheme://`, no whitespace or control characters and does not
    /// start with `-` (no option injection into git); the commit is 40 hex digits; the path is
    /// relative, without `..`, `.` or empty components, at most [`MAX_BUILD_PATH_BYTES`].
    pub fn validate(mut self) -> Result<Self, SourceRefused> {
        let refuse = |m: String| Err(SourceRefused(m));
        let url = self.git.as_str();
        if url.is_empty() || url.len() > MAX_GIT_URL_BYTES {
            return refuse(format!("git URL must be 1..={MAX_GIT_URL_BYTES} bytes"));
        }
        if url.starts_with('-') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("git URL must not start with '-' or contain spaces or control characters".into());
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return refuse("git URL must be scheme://host/path (e.g. https://github.com/owner/repo)".into());
        };
        if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') || rest.is_empty() {
            return refuse("git URL must be scheme://host/path (e.g. https://github.com/owner/repo)".into());
        }
        if self.commit.starts_with('-') || self.commit.len() != 40 || !self.commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return refuse(format!("commit must be a full commit id (40 hex digits), got {:?}", truncated(&self.commit)));
        }
        self.commit.make_ascii_lowercase();
        if let Some(path) = &self.path {
            let trimmed = path.trim_matches('/');
            if path.len() > MAX_BUILD_PATH_BYTES || path.starts_with('/') || path.starts_with('-') {
                return refuse(format!("path must be a relative directory of at most {MAX_BUILD_PATH_BYTES} bytes"));
            }
            if path.chars().any(|c| c.is_control() || c == '\\')
                || trimmed.split('/').any(|part| part.is_empty() || part == "." || part == "..")
            {
                return refuse("path must not contain '..', '.', empty parts, backslashes or control characters".into());
            }
            self.path = if trimmed.is_empty() { None } else { Some(trimmed.to_owned()) };
        }
        Ok(self)
    }

    /// The URL's scheme (`https`, `file`, …).
    pub fn scheme(&self) -> &str {
        self.git.split_once("://").map_or("", |(s, _)| s)
    }
}

fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Where a build is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// Waiting for a builder.
    Queued,
    /// Leased by a builder.
    Running,
    /// Built; the version exists.
    Succeeded,
    /// Failed with a [`BuildErrorCode`].
    Failed,
}

impl BuildStatus {
    /// The snake_case name (as stored and serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses [`BuildStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

/// Why a build failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildErrorCode {
    /// The repository could not be fetched (unreachable, not a repository, scheme not allowed).
    CloneFailed,
    /// The repository has no such commit.
    CommitNotFound,
    /// cargo failed; the message ends with the last lines of the compiler's output.
    BuildFailed,
    /// The build ran past its time limit and was killed.
    BuildTimeout,
    /// The built wasm is larger than the output limit.
    OutputTooLarge,
    /// The output is not what the target promises (a component for wasm32-wasip2, a core
    /// module for wasm32-wasip1).
    NotAComponent,
    /// The builder itself failed (disk, sandbox, toolchain); not the source's fault.
    Internal,
}

impl BuildErrorCode {
    /// The snake_case name (as stored and serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloneFailed => "clone_failed",
            Self::CommitNotFound => "commit_not_found",
            Self::BuildFailed => "build_failed",
            Self::BuildTimeout => "build_timeout",
            Self::OutputTooLarge => "output_too_large",
            Self::NotAComponent => "not_a_component",
            Self::Internal => "internal",
        }
    }

    /// Parses [`BuildErrorCode::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::CloneFailed,
            Self::CommitNotFound,
            Self::BuildFailed,
            Self::BuildTimeout,
            Self::OutputTooLarge,
            Self::NotAComponent,
            Self::Internal,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// What a builder leases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildJob {
    /// Build id.
    pub build_id: String,
    /// What to build (validated by the coordinator).
    pub source: GitSource,
    /// Rebuild even when the builder has this build in its cache, and say whether the hash
    /// matched.
    #[serde(default)]
    pub force_rebuild: bool,
}

/// A successful build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltWasm {
    /// The wasm.
    #[serde(with = "crate::bytes_b64")]
    pub wasm: Vec<u8>,
    /// Lowercase hex sha256 of `wasm`.
    pub wasm_sha256: String,
    /// The toolchain it was built with (`rustc --version` of the pinned toolchain).
    pub toolchain: String,
    /// Served from the builder's cache (no build ran).
    pub cache_hit: bool,
    /// With `force_rebuild` and an earlier result in the cache: whether the new hash is the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
    /// The hash the cache held before a forced rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sha256: Option<String>,
}

/// A failed build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildFailure {
    /// Typed reason.
    pub code: BuildErrorCode,
    /// What happened (for `build_failed`, ends with the compiler's last lines).
    pub message: String,
}

/// What a builder reports for a leased build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Build id (from the [`BuildJob`]).
    pub build_id: String,
    /// The outcome.
    pub result: Result<BuiltWasm, BuildFailure>,
    /// The build log (git, cargo), tail-capped by the builder.
    pub log: String,
    /// Time the build took (of the original build for a cache hit), ms.
    pub duration_ms: u64,
}

/// `GET /builds/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildView {
    /// Build id.
    pub id: String,
    /// `owner/name` of the project the version is added to (none for a chain build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// What is built.
    pub source: GitSource,
    /// Whether a rebuild was forced.
    pub force_rebuild: bool,
    /// Where it is.
    pub status: BuildStatus,
    /// The built wasm's sha256 (= the version) once succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_sha256: Option<String>,
    /// Toolchain it was built with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<String>,
    /// Served from the builder's cache.
    #[serde(default)]
    pub cache_hit: bool,
    /// Result of the reproducibility check of a forced rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
    /// Hash the cache held before a forced rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sha256: Option<String>,
    /// Failure, once failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<BuildFailure>,
    /// Build log.
    #[serde(default)]
    pub log: String,
    /// Build time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// When asked for, unix ms.
    pub created_at_ms: i64,
    /// When finished, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
}

/// The future a [`BuildSource`] method returns.
pub type BuildFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, crate::SourceError>> + Send + 'a>>;

/// Where a builder gets builds and reports them.
pub trait BuildSource: Send + Sync + 'static {
    /// Waits up to `wait` for a build; `None` when there is none.
    fn lease(&self, wait: Duration) -> BuildFuture<'_, Option<BuildJob>>;
    /// Reports a leased build's result.
    fn complete<'a>(&'a self, report: &'a BuildReport) -> BuildFuture<'a, ()>;
}

#[cfg(feature = "client")]
pub use client::BuilderClient;

#[cfg(feature = "client")]
mod client {
    use super::*;
    use crate::client::{Authed, ClientError};
    use crate::source::SourceError;

    /// Time a report upload may take (it carries the wasm).
    pub const REPORT_TIMEOUT: Duration = Duration::from_secs(120);

    /// A builder talking to a coordinator's builder API (`POST /builder/lease`,
    /// `POST /builder/complete`) with the coordinator's builder token.
    #[derive(Debug, Clone)]
    pub struct BuilderClient {
        api: Authed,
    }

    impl BuilderClient {
        /// A client of the coordinator at `base` (e.g. `http://127.0.0.1:8080`).
        pub fn new(base: &str, token: &str) -> Result<Self, ClientError> {
            Ok(Self { api: Authed::new(reqwest::Client::builder().build()?, base, token) })
        }

        /// Asks for a build, waiting up to `wait` on the server; `None` = none queued.
        pub async fn lease(&self, wait: Duration) -> Result<Option<BuildJob>, ClientError> {
            self.api.long_poll("/builder/lease", wait).await
        }

        /// Reports a build.
        pub async fn complete(&self, report: &BuildReport) -> Result<BuildView, ClientError> {
            self.api.post_json("/builder/complete", report, REPORT_TIMEOUT).await
        }
    }

    impl BuildSource for BuilderClient {
        fn lease(&self, wait: Duration) -> BuildFuture<'_, Option<BuildJob>> {
            Box::pin(async move { BuilderClient::lease(self, wait).await.map_err(|e| SourceError(e.to_string())) })
        }
        fn complete<'a>(&'a self, report: &'a BuildReport) -> BuildFuture<'a, ()> {
            Box::pin(async move { BuilderClient::complete(self, report).await.map(|_| ()).map_err(|e| SourceError(e.to_string())) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(git: &str, commit: &str, path: Option<&str>) -> GitSource {
        GitSource { git: git.into(), commit: commit.into(), path: path.map(Into::into), build_target: BuildTarget::Wasip2 }
    }

    #[test]
    fn hostile_sources_are_refused() {
        let c = "a".repeat(40);
        assert!(source("https://github.com/a/b", &c, None).validate().is_ok());
        assert_eq!(source("https://x/y", &"AB".repeat(20), Some("crates/x/")).validate().unwrap().commit, "ab".repeat(20));
        assert_eq!(source("https://x/y", &c, Some("crates/x/")).validate().unwrap().path.as_deref(), Some("crates/x"));
        for bad in ["-uhttps://x", "--upload-pack=touch /tmp/p", "https://x y", "github.com/a/b", "ext::sh -c x", "://x", ""] {
            assert!(source(bad, &c, None).validate().is_err(), "{bad}");
        }
        for bad in ["--all", "abc", "main", &"g".repeat(40), &"a".repeat(41)] {
            assert!(source("https://x/y", bad, None).validate().is_err(), "{bad}");
        }
        for bad in ["../x", "a/../../b", "/etc", "a//b", "./a", "-x", "a\\b"] {
            assert!(source("https://x/y", &c, Some(bad)).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_and_codes_round_trip() {
        assert_eq!(serde_json::to_value(BuildTarget::Wasip1).unwrap(), "wasm32-wasip1");
        assert_eq!("wasm32-wasip2".parse::<BuildTarget>().unwrap(), BuildTarget::Wasip2);
        assert!("x86_64".parse::<BuildTarget>().is_err());
        assert_eq!(serde_json::to_value(BuildErrorCode::NotAComponent).unwrap(), "not_a_component");
        assert_eq!(BuildErrorCode::parse("build_timeout"), Some(BuildErrorCode::BuildTimeout));
        assert_eq!(BuildStatus::parse("succeeded"), Some(BuildStatus::Succeeded));
        let s: GitSource = serde_json::from_str(&format!(r#"{{"git":"https://x/y","commit":"{}"}}"#, "a".repeat(40))).unwrap();
        assert_eq!(s.build_target, BuildTarget::Wasip2);
    }
}

//! [`BuilderConfig`] and [`BuildLimits`]: passed in by the binary (the library reads no
//! environment).

use std::path::PathBuf;
use std::time::Duration;

/// Default wall time of one build (clone, dependency fetch, compile). Defends the builder
/// against a build that never ends (a `build.rs` that loops, a compiler stuck on hostile code).
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Default address-space limit (RLIMIT_AS) of every process of a build. Defends the machine's
/// memory against a build script or a compile that allocates without end; per process, not
/// per build (see docs/builder.md).
pub const DEFAULT_MEMORY_BYTES: u64 = 4 << 30;
/// Default largest wasm a build may produce; matches the coordinator's upload limit.
pub const DEFAULT_MAX_WASM_BYTES: u64 = 64 << 20;
/// Default largest file any process of a build may write (RLIMIT_FSIZE). Defends the disk
/// against a build script writing one endless file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 30;
/// Default build log kept (the tail); the log is stored with the build and returned by
/// `GET /builds/{id}`.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;
/// Lines of compiler output quoted in a `build_failed` message.
pub const FAILURE_TAIL_LINES: usize = 30;

/// The limits every build runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildLimits {
    /// Wall time of the whole build; past it the build's process group is killed
    /// (`build_timeout`).
    pub timeout: Duration,
    /// RLIMIT_AS of every process of the build, bytes.
    pub memory_bytes: u64,
    /// Largest wasm accepted (`output_too_large`).
    pub max_wasm_bytes: u64,
    /// RLIMIT_FSIZE of every process of the build, bytes.
    pub max_file_bytes: u64,
    /// Build log kept, bytes (the tail).
    pub max_log_bytes: usize,
}

impl Default for BuildLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_BUILD_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            max_wasm_bytes: DEFAULT_MAX_WASM_BYTES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        }
    }
}

/// Where and how a builder builds.
#[derive(Clone, Debug)]
pub struct BuilderConfig {
    /// Working directory: `builds/<id>` (removed after each build) and `cache/`.
    pub work_dir: PathBuf,
    /// The cargo home whose registry (index and `.crate` cache) builds share; the dependency
    /// fetch writes its `registry/` and `git/`, builds only read them.
    pub cargo_home: PathBuf,
    /// The pinned rustup toolchain (`1.95.0`, the workspace's `rust-toolchain.toml`).
    pub toolchain: String,
    /// URL schemes `git` may use (`GIT_ALLOW_PROTOCOL`). Default `https` only; tests add `file`.
    pub allowed_schemes: Vec<String>,
    /// Limits of each build.
    pub limits: BuildLimits,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
}

impl BuilderConfig {
    /// Defaults for `work_dir` and `cargo_home`: toolchain `1.95.0`, https only, default limits,
    /// `bwrap` from `/usr/bin`.
    pub fn new(work_dir: impl Into<PathBuf>, cargo_home: impl Into<PathBuf>) -> Self {
        Self {
            work_dir: work_dir.into(),
            cargo_home: cargo_home.into(),
            toolchain: crate::PINNED_TOOLCHAIN.to_owned(),
            allowed_schemes: vec!["https".to_owned()],
            limits: BuildLimits::default(),
            bwrap: PathBuf::from("/usr/bin/bwrap"),
        }
    }
}

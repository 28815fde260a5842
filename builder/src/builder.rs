//! [`Builder`]: one build from a [`BuildJob`] to a [`BuildReport`]: cache lookup, fetch,
//! dependency fetch, compile, checks, cache store.

use std::path::{Path, PathBuf};
use std::time::Instant as StdInstant;

use outlayer_protocol::build::{BuildFailure, BuildJob, BuildReport, BuildTarget, BuiltWasm, GitSource};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cache::{self, Cache, Entry};
use crate::compile;
use crate::config::BuilderConfig;
use crate::error::BuildError;
use crate::git;
use crate::process::Log;
use crate::sandbox::Dirs;

/// The pinned toolchain: the workspace's `rust-toolchain.toml`.
pub const PINNED_TOOLCHAIN: &str = "1.95.0";

/// The resolved pinned toolchain.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// Its sysroot on the host.
    pub sysroot: PathBuf,
    /// `rustc --version`, part of every cache key.
    pub version: String,
}

/// Builds sources in a sandbox, keeping results in a content-addressed cache.
#[derive(Debug)]
pub struct Builder {
    config: BuilderConfig,
    toolchain: Toolchain,
    cache: Cache,
    /// One `rustup target add` at a time.
    targets: Mutex<()>,
}

async fn output(cmd: &mut tokio::process::Command) -> Result<String, BuildError> {
    let out = cmd.output().await.map_err(|e| BuildError::internal("running rustup", e))?;
    if !out.status.success() {
        return Err(BuildError::Internal(format!("rustup failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Builder {
    /// Resolves the pinned toolchain (`rustup run <toolchain> rustc --print sysroot`), checks
    /// that bubblewrap is there and creates the work directory.
    pub async fn new(config: BuilderConfig) -> Result<Self, BuildError> {
        if !config.bwrap.exists() {
            return Err(BuildError::Internal(format!(
                "bubblewrap not found at {} (apt-get install bubblewrap): builds never run unsandboxed",
                config.bwrap.display()
            )));
        }
        let sysroot =
            output(tokio::process::Command::new("rustup").args(["run", &config.toolchain, "rustc", "--print", "sysroot"])).await?;
        let sysroot = PathBuf::from(sysroot);
        let version = output(tokio::process::Command::new(sysroot.join("bin/rustc")).arg("--version")).await?;
        for dir in [
            config.work_dir.join("builds"),
            config.cargo_home.join("registry/index"),
            config.cargo_home.join("registry/cache"),
            config.cargo_home.join("git"),
        ] {
            std::fs::create_dir_all(&dir).map_err(|e| BuildError::internal(&format!("creating {}", dir.display()), e))?;
        }
        let cache = Cache::new(config.work_dir.join("cache"));
        Ok(Self { config, toolchain: Toolchain { sysroot, version }, cache, targets: Mutex::new(()) })
    }

    /// The toolchain builds use.
    pub fn toolchain(&self) -> &Toolchain {
        &self.toolchain
    }

    /// The configuration.
    pub fn config(&self) -> &BuilderConfig {
        &self.config
    }

    /// Builds `job` (or serves it from the cache) and reports the result; never fails itself.
    pub async fn build(&self, job: &BuildJob) -> BuildReport {
        let started = StdInstant::now();
        let mut log = Log::new(self.config.limits.max_log_bytes);
        let result = self.run(job, &mut log).await;
        if let Err(e) = &result {
            tracing::info!(build_id = %job.build_id, code = e.code().as_str(), "build failed");
        }
        BuildReport {
            build_id: job.build_id.clone(),
            result: result.map_err(|e| BuildFailure { code: e.code(), message: e.to_string() }),
            log: log.into_string(),
            duration_ms: started.elapsed().as_millis() as u64,
        }
    }

    async fn run(&self, job: &BuildJob, log: &mut Log) -> Result<BuiltWasm, BuildError> {
        let source = job.source.clone().validate().map_err(|e| BuildError::Refused(e.to_string()))?;
        let key = cache::key(&source, &self.toolchain.version);
        let cached = self.cache.get(&key);
        if let (Some((entry, wasm)), false) = (&cached, job.force_rebuild) {
            log.line(&format!("cache hit: {} (built in {} ms)", entry.wasm_sha256, entry.duration_ms));
            log.push(entry.log.as_bytes());
            return Ok(BuiltWasm {
                wasm: wasm.clone(),
                wasm_sha256: entry.wasm_sha256.clone(),
                toolchain: entry.toolchain.clone(),
                cache_hit: true,
                reproducible: None,
                previous_sha256: None,
            });
        }
        let started = StdInstant::now();
        let dir = self.config.work_dir.join("builds").join(sanitize(&job.build_id));
        let _ = std::fs::remove_dir_all(&dir);
        let result = self.build_in(&source, &dir, log).await;
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(error = %e, dir = %dir.display(), "could not remove a build directory");
        }
        let wasm = result?;
        let sha = hex::encode(Sha256::digest(&wasm));
        log.line(&format!("built {} bytes, sha256 {sha}", wasm.len()));
        let entry = Entry {
            wasm_sha256: sha.clone(),
            toolchain: self.toolchain.version.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            log: log.clone().into_string(),
        };
        if let Err(e) = self.cache.put(&key, &entry, &wasm) {
            tracing::warn!(error = %e, "could not store a build in the cache");
        }
        let previous = cached.map(|(e, _)| e.wasm_sha256);
        if let Some(previous) = &previous {
            let same = *previous == sha;
            log.line(&format!("reproducibility: {} (cached {previous}, rebuilt {sha})", if same { "same hash" } else { "HASH DIFFERS" }));
        }
        Ok(BuiltWasm {
            wasm,
            wasm_sha256: sha.clone(),
            toolchain: self.toolchain.version.clone(),
            cache_hit: false,
            reproducible: previous.as_ref().map(|p| *p == sha),
            previous_sha256: previous,
        })
    }

    async fn build_in(&self, source: &GitSource, dir: &Path, log: &mut Log) -> Result<Vec<u8>, BuildError> {
        let limits = &self.config.limits;
        let deadline = Instant::now() + limits.timeout;
        let seconds = limits.timeout.as_secs();
        let dirs = Dirs {
            src: dir.join("src"),
            target: dir.join("target"),
            cargo_home: dir.join("cargo-home"),
            shared_cargo_home: self.config.cargo_home.clone(),
            sysroot: self.toolchain.sysroot.clone(),
        };
        for d in [&dirs.target, &dirs.cargo_home, &dir.join("home")] {
            std::fs::create_dir_all(d).map_err(|e| BuildError::internal("creating the build directory", e))?;
        }
        git::fetch(source, &dirs.src, &dir.join("home"), &self.config.allowed_schemes, deadline, log, seconds).await?;
        let subdir = source.path.clone().unwrap_or_default();
        let crate_dir = dirs.src.join(&subdir);
        // The path is checked for `..`; a symlink inside the repository could still point out.
        let real = crate_dir.canonicalize().map_err(|_| BuildError::BuildFailed {
            summary: format!("path {subdir:?} does not exist in the repository"),
            tail: String::new(),
        })?;
        let root = dirs.src.canonicalize().map_err(|e| BuildError::internal("resolving the checkout", e))?;
        if !real.starts_with(&root) || !real.join("Cargo.toml").is_file() {
            return Err(BuildError::BuildFailed {
                summary: format!("path {subdir:?} is not a crate (no Cargo.toml) inside the repository"),
                tail: String::new(),
            });
        }
        self.ensure_target(source.build_target).await?;
        let at = compile::Cargo { bwrap: &self.config.bwrap, dirs: &dirs, subdir: &subdir, limits };
        compile::fetch(at, source.build_target, deadline, log).await?;
        let wasm_path = compile::compile(at, source.build_target, deadline, log).await?;
        let size = std::fs::metadata(&wasm_path).map_err(|e| BuildError::internal("reading the built wasm", e))?.len();
        if size > limits.max_wasm_bytes {
            return Err(BuildError::OutputTooLarge { size, limit: limits.max_wasm_bytes });
        }
        let wasm = std::fs::read(&wasm_path).map_err(|e| BuildError::internal("reading the built wasm", e))?;
        compile::check_kind(&wasm, source.build_target)?;
        Ok(wasm)
    }

    /// Adds the target to the pinned toolchain when it is missing (`rustup target add`).
    async fn ensure_target(&self, target: BuildTarget) -> Result<(), BuildError> {
        let _one = self.targets.lock().await;
        if self.toolchain.sysroot.join("lib/rustlib").join(target.triple()).is_dir() {
            return Ok(());
        }
        tracing::info!(target = target.triple(), toolchain = %self.config.toolchain, "adding the missing target");
        output(tokio::process::Command::new("rustup").args(["target", "add", "--toolchain", &self.config.toolchain, target.triple()]))
            .await?;
        Ok(())
    }
}

/// A build id as a directory name (ids come from the coordinator; never trust them as paths).
fn sanitize(id: &str) -> String {
    let clean: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
    if clean.is_empty() { "build".to_owned() } else { clean }
}

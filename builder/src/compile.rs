//! The two cargo phases of a build, each in the [`crate::sandbox`]: the dependency fetch
//! (`cargo fetch --locked`, offline first, with the network only if the shared cache lacks
//! something) and the compile (`cargo build --release --locked --offline --target …`), then
//! finding the one wasm the crate produced and checking it.

use std::path::{Path, PathBuf};

use outlayer_protocol::build::BuildTarget;
use serde::Deserialize;
use tokio::time::Instant;

use crate::config::{BuildLimits, FAILURE_TAIL_LINES};
use crate::error::BuildError;
use crate::process::{Log, RunError, run};
use crate::sandbox::{self, Dirs, Phase};

/// Where one build's cargo runs: the sandbox's binary and paths, the crate's directory inside the
/// checkout, the limits.
#[derive(Clone, Copy, Debug)]
pub struct Cargo<'a> {
    /// The bubblewrap binary.
    pub bwrap: &'a Path,
    /// Host paths of the build.
    pub dirs: &'a Dirs,
    /// The crate's directory relative to the checkout (`""`: its root).
    pub subdir: &'a str,
    /// The build's limits.
    pub limits: &'a BuildLimits,
}

/// Runs one sandboxed cargo command; `Ok(Some(stdout))` on success, `Ok(None)` on failure.
async fn cargo(at: Cargo<'_>, phase: Phase, args: &[&str], deadline: Instant, log: &mut Log) -> Result<Option<Vec<u8>>, BuildError> {
    let limits = at.limits;
    log.line(&format!("$ cargo {}", args[1..].join(" ")));
    let spec = sandbox::command(at.bwrap, at.dirs, at.subdir, phase, limits, args);
    match run(&spec, deadline, log, true).await {
        Ok(done) if done.status.success() => Ok(Some(done.stdout)),
        Ok(done) => {
            log.line(&format!("({} exited with {})", args[1], done.status));
            Ok(None)
        }
        Err(RunError::Timeout) => Err(BuildError::Timeout { seconds: limits.timeout.as_secs() }),
        Err(RunError::Io(e)) => Err(BuildError::internal("starting the sandbox (bwrap)", e)),
    }
}

fn failed(summary: &str, log: &Log) -> BuildError {
    BuildError::BuildFailed { summary: summary.to_owned(), tail: log.tail(FAILURE_TAIL_LINES) }
}

/// Fetches the crate's dependencies into the shared cache: `--offline` first (nothing to
/// download when the cache has everything), then with the network.
pub async fn fetch(at: Cargo<'_>, target: BuildTarget, deadline: Instant, log: &mut Log) -> Result<(), BuildError> {
    let base = ["/toolchain/bin/cargo", "fetch", "--locked", "--target", target.triple()];
    let mut quiet = Log::new(at.limits.max_log_bytes);
    let offline: Vec<&str> = base.iter().copied().chain(["--offline"]).collect();
    if cargo(at, Phase::Fetch, &offline, deadline, &mut quiet).await?.is_some() {
        log.line("$ cargo fetch --locked --offline (every dependency was in the cache)");
        return Ok(());
    }
    match cargo(at, Phase::Fetch, &base, deadline, log).await? {
        Some(_) => Ok(()),
        None => Err(failed("fetching dependencies failed (cargo fetch --locked; is Cargo.lock committed and current?)", log)),
    }
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    manifest_path: Option<String>,
    #[serde(default)]
    target: Option<MessageTarget>,
    #[serde(default)]
    executable: Option<String>,
    #[serde(default)]
    filenames: Vec<String>,
}

#[derive(Deserialize)]
struct MessageTarget {
    kind: Vec<String>,
    name: String,
}

/// Compiles the crate and returns the host path of its wasm: the one `bin` (or, with none, the
/// one `cdylib`) of the package in `subdir`.
pub async fn compile(at: Cargo<'_>, target: BuildTarget, deadline: Instant, log: &mut Log) -> Result<PathBuf, BuildError> {
    let subdir = at.subdir;
    let args = [
        "/toolchain/bin/cargo",
        "build",
        "--release",
        "--locked",
        "--offline",
        "--target",
        target.triple(),
        "--message-format=json-render-diagnostics",
    ];
    let Some(stdout) = cargo(at, Phase::Compile, &args, deadline, log).await? else {
        return Err(failed("cargo build failed", log));
    };
    let manifest = if subdir.is_empty() { format!("{}/Cargo.toml", sandbox::SRC) } else { format!("{}/{subdir}/Cargo.toml", sandbox::SRC) };
    let mut bins = Vec::new();
    let mut cdylibs = Vec::new();
    for line in stdout.split(|b| *b == b'\n') {
        let Ok(m) = serde_json::from_slice::<Message>(line) else { continue };
        if m.reason != "compiler-artifact" || m.manifest_path.as_deref() != Some(manifest.as_str()) {
            continue;
        }
        let Some(t) = m.target else { continue };
        if let Some(exe) = m.executable.filter(|_| t.kind.iter().any(|k| k == "bin")) {
            bins.push((t.name, exe));
        } else if t.kind.iter().any(|k| k == "cdylib") {
            cdylibs.extend(m.filenames.into_iter().filter(|f| f.ends_with(".wasm")).map(|f| (t.name.clone(), f)));
        }
    }
    let chosen = if bins.is_empty() { cdylibs } else { bins };
    let inside = match chosen.as_slice() {
        [(_, path)] => path.clone(),
        [] => return Err(failed("the package produced no wasm (it has no bin and no cdylib target)", log)),
        many => {
            let names: Vec<&str> = many.iter().map(|(n, _)| n.as_str()).collect();
            return Err(failed(&format!("the package has several wasm targets ({}); keep one", names.join(", ")), log));
        }
    };
    let relative = inside
        .strip_prefix(sandbox::TARGET)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| BuildError::Internal(format!("cargo reported an artifact outside the target directory: {inside}")))?;
    Ok(at.dirs.target.join(relative))
}

/// Checks the wasm's header against the target: a component (layer 1) for wasm32-wasip2, a
/// core module for wasm32-wasip1.
pub fn check_kind(wasm: &[u8], target: BuildTarget) -> Result<(), BuildError> {
    const MODULE: [u8; 8] = *b"\0asm\x01\0\0\0";
    const COMPONENT: [u8; 8] = *b"\0asm\x0d\0\x01\0";
    let header = wasm.get(..8);
    match target {
        BuildTarget::Wasip2 if header == Some(&COMPONENT) => Ok(()),
        BuildTarget::Wasip1 if header == Some(&MODULE) => Ok(()),
        BuildTarget::Wasip2 if header == Some(&MODULE) => Err(BuildError::NotAComponent(
            "the build produced a core wasm module, not a component: wasm32-wasip2 builds must link a component (is a linker overridden?)"
                .into(),
        )),
        _ => Err(BuildError::NotAComponent(format!("the build output is not a {target} wasm (header {:02x?})", header.unwrap_or(wasm)))),
    }
}

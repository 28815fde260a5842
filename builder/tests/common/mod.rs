//! Helpers of the builder's tests: local git repositories holding guest crates, a builder with
//! its own work directory (and so its own target directories) on the machine's warm cargo cache.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use outlayer_builder::{Builder, BuilderConfig};
use outlayer_protocol::build::{BuildJob, BuildReport, BuildTarget, GitSource};

/// The machine's cargo home (its registry cache is warm).
pub fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"))
}

/// A builder working in `dir`, allowing `file://` repositories, with `timeout`.
pub async fn builder(dir: &Path, timeout: Duration) -> Builder {
    let mut config = BuilderConfig::new(dir.join("work"), cargo_home());
    config.allowed_schemes = vec!["file".into()];
    config.limits.timeout = timeout;
    Builder::new(config).await.expect("builder")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A git repository at `dir` with `files` committed; returns its `file://` URL and the commit.
pub fn repo(dir: &Path, files: &[(&str, &str)]) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "guest"]);
    (format!("file://{}", dir.display()), git(dir, &["rev-parse", "HEAD"]))
}

/// Like [`repo`], with a `Cargo.lock` generated from the local cache and committed.
pub fn locked_repo(dir: &Path, files: &[(&str, &str)]) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    lock(dir);
    repo(dir, &[])
}

/// `Cargo.toml` of a standalone guest crate `name` with `deps` (lines of `[dependencies]`).
pub fn manifest(name: &str, deps: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{deps}\n\n[workspace]\n\n[profile.release]\nopt-level = \"s\"\n"
    )
}

/// A guest that prints `text`.
pub fn hello(text: &str) -> String {
    format!("fn main() {{ print!(\"{text}\"); }}\n")
}

/// Writes `Cargo.lock` for the crate in `dir` from the local cache (before committing).
pub fn lock(dir: &Path) {
    let out = Command::new("cargo").args(["generate-lockfile", "--offline"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "generate-lockfile: {}", String::from_utf8_lossy(&out.stderr));
}

/// A build job.
pub fn job(id: &str, git: &str, commit: &str, target: BuildTarget, force: bool) -> BuildJob {
    BuildJob {
        build_id: id.into(),
        source: GitSource { git: git.into(), commit: commit.into(), path: None, build_target: target },
        force_rebuild: force,
    }
}

/// Runs `wasm` on the host with `input`; its stdout.
pub async fn run(wasm: &[u8], input: &[u8]) -> Vec<u8> {
    let runtime = outlayer_host::Runtime::new(outlayer_host::RuntimeConfig { cache_dir: None, ..Default::default() }).unwrap();
    let report = runtime.run(wasm, outlayer_host::ExecutionRequest { input: input.to_vec(), ..Default::default() }).await.expect("run");
    assert!(report.outcome.is_ok(), "outcome {:?}", report.outcome);
    report.output
}

/// The failure of a report, or a panic with its log.
pub fn failure(report: &BuildReport) -> &outlayer_protocol::build::BuildFailure {
    match &report.result {
        Err(f) => f,
        Ok(w) => panic!("expected a failure, built {}\n{}", w.wasm_sha256, report.log),
    }
}

//! Builds of local git repositories: build and run, cache hit, forced rebuild (same hash), a
//! registry dependency, and every typed failure.

mod common;

use std::time::{Duration, Instant};

use common::*;
use outlayer_builder::BuilderConfig;
use outlayer_protocol::build::{BuildErrorCode, BuildTarget};

const MINUTES: Duration = Duration::from_secs(300);

#[tokio::test]
async fn a_guest_is_built_run_cached_and_rebuilt_to_the_same_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commit) =
        locked_repo(&dir.path().join("repo"), &[("Cargo.toml", &manifest("plain", "")), ("src/main.rs", &hello("built from git"))]);
    let builder = builder(dir.path(), MINUTES).await;

    let started = Instant::now();
    let first = builder.build(&job("b1", &url, &commit, BuildTarget::Wasip2, false)).await;
    let cold = started.elapsed();
    let built = first.result.as_ref().unwrap_or_else(|e| panic!("{e:?}\n{}", first.log));
    assert!(!built.cache_hit);
    assert_eq!(built.reproducible, None);
    assert_eq!(built.toolchain, builder.toolchain().version);
    assert_eq!(&built.wasm[..8], b"\0asm\x0d\0\x01\0", "a component");
    assert_eq!(run(&built.wasm, b"").await, b"built from git");
    assert!(first.log.contains("cargo build --release --locked --offline"), "{}", first.log);

    let started = Instant::now();
    let second = builder.build(&job("b2", &url, &commit, BuildTarget::Wasip2, false)).await;
    let cached = started.elapsed();
    let hit = second.result.as_ref().unwrap();
    assert!(hit.cache_hit, "{}", second.log);
    assert_eq!(hit.wasm_sha256, built.wasm_sha256);
    assert_eq!(hit.wasm, built.wasm);

    let forced = builder.build(&job("b3", &url, &commit, BuildTarget::Wasip2, true)).await;
    let rebuilt = forced.result.as_ref().unwrap_or_else(|e| panic!("{e:?}\n{}", forced.log));
    assert!(!rebuilt.cache_hit);
    assert_eq!(rebuilt.wasm_sha256, built.wasm_sha256, "the same source builds to the same bytes");
    assert_eq!(rebuilt.reproducible, Some(true));
    assert_eq!(rebuilt.previous_sha256.as_deref(), Some(built.wasm_sha256.as_str()));
    assert!(forced.log.contains("reproducibility: same hash"), "{}", forced.log);
    eprintln!(
        "measured: cold build {} ms, cache hit {} ms, forced rebuild {} ms",
        cold.as_millis(),
        cached.as_millis(),
        forced.duration_ms
    );
}

#[tokio::test]
async fn a_guest_with_a_registry_dependency_builds_offline_from_the_cache_for_wasip1() {
    let dir = tempfile::tempdir().unwrap();
    let main = "fn main() { let mut b = itoa::Buffer::new(); print!(\"{}\", b.format(1234567u64)); }\n";
    let (url, commit) =
        locked_repo(&dir.path().join("repo"), &[("Cargo.toml", &manifest("withdep", "itoa = \"=1.0.19\"")), ("src/main.rs", main)]);
    let builder = builder(dir.path(), MINUTES).await;
    let report = builder.build(&job("d1", &url, &commit, BuildTarget::Wasip1, false)).await;
    let built = report.result.as_ref().unwrap_or_else(|e| panic!("{e:?}\n{}", report.log));
    assert_eq!(&built.wasm[..8], b"\0asm\x01\0\0\0", "a preview1 core module");
    assert!(report.log.contains("every dependency was in the cache"), "{}", report.log);
    assert!(report.log.contains("Compiling itoa v1.0.19"), "{}", report.log);
    assert_eq!(run(&built.wasm, b"").await, b"1234567");
}

#[tokio::test]
async fn unreachable_repositories_and_refused_schemes_are_clone_failed() {
    let dir = tempfile::tempdir().unwrap();
    let builder = builder(dir.path(), MINUTES).await;
    let commit = "a".repeat(40);
    let missing = format!("file://{}/nothing-here", dir.path().display());
    let report = builder.build(&job("c1", &missing, &commit, BuildTarget::Wasip2, false)).await;
    assert_eq!(failure(&report).code, BuildErrorCode::CloneFailed);
    assert!(failure(&report).message.contains("could not fetch"), "{:?}", failure(&report));

    // https is not allowed by this builder (file only): refused before git runs.
    let report = builder.build(&job("c2", "https://127.0.0.1:9/x.git", &commit, BuildTarget::Wasip2, false)).await;
    assert_eq!(failure(&report).code, BuildErrorCode::CloneFailed);
    assert!(failure(&report).message.contains("scheme \"https\" is not allowed"), "{:?}", failure(&report));

    // git's command transport and option injection never reach git.
    for (url, c) in
        [("ext::sh -c touch% /tmp/pwned", commit.as_str()), ("--upload-pack=touch /tmp/pwned", commit.as_str()), (&missing, "--all")]
    {
        let report = builder.build(&job("c3", url, c, BuildTarget::Wasip2, false)).await;
        assert_eq!(failure(&report).code, BuildErrorCode::CloneFailed, "{url} {c}");
        assert!(failure(&report).message.starts_with("source refused"), "{:?}", failure(&report));
    }
}

#[tokio::test]
async fn a_commit_the_repository_lacks_is_commit_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commit) = repo(&dir.path().join("repo"), &[("README", "x")]);
    let other: String = commit.chars().map(|c| if c == '0' { '1' } else { '0' }).collect();
    let builder = builder(dir.path(), MINUTES).await;
    let report = builder.build(&job("n1", &url, &other, BuildTarget::Wasip2, false)).await;
    assert_eq!(failure(&report).code, BuildErrorCode::CommitNotFound);
    assert!(failure(&report).message.contains(&other));
}

#[tokio::test]
async fn a_compile_error_is_build_failed_with_the_compilers_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commit) = locked_repo(
        &dir.path().join("repo"),
        &[("Cargo.toml", &manifest("broken", "")), ("src/main.rs", "fn main() { let x: u32 = \"not a number\"; }\n")],
    );
    let builder = builder(dir.path(), MINUTES).await;
    let report = builder.build(&job("f1", &url, &commit, BuildTarget::Wasip2, false)).await;
    let f = failure(&report);
    assert_eq!(f.code, BuildErrorCode::BuildFailed);
    assert!(f.message.starts_with("cargo build failed"), "{}", f.message);
    assert!(f.message.contains("error[E0308]: mismatched types"), "{}", f.message);

    // No Cargo.lock: --locked refuses to invent one.
    let (url, commit) =
        repo(&dir.path().join("unlocked"), &[("Cargo.toml", &manifest("unlocked", "itoa = \"1\"")), ("src/main.rs", &hello("x"))]);
    let report = builder.build(&job("f2", &url, &commit, BuildTarget::Wasip2, false)).await;
    assert_eq!(failure(&report).code, BuildErrorCode::BuildFailed);
    assert!(failure(&report).message.contains("--locked"), "{}", failure(&report).message);
}

#[tokio::test]
async fn a_wasm_above_the_output_limit_is_output_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let (url, commit) = locked_repo(&dir.path().join("repo"), &[("Cargo.toml", &manifest("big", "")), ("src/main.rs", &hello("hi"))]);
    let mut config = BuilderConfig::new(dir.path().join("work"), cargo_home());
    config.allowed_schemes = vec!["file".into()];
    config.limits.max_wasm_bytes = 1000;
    let builder = outlayer_builder::Builder::new(config).await.unwrap();
    let report = builder.build(&job("o1", &url, &commit, BuildTarget::Wasip2, false)).await;
    assert_eq!(failure(&report).code, BuildErrorCode::OutputTooLarge);
    assert!(failure(&report).message.contains("the limit is 1000"), "{}", failure(&report).message);
}

#[tokio::test]
async fn a_core_module_from_a_wasip2_build_is_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    // The repository overrides the linker: rust-lld links a core module, not a component.
    let (url, commit) = locked_repo(
        &dir.path().join("repo"),
        &[
            ("Cargo.toml", &manifest("module", "")),
            ("src/main.rs", &hello("hi")),
            (".cargo/config.toml", "[target.wasm32-wasip2]\nlinker = \"rust-lld\"\n"),
        ],
    );
    let builder = builder(dir.path(), MINUTES).await;
    let report = builder.build(&job("m1", &url, &commit, BuildTarget::Wasip2, false)).await;
    assert_eq!(failure(&report).code, BuildErrorCode::NotAComponent, "{}", report.log);
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[tokio::test]
async fn a_build_past_its_time_limit_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let marker = "987654321";
    let build_rs = format!(
        "fn main() {{ let _child = std::process::Command::new(\"sleep\").arg(\"{marker}\").spawn(); loop {{ std::thread::sleep(std::time::Duration::from_secs(1)); }} }}\n"
    );
    let (url, commit) = locked_repo(
        &dir.path().join("repo"),
        &[
            ("Cargo.toml", &manifest("forever", "").replace("edition", "build = \"build.rs\"\nedition")),
            ("src/main.rs", &hello("x")),
            ("build.rs", &build_rs),
        ],
    );
    let builder = builder(dir.path(), Duration::from_secs(15)).await;
    let started = Instant::now();
    let report = builder.build(&job("t1", &url, &commit, BuildTarget::Wasip2, false)).await;
    let took = started.elapsed();
    assert_eq!(failure(&report).code, BuildErrorCode::BuildTimeout, "{}", report.log);
    assert!(failure(&report).message.contains("within 15 s"));
    assert!(took < Duration::from_secs(25), "took {took:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(processes_with(&format!("sleep {marker}")), Vec::<String>::new(), "the build script's child outlived the build");
}

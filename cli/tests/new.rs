//! `outlayer new` as a user runs it: scaffold a guest crate, build it with `outlayer build`, run
//! it with `outlayer run`.
//!
//! A scaffold depends on `outlayer-sdk = "<version>"` from crates.io; these tests build against
//! this repository's `sdk/` instead, the two documented ways: `outlayer new --sdk-path` (the
//! command guest) and a `[patch.crates-io]` section added to the default manifest (the typed
//! guest), so they never need the published crate.
//!
//! The scaffolded crates are built into `<this build's target dir>/scaffold-test`, shared by the
//! tests and kept between runs, so only the first run compiles the SDK's dependencies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn outlayer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer")).args(args).env("CARGO_TARGET_DIR", scaffold_target_dir()).output().expect("run outlayer")
}

/// `<target dir>/scaffold-test`, next to the `debug/` folder holding the `outlayer` binary.
fn scaffold_target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_outlayer"));
    bin.ancestors().nth(2).expect("target dir").join("scaffold-test")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

/// This repository's `sdk/`.
fn local_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk").canonicalize().unwrap()
}

/// How a scaffold is pointed at this repository's SDK.
#[derive(Clone, Copy)]
enum LocalSdk {
    /// `outlayer new --sdk-path <repo>/sdk`.
    SdkPath,
    /// The default manifest (the crates.io version) plus a `[patch.crates-io]` section.
    Patch,
}

/// Scaffold `name` into `dir` (with `extra` flags), check the files, build it: the component path.
fn scaffold_and_build(name: &str, dir: &Path, extra: &[&str], local: LocalSdk) -> String {
    let dir_str = dir.to_str().unwrap();
    let sdk = local_sdk();
    let mut args = vec!["new", name, "--path", dir_str];
    args.extend(extra);
    if let LocalSdk::SdkPath = local {
        args.extend(["--sdk-path", sdk.to_str().unwrap()]);
    }
    let out = outlayer(&args);
    assert!(out.status.success(), "outlayer new: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("outlayer build {dir_str}")), "{}", text(&out.stdout));

    let manifest_path = dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    assert!(manifest.contains("\n[workspace]\n"), "standalone crate:\n{manifest}");
    match local {
        LocalSdk::SdkPath => {
            let line = format!("\noutlayer-sdk = {{ path = \"{}\" }}\n", sdk.display());
            assert!(manifest.contains(&line), "{manifest}");
        }
        LocalSdk::Patch => {
            let line = format!("\noutlayer-sdk = \"{}\"\n", env!("CARGO_PKG_VERSION"));
            assert!(manifest.contains(&line), "the crates.io dependency by default:\n{manifest}");
            let patch = format!("\n[patch.crates-io]\noutlayer-sdk = {{ path = \"{}\" }}\n", sdk.display());
            std::fs::write(&manifest_path, manifest + &patch).unwrap();
        }
    }
    assert_eq!(std::fs::read_to_string(dir.join(".gitignore")).unwrap(), "/target\n/.outlayer\n");
    assert!(std::fs::read_to_string(dir.join("README.md")).unwrap().contains("outlayer build ."));

    let out = outlayer(&["build", dir_str]);
    assert!(out.status.success(), "outlayer build failed:\n{}", text(&out.stderr));
    text(&out.stdout)
}

fn run(wasm: &str, input: &str, data_dir: &Path) -> Output {
    outlayer(&["run", wasm, "--input", input, "--ephemeral-storage", "--data-dir", data_dir.to_str().unwrap()])
}

/// The one-line JSON summary `outlayer run` ends stderr with.
fn summary(out: &Output) -> serde_json::Value {
    let stderr = text(&out.stderr);
    serde_json::from_str(stderr.lines().last().expect("summary line")).expect("summary is JSON")
}

#[test]
fn a_new_command_guest_builds_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hello-guest");
    let wasm = scaffold_and_build("hello-guest", &dir, &[], LocalSdk::SdkPath);
    assert!(dir.join("src/main.rs").is_file());
    assert!(wasm.ends_with("/hello-guest.wasm"), "{wasm}");

    let out = run(&wasm, r#"{"name":"Ada"}"#, tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r#"{"greeting":"Hello, Ada!"}"#);
    assert_eq!(summary(&out)["shape"], "command");

    let out = run(&wasm, r#"{"name":""}"#, tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).lines().next(), Some("error: invalid input: name is empty"));
    assert_eq!(summary(&out)["outcome"], "exit");
}

#[test]
fn a_new_typed_guest_builds_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("typed-hello");
    let wasm = scaffold_and_build("typed-hello", &dir, &["--typed"], LocalSdk::Patch);
    assert!(dir.join("src/lib.rs").is_file());
    assert!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().contains("crate-type = [\"cdylib\"]"));
    assert!(wasm.ends_with("/typed_hello.wasm"), "{wasm}");

    let out = run(&wasm, r#"{"name":"Ada"}"#, tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r#"{"greeting":"Hello, Ada!"}"#);
    assert_eq!(summary(&out)["shape"], "typed");

    let out = run(&wasm, "not json", tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let s = summary(&out);
    assert_eq!((s["outcome"].as_str(), s["kind"].as_str()), (Some("guest-error"), Some("invalid-input")));
    assert_eq!(s["message"], "expected ident at line 1 column 2");
}

#[test]
fn bad_names_and_non_empty_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let out = outlayer(&["new", "2fast", "--path", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid guest name \"2fast\""), "{}", text(&out.stderr));
    assert!(!dir.exists(), "nothing is written for a refused name");

    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let out = outlayer(&["new", "g", "--path", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists and is not empty"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "the folder is left as it was");
}

#[test]
fn a_missing_sdk_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let missing = tmp.path().join("no-sdk-here");
    let out = outlayer(&["new", "g", "--path", dir.to_str().unwrap(), "--sdk-path", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--sdk-path"), "{}", text(&out.stderr));
    assert!(!dir.exists(), "nothing is written for a refused SDK path");
}

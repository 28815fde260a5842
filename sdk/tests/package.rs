//! The SDK as guest authors get it from crates.io: `cargo package -p outlayer-sdk` (which also
//! verifies that the unpacked package builds), then a fresh guest crate outside this workspace,
//! depending on the unpacked package by path, built for `wasm32-wasip2`.
//!
//! Everything is built in `<target dir>/sdk-package-test`, kept between runs, so only the first
//! run compiles the SDK's dependencies.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const GUEST: &str = "packaged-sdk-guest";

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// `<target dir>/sdk-package-test` (`CARGO_TARGET_TMPDIR` is `<target dir>/tmp`).
fn package_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("sdk-package-test")
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{command:?} failed:\n{stderr}");
    stderr
}

/// Add the wasm target to the active toolchain when it is missing.
fn ensure_wasm_target() {
    let out = Command::new("rustc").args(["--print", "target-libdir", "--target", TARGET]).output();
    let installed = out.is_ok_and(|o| o.status.success() && Path::new(String::from_utf8_lossy(&o.stdout).trim()).is_dir());
    if !installed {
        run(Command::new("rustup").args(["target", "add", TARGET]));
    }
}

/// The dependency sections of a normalized manifest (`[dependencies.NAME]`, ...) that have a
/// `path`.
fn path_dependencies(manifest: &str) -> Vec<String> {
    let mut section = "";
    let mut found = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section.contains("dependencies") && line.starts_with("path =") {
            found.push(section.to_string());
        }
    }
    found
}

const GUEST_MAIN: &str = r#"use outlayer_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    name: String,
}

#[derive(Serialize)]
struct Output {
    greeting: String,
    capabilities: usize,
}

fn main() {
    outlayer_sdk::run_json(|input: Input| -> Result<Output> {
        if input.name.is_empty() {
            return Err(Error::invalid_input("name is empty"));
        }
        let visits = outlayer_sdk::storage::increment(outlayer_sdk::storage::Scope::Caller, "visits", 1)?;
        Ok(Output { greeting: format!("Hello, {} ({visits})!", input.name), capabilities: outlayer_sdk::Capability::ALL.len() })
    });
}
"#;

#[test]
fn a_guest_outside_the_workspace_builds_against_the_packaged_sdk() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let target_dir = package_target_dir();

    // Package (and verify) the SDK as `cargo publish` would.
    run(cargo().args(["package", "-p", "outlayer-sdk", "--allow-dirty", "--target-dir"]).arg(&target_dir).current_dir(&repo));
    let package = target_dir.join(format!("package/outlayer-sdk-{}", env!("CARGO_PKG_VERSION")));
    assert!(package.join("wit/worlds.wit").is_file(), "the package ships its WIT: {}", package.display());
    assert!(package.join("src/bindings.rs").is_file());
    assert!(!package.join("tests").exists(), "tests need the repository and are not published");
    let manifest = std::fs::read_to_string(package.join("Cargo.toml")).unwrap();
    assert_eq!(path_dependencies(&manifest), Vec::<String>::new(), "path dependencies leaked:\n{manifest}");
    assert!(!manifest.contains("outlayer-protocol"), "the path-only dev-dependency is dropped:\n{manifest}");
    for field in ["description", "license", "repository", "readme", "keywords", "categories"] {
        assert!(manifest.contains(&format!("\n{field} = ")), "the package has no {field}:\n{manifest}");
    }

    // A fresh guest crate, outside this workspace, on the unpacked package.
    let tmp = tempfile::tempdir().unwrap();
    let guest = tmp.path().join(GUEST);
    std::fs::create_dir_all(guest.join("src")).unwrap();
    let sdk_path = package.to_str().expect("UTF-8 path").replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(
        guest.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{GUEST}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [dependencies]\noutlayer-sdk = {{ path = \"{sdk_path}\" }}\n\
             serde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(guest.join("src/main.rs"), GUEST_MAIN).unwrap();
    // Start from the package's lock file: the versions this repository tested, and no index
    // update when they are already downloaded.
    if package.join("Cargo.lock").is_file() {
        std::fs::copy(package.join("Cargo.lock"), guest.join("Cargo.lock")).unwrap();
    }

    ensure_wasm_target();
    let wasm = target_dir.join(TARGET).join("debug").join(format!("{GUEST}.wasm"));
    let _ = std::fs::remove_file(&wasm);
    run(cargo().args(["build", "--target", TARGET, "--target-dir"]).arg(&target_dir).current_dir(&guest));
    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    assert!(bytes.starts_with(b"\0asm"), "{} is not WebAssembly", wasm.display());
}

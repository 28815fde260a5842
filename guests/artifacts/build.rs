//! Builds every guest of the `guests/` workspace (release) and writes `$OUT_DIR/guests.rs` with
//! one path constant per guest: components for `wasm32-wasip2`, and the crates named `p1-*` as
//! WASI preview1 core modules for `wasm32-wasip1` (a second cargo run on the same workspace and
//! target directory).
//!
//! The nested cargo gets its own target directory (`<main target dir>/guests`), so it never waits
//! for the lock of the build that runs this script, and its environment is cleaned of the
//! settings that belong to the outer build (RUSTFLAGS meant for the host, the outer target dir,
//! wrappers, coverage flags...).

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target of component guests.
const TARGET: &str = "wasm32-wasip2";
/// The target of preview1 core-module guests.
const P1_TARGET: &str = "wasm32-wasip1";
/// Package-name pattern (a cargo glob) of the preview1 guests.
const P1_PACKAGES: &str = "p1-*";

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let guests_dir = manifest_dir.parent().expect("guests/ folder").to_path_buf();
    let repo_root = guests_dir.parent().expect("repository root").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    rerun_if_changed(&guests_dir, &repo_root);

    let target_dir = main_target_dir(&out_dir, &repo_root).join("guests");
    let mut guests = build_guests(
        &guests_dir,
        &target_dir,
        TARGET,
        &["--workspace", "--exclude", P1_PACKAGES],
    );
    guests.extend(build_guests(
        &guests_dir,
        &target_dir,
        P1_TARGET,
        &["--package", P1_PACKAGES],
    ));
    write_constants(&out_dir, &guests);
}

/// Tell cargo which files make the guests: the guests workspace manifest and lock file, each
/// guest's manifest and sources, and the WIT contract.
fn rerun_if_changed(guests_dir: &Path, repo_root: &Path) {
    println!("cargo:rerun-if-changed={}", repo_root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        guests_dir.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        guests_dir.join("Cargo.lock").display()
    );
    let entries = fs::read_dir(guests_dir).expect("list guests/");
    for entry in entries {
        let path = entry.expect("guests/ entry").path();
        let is_crate = path.join("Cargo.toml").is_file();
        if !is_crate || path.file_name().is_some_and(|n| n == "artifacts") {
            continue;
        }
        println!(
            "cargo:rerun-if-changed={}",
            path.join("Cargo.toml").display()
        );
        println!("cargo:rerun-if-changed={}", path.join("src").display());
    }
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}

/// The target directory of the build running this script: `CARGO_TARGET_DIR` when set, else the
/// ancestor of `OUT_DIR` that cargo marked with `CACHEDIR.TAG`, else `<repo>/target`.
fn main_target_dir(out_dir: &Path, repo_root: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            repo_root.join(dir)
        };
    }
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_root.join("target"))
}

/// Environment variables of the outer build that must not reach the guests' build.
///
/// `CARGO_MAKEFLAGS` is kept on purpose: it hands the outer build's jobserver to the nested
/// cargo, so both builds together use at most `-j` cores instead of twice that.
fn leaks(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_INCREMENTAL",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_PATH",
        "LLVM_PROFILE_FILE",
        "CARGO_LLVM_COV",
    ];
    const PREFIXES: &[&str] = &[
        // build.target, build.rustflags, build.target-dir, ...
        "CARGO_BUILD_",
        // per-target linker / runner / rustflags of the host target
        "CARGO_TARGET_",
        // outer profile overrides: the guests use their own release profile
        "CARGO_PROFILE_",
        "__CARGO",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Runs `cargo build --release --target <target> <packages>` on the guests workspace and
/// returns guest name -> path of its `.wasm`, read from cargo's JSON artifact messages.
fn build_guests(
    guests_dir: &Path,
    target_dir: &Path,
    target: &str,
    packages: &[&str],
) -> BTreeMap<String, PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guests_dir)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(target)
        .arg("--manifest-path")
        .arg(guests_dir.join("Cargo.toml"))
        .args(packages)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, _) in env::vars_os() {
        if name.to_str().is_some_and(leaks) {
            cmd.env_remove(&name);
        }
    }
    // After the removals above, which include the outer CARGO_TARGET_DIR.
    cmd.env("CARGO_TARGET_DIR", target_dir);

    eprintln!("building guests: {cmd:?}");
    let mut child = cmd.spawn().expect("spawn cargo to build the guests");
    let stdout = child.stdout.take().expect("piped stdout");

    let mut guests = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read cargo output");
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            eprintln!("{line}");
            continue;
        };
        if let Some((name, path)) = wasm_artifact(&msg) {
            guests.insert(name, path);
        }
    }
    let status = child.wait().expect("wait for cargo");
    if !status.success() {
        panic!(
            "building the guests failed ({status}); cargo's errors are above. \
             Reproduce with: cargo build --release --target {target} {} \
             --manifest-path {}",
            packages.join(" "),
            guests_dir.join("Cargo.toml").display()
        );
    }
    assert!(
        !guests.is_empty(),
        "cargo built no guest .wasm for {target}"
    );
    guests
}

/// `(guest name, .wasm path)` for a `compiler-artifact` message of a `bin` or `cdylib` target.
/// Guest names use `-` (the package name); a cdylib's target name uses `_`.
fn wasm_artifact(msg: &serde_json::Value) -> Option<(String, PathBuf)> {
    if msg["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = msg["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "bin" || k == "cdylib") {
        return None;
    }
    let name = msg["target"]["name"].as_str()?.replace('_', "-");
    let path = msg["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))?;
    Some((name, PathBuf::from(path)))
}

fn constant_name(guest: &str) -> String {
    guest.replace('-', "_").to_uppercase()
}

fn write_constants(out_dir: &Path, guests: &BTreeMap<String, PathBuf>) {
    let mut code = String::new();
    for (name, path) in guests {
        let path = path.to_str().expect("UTF-8 path of a guest");
        code += &format!(
            "/// Absolute path of the `{name}` guest component (see `guests/{name}/`).\n\
             pub const {}: &str = {path:?};\n",
            constant_name(name)
        );
    }
    code += "\n/// Every guest as `(name, path)`, sorted by name.\npub const ALL: &[(&str, &str)] = &[\n";
    for name in guests.keys() {
        code += &format!("    ({name:?}, {}),\n", constant_name(name));
    }
    code += "];\n";
    fs::write(out_dir.join("guests.rs"), code).expect("write guests.rs");
}

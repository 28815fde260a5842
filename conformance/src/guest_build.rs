//! Building the test guests of a checkout (`guests/`, its own cargo workspace) for wasm32.
//!
//! This is the one implementation of the guests' build. Two places call it:
//! - `outlayer conformance` without `--guests`, inside a checkout (see [`crate::guests`]);
//! - `guests/artifacts/build.rs` (crate `outlayer-guest-artifacts`, which tests use as a
//!   dev-dependency): it compiles this very file as a module of the build script
//!   (`#[path = ...] mod guest_build;`), so the file uses only `std`, `serde_json` and
//!   `thiserror`, and nothing else of this crate.
//!
//! [`build_all`] runs two cargo builds on the guests workspace, in the same target directory:
//! `cargo build --release --target wasm32-wasip2 --workspace --exclude 'p1-*'` (components), then
//! `cargo build --release --target wasm32-wasip1 --package 'p1-*'` (WASI preview1 core modules),
//! and copies every guest to `<target dir>/wasm/<name>.wasm` ([`collected_dir`]): one directory of
//! guests named like their folder in `guests/`, what `outlayer conformance --guests DIR` takes.
//! Missing wasm targets are added first with `rustup target add` ([`ensure_targets`]).
//!
//! The nested cargo runs with an environment cleaned of the settings that belong to an outer
//! build ([`leaks`]: RUSTFLAGS meant for the host, the outer target dir, wrappers, coverage
//! flags...).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The target of component guests.
pub const COMPONENT_TARGET: &str = "wasm32-wasip2";
/// The target of WASI preview1 core-module guests.
pub const P1_TARGET: &str = "wasm32-wasip1";
/// Package-name pattern (a cargo glob) of the preview1 guests.
pub const P1_PACKAGES: &str = "p1-*";
/// The folder, under the guests' target directory, holding a copy of every built guest.
pub const COLLECTED: &str = "wasm";
/// The guests' target directory under the main workspace's target directory.
pub const GUESTS_TARGET_SUBDIR: &str = "guests";

/// Why the guests could not be built. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum GuestBuildError {
    /// A wasm target is missing and could not be added.
    #[error(
        "the Rust toolchain lacks the target(s) {targets} and `rustup target add {targets}` {why}: install them for the toolchain you build with"
    )]
    Targets {
        /// The missing targets, space-separated.
        targets: String,
        /// What went wrong with rustup.
        why: String,
    },
    /// cargo could not be started.
    #[error("cannot run {program}: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// cargo failed (a guest does not compile); its errors went to stderr.
    #[error("building the guests failed ({status}; cargo's errors are above); reproduce with: {command}")]
    Cargo {
        /// cargo's exit status.
        status: ExitStatus,
        /// The command, to copy and paste.
        command: String,
    },
    /// cargo succeeded without producing any `.wasm`.
    #[error("cargo built no guest .wasm for {target}")]
    NoArtifacts {
        /// The target of that build.
        target: String,
    },
    /// Reading cargo's output, or copying a guest.
    #[error("{path}: {error}")]
    Io {
        /// The file or pipe.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
}

/// Build every guest of the workspace `guests_dir` into `target_dir` (the guests' own target
/// directory, e.g. `<main target dir>/guests`) with `cargo`, and return guest name → path of its
/// copy in [`collected_dir`]`(target_dir)`, sorted by name.
pub fn build_all(guests_dir: &Path, target_dir: &Path, cargo: &OsStr) -> Result<BTreeMap<String, PathBuf>, GuestBuildError> {
    ensure_targets(guests_dir, &[COMPONENT_TARGET, P1_TARGET])?;
    let mut built = cargo_build(guests_dir, target_dir, cargo, COMPONENT_TARGET, &["--workspace", "--exclude", P1_PACKAGES])?;
    built.extend(cargo_build(guests_dir, target_dir, cargo, P1_TARGET, &["--package", P1_PACKAGES])?);
    collect(&built, &collected_dir(target_dir))
}

/// The directory [`build_all`] fills with `<guest name>.wasm` files.
pub fn collected_dir(target_dir: &Path) -> PathBuf {
    target_dir.join(COLLECTED)
}

/// The target directory named by `CARGO_TARGET_DIR` (relative to `root` when relative), if set.
pub fn target_dir_from_env(root: &Path) -> Option<PathBuf> {
    let dir = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty())?;
    let dir = PathBuf::from(dir);
    Some(if dir.is_absolute() { dir } else { root.join(dir) })
}

/// Make sure the toolchain used in `dir` (which may pin one with `rust-toolchain.toml`) has
/// `targets`, running `rustup target add` for the missing ones.
pub fn ensure_targets(dir: &Path, targets: &[&str]) -> Result<(), GuestBuildError> {
    let missing = missing_targets(dir, targets);
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    let status = Command::new("rustup").current_dir(dir).args(["target", "add"]).args(&missing).stdout(Stdio::null()).spawn().and_then(
        |mut child| {
            eprintln!("adding the missing Rust target(s): rustup target add {list}");
            child.wait()
        },
    );
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(GuestBuildError::Targets { targets: list, why: format!("failed ({s})") }),
        Err(e) => Err(GuestBuildError::Targets { targets: list, why: format!("could not run ({e})") }),
    }
}

/// The targets of `targets` whose standard library is not in the sysroot of the `rustc` used in
/// `dir`. Empty when rustc cannot tell (cargo will then report the real problem).
fn missing_targets<'t>(dir: &Path, targets: &[&'t str]) -> Vec<&'t str> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).current_dir(dir).args(["--print", "sysroot"]).stderr(Stdio::null()).output();
    let sysroot = match output {
        Ok(o) if o.status.success() => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        _ => return Vec::new(),
    };
    targets.iter().copied().filter(|t| !sysroot.join("lib/rustlib").join(t).join("lib").is_dir()).collect()
}

/// Environment variables of an outer build that must not reach the guests' build.
///
/// `CARGO_MAKEFLAGS` is kept on purpose: it hands the outer build's jobserver to the nested
/// cargo, so both builds together use at most `-j` cores instead of twice that.
pub fn leaks(name: &str) -> bool {
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
fn cargo_build(
    guests_dir: &Path,
    target_dir: &Path,
    cargo: &OsStr,
    target: &str,
    packages: &[&str],
) -> Result<BTreeMap<String, PathBuf>, GuestBuildError> {
    let manifest = guests_dir.join("Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(guests_dir)
        .args(["build", "--release", "--target", target])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(packages)
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(leaks) {
            cmd.env_remove(&name);
        }
    }
    // After the removals above, which include the outer CARGO_TARGET_DIR.
    cmd.env("CARGO_TARGET_DIR", target_dir);
    let reproduce = format!(
        "CARGO_TARGET_DIR={} cargo build --release --target {target} {} --manifest-path {}",
        target_dir.display(),
        packages.iter().map(|p| if p.contains('*') { format!("'{p}'") } else { p.to_string() }).collect::<Vec<_>>().join(" "),
        manifest.display()
    );

    eprintln!("building guests: {reproduce}");
    let mut child = cmd.spawn().map_err(|error| GuestBuildError::Spawn { program: PathBuf::from(cargo).display().to_string(), error })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut guests = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|error| GuestBuildError::Io { path: "cargo's output".into(), error })?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            eprintln!("{line}");
            continue;
        };
        if let Some((name, path)) = wasm_artifact(&msg) {
            guests.insert(name, path);
        }
    }
    let status = child.wait().map_err(|error| GuestBuildError::Io { path: "cargo".into(), error })?;
    if !status.success() {
        return Err(GuestBuildError::Cargo { status, command: reproduce });
    }
    if guests.is_empty() {
        return Err(GuestBuildError::NoArtifacts { target: target.into() });
    }
    Ok(guests)
}

/// `(guest name, .wasm path)` for a `compiler-artifact` message of a `bin` or `cdylib` target.
/// Guest names use `-` (the package name); a cdylib's target name uses `_`.
pub fn wasm_artifact(msg: &serde_json::Value) -> Option<(String, PathBuf)> {
    if msg["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = msg["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "bin" || k == "cdylib") {
        return None;
    }
    let name = msg["target"]["name"].as_str()?.replace('_', "-");
    let path = msg["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm"))?;
    Some((name, PathBuf::from(path)))
}

/// Copy each built guest to `dir/<name>.wasm` (write then rename, so a concurrent reader sees
/// the old file or the new one), drop `.wasm` files of guests that no longer exist, and return
/// name → copy.
fn collect(built: &BTreeMap<String, PathBuf>, dir: &Path) -> Result<BTreeMap<String, PathBuf>, GuestBuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| GuestBuildError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut copies = BTreeMap::new();
    for (name, path) in built {
        let copy = dir.join(format!("{name}.wasm"));
        let partial = dir.join(format!(".{name}.wasm.{}", std::process::id()));
        std::fs::copy(path, &partial).map_err(io(path))?;
        std::fs::rename(&partial, &copy).map_err(io(&copy))?;
        copies.insert(name.clone(), copy);
    }
    for entry in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let path = entry.path();
        let stale = path.extension() == Some(OsStr::new("wasm"))
            && path.file_stem().and_then(|s| s.to_str()).is_some_and(|stem| !built.contains_key(stem));
        if stale {
            let _ = std::fs::remove_file(&path);
        }
    }
    Ok(copies)
}

/// The cargo to run: `$CARGO` when a cargo started this process, else `cargo` from `PATH`.
pub fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

//! Builds every guest of the `guests/` workspace (release) and writes `$OUT_DIR/guests.rs` with
//! one path constant per guest, and `DIR`, the directory holding them all as `<name>.wasm`.
//!
//! The build itself (the cargo commands, the wasm targets, the cleaned environment, the
//! directory of guests) is `conformance/src/guest_build.rs`, compiled here as a module: the same
//! code `outlayer conformance` runs to build the guests on demand.
//!
//! The nested cargo gets its own target directory (`<main target dir>/guests`), so it never waits
//! for the lock of the build that runs this script.

#[path = "../../conformance/src/guest_build.rs"]
#[allow(dead_code)]
mod guest_build;

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let guests_dir = manifest_dir.parent().expect("guests/ folder").to_path_buf();
    let repo_root = guests_dir.parent().expect("repository root").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    rerun_if_changed(&guests_dir, &repo_root);

    let target_dir = main_target_dir(&out_dir, &repo_root).join(guest_build::GUESTS_TARGET_SUBDIR);
    let guests = guest_build::build_all(&guests_dir, &target_dir, &guest_build::cargo_program()).unwrap_or_else(|e| panic!("{e}"));
    write_constants(&out_dir, &guest_build::collected_dir(&target_dir), &guests);
}

/// Tell cargo which files make the guests: the guests workspace manifest and lock file, each
/// guest's manifest and sources, and the WIT contract.
fn rerun_if_changed(guests_dir: &Path, repo_root: &Path) {
    println!("cargo:rerun-if-changed={}", repo_root.join("wit").display());
    println!("cargo:rerun-if-changed={}", guests_dir.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", guests_dir.join("Cargo.lock").display());
    let entries = fs::read_dir(guests_dir).expect("list guests/");
    for entry in entries {
        let path = entry.expect("guests/ entry").path();
        let is_crate = path.join("Cargo.toml").is_file();
        if !is_crate || path.file_name().is_some_and(|n| n == "artifacts") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.join("Cargo.toml").display());
        println!("cargo:rerun-if-changed={}", path.join("src").display());
    }
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}

/// The target directory of the build running this script: `CARGO_TARGET_DIR` when set, else the
/// ancestor of `OUT_DIR` that cargo marked with `CACHEDIR.TAG`, else `<repo>/target`.
fn main_target_dir(out_dir: &Path, repo_root: &Path) -> PathBuf {
    if let Some(dir) = guest_build::target_dir_from_env(repo_root) {
        return dir;
    }
    out_dir.ancestors().find(|dir| dir.join("CACHEDIR.TAG").is_file()).map(Path::to_path_buf).unwrap_or_else(|| repo_root.join("target"))
}

fn constant_name(guest: &str) -> String {
    guest.replace('-', "_").to_uppercase()
}

fn write_constants(out_dir: &Path, dir: &Path, guests: &BTreeMap<String, PathBuf>) {
    let dir = dir.to_str().expect("UTF-8 path of the guests directory");
    let mut code = format!(
        "/// Absolute path of the directory holding every guest as `<name>.wasm` (what\n\
         /// `outlayer conformance --guests DIR` takes).\n\
         pub const DIR: &str = {dir:?};\n\n"
    );
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

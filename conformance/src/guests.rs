//! Where cases find their guests: a directory of built guest `.wasm` files, read at run time.
//!
//! A case names a guest (`guest = "cap-ops"`); the suite reads `<dir>/cap-ops.wasm`, or
//! `<dir>/cap_ops.wasm` (the name cargo gives a `cdylib`), so the directory can be the one
//! [`crate::guest_build::build_all`] fills (`<target dir>/guests/wasm`, also
//! `outlayer_guest_artifacts::DIR` in tests) or any folder of guests built elsewhere.
//!
//! The `outlayer` binary carries no guest and no path of the machine that built it: without
//! `--guests DIR`, `outlayer conformance` looks for a checkout of this repository around the
//! current directory (or the binary) and builds the guests there ([`build_in_checkout`]).

use crate::guest_build::{self, GuestBuildError};
use std::path::{Path, PathBuf};

/// The file of the guest `name` in `dir`, if there is one: `<name>.wasm`, else
/// `<name with _ for ->.wasm`. `None` too for a name that is not a plain file name.
pub fn guest_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        return None;
    }
    [name.to_string(), name.replace('-', "_")].into_iter().map(|stem| dir.join(format!("{stem}.wasm"))).find(|path| path.is_file())
}

/// Whether `dir` is the root of a checkout of this repository (it has the guests workspace and
/// the conformance cases).
pub fn is_checkout(dir: &Path) -> bool {
    dir.join("guests/Cargo.toml").is_file() && dir.join("conformance/cases").is_dir()
}

/// The checkout holding the current directory, else the one holding this executable (e.g.
/// `target/release/outlayer` run from elsewhere), if any.
pub fn find_checkout() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    [cwd, exe].into_iter().flatten().find_map(|start| start.ancestors().find(|d| is_checkout(d)).map(Path::to_path_buf))
}

/// The cases of the checkout at `root`.
pub fn checkout_cases(root: &Path) -> PathBuf {
    root.join("conformance/cases")
}

/// Build the guests of the checkout at `root` into its target directory (`CARGO_TARGET_DIR`, else
/// `<root>/target`; the guests go to `guests/` under it, shared with the test builds) and return
/// the directory holding them. Adds missing wasm targets with `rustup target add` first.
pub fn build_in_checkout(root: &Path) -> Result<PathBuf, GuestBuildError> {
    let target_dir = guest_build::target_dir_from_env(root).unwrap_or_else(|| root.join("target")).join(guest_build::GUESTS_TARGET_SUBDIR);
    guest_build::build_all(&root.join("guests"), &target_dir, &guest_build::cargo_program())?;
    Ok(guest_build::collected_dir(&target_dir))
}

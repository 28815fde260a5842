//! `sdk/wit/` must be an exact copy of the repository's `wit/` (the source of truth): the SDK
//! generates its bindings from its own copy so that the published crate is self-contained.
//!
//! The whole folder is compared (`worlds.wit` and every package in `deps/`): `worlds.wit`'s
//! `runtime` world names every package, so the worlds do not resolve from a subset.
//! Fix a failure with `scripts/sync-sdk-wit.sh`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every file under `root`, as paths relative to it.
fn files_under(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

#[test]
fn the_sdk_wit_is_a_copy_of_the_repository_wit() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = sdk.join("../wit");
    let copy = sdk.join("wit");
    let (source_files, copy_files) = (files_under(&source), files_under(&copy));
    assert!(source_files.contains(Path::new("worlds.wit")), "no wit/worlds.wit in {}", source.display());

    let mut problems = Vec::new();
    for only in source_files.difference(&copy_files) {
        problems.push(format!("missing from sdk/wit: {}", only.display()));
    }
    for only in copy_files.difference(&source_files) {
        problems.push(format!("only in sdk/wit (not in wit/): {}", only.display()));
    }
    for both in source_files.intersection(&copy_files) {
        if std::fs::read(source.join(both)).unwrap() != std::fs::read(copy.join(both)).unwrap() {
            problems.push(format!("differs: sdk/wit/{} vs wit/{}", both.display(), both.display()));
        }
    }
    assert!(problems.is_empty(), "sdk/wit is out of step with wit/ (run scripts/sync-sdk-wit.sh):\n  {}", problems.join("\n  "));
}

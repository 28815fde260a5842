//! The content-addressed result cache: (repository, commit, path, target, toolchain) →
//! the wasm's sha256, with the log and duration of the build that produced it.
//!
//! `cache/entries/<key>.json` holds an [`Entry`]; `cache/wasm/<sha256>.wasm` the bytes, checked
//! against their name on every read (a corrupt file is a miss). Files are written to a temporary
//! name and renamed, so a reader never sees half a file.

use std::path::{Path, PathBuf};

use outlayer_protocol::build::GitSource;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the key derivation: bump it when what a build produces for the same inputs changes
/// (sandbox paths, flags).
pub const KEY_VERSION: &str = "outlayer-build-cache/1";

/// One cached result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// sha256 (hex) of the wasm.
    pub wasm_sha256: String,
    /// Toolchain (`rustc --version`).
    pub toolchain: String,
    /// Time the build took, ms.
    pub duration_ms: u64,
    /// Its log.
    pub log: String,
}

/// The cache key of `source` built with `toolchain`: sha256 (hex) over every input that decides
/// the output.
pub fn key(source: &GitSource, toolchain: &str) -> String {
    let text = format!(
        "{KEY_VERSION}\n{}\n{}\n{}\n{}\n{toolchain}\n",
        source.git,
        source.commit,
        source.path.as_deref().unwrap_or(""),
        source.build_target.triple()
    );
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The cache in a directory.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join("entries").join(format!("{key}.json"))
    }

    fn wasm_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("wasm").join(format!("{sha256}.wasm"))
    }

    /// The entry and wasm under `key`, if both are there and the wasm hashes to its name.
    pub fn get(&self, key: &str) -> Option<(Entry, Vec<u8>)> {
        let entry: Entry = serde_json::from_slice(&std::fs::read(self.entry_path(key)).ok()?).ok()?;
        let wasm = std::fs::read(self.wasm_path(&entry.wasm_sha256)).ok()?;
        (hex::encode(Sha256::digest(&wasm)) == entry.wasm_sha256).then_some((entry, wasm))
    }

    /// Stores `entry` and its wasm under `key` (replacing an older entry).
    pub fn put(&self, key: &str, entry: &Entry, wasm: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.wasm_path(&entry.wasm_sha256), wasm)?;
        write_atomic(&self.entry_path(key), &serde_json::to_vec(entry).map_err(std::io::Error::other)?)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use outlayer_protocol::build::BuildTarget;

    #[test]
    fn every_input_changes_the_key_and_a_corrupt_wasm_is_a_miss() {
        let s = GitSource { git: "https://x/y".into(), commit: "a".repeat(40), path: None, build_target: BuildTarget::Wasip2 };
        let k = key(&s, "rustc 1.95.0");
        assert_ne!(k, key(&s, "rustc 1.96.0"));
        assert_ne!(k, key(&GitSource { path: Some("p".into()), ..s.clone() }, "rustc 1.95.0"));
        assert_ne!(k, key(&GitSource { build_target: BuildTarget::Wasip1, ..s.clone() }, "rustc 1.95.0"));
        assert_ne!(k, key(&GitSource { commit: "b".repeat(40), ..s.clone() }, "rustc 1.95.0"));
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let wasm = b"\0asm\x0d\0\x01\0".to_vec();
        let entry = Entry { wasm_sha256: hex::encode(Sha256::digest(&wasm)), toolchain: "t".into(), duration_ms: 5, log: "ok".into() };
        assert!(cache.get(&k).is_none());
        cache.put(&k, &entry, &wasm).unwrap();
        assert_eq!(cache.get(&k), Some((entry.clone(), wasm)));
        std::fs::write(cache.wasm_path(&entry.wasm_sha256), b"tampered").unwrap();
        assert!(cache.get(&k).is_none());
    }
}

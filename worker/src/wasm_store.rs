//! Wasm blobs on the worker's disk, by sha256. A file is used only if its bytes hash to its
//! name; anything else is deleted and fetched again.

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// A directory of wasm blobs named by their sha256.
#[derive(Clone, Debug)]
pub struct WasmStore {
    dir: PathBuf,
}

impl WasmStore {
    /// A store in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }

    /// The blob, if present and intact.
    pub fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).ok()?;
        if hex::encode(Sha256::digest(&bytes)) == sha256 {
            Some(bytes)
        } else {
            tracing::warn!(%sha256, "cached wasm does not match its hash; fetching again");
            let _ = std::fs::remove_file(path);
            None
        }
    }

    /// Keep `bytes` if they hash to `sha256`; returns false (and keeps nothing) otherwise.
    pub fn put(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<bool> {
        if hex::encode(Sha256::digest(bytes)) != sha256 {
            return Ok(false);
        }
        let tmp = self.dir.join(format!("{sha256}.tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, self.path(sha256))?;
        Ok(true)
    }
}

//! Content-addressed cache of compiled components.
//!
//! Key = sha256(wasm) + a hash of the engine's compatibility settings (wasmtime version,
//! fuel/epoch/pooling configuration, target). Each artifact is written atomically (temp file +
//! rename) next to a sidecar holding the sha256 of the artifact bytes. On load the checksum is
//! verified before `deserialize_file`: a corrupt or foreign artifact is deleted and recompiled,
//! never trusted (deserialising unchecked native code would be memory-unsafe).

use crate::error::HostError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;

/// Where an artifact came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Already prepared in this process.
    Memory,
    /// Loaded from a verified artifact on disk.
    Disk,
    /// Compiled (no cache, or nothing cached yet).
    Compiled,
    /// A cached artifact failed verification; it was removed and the wasm recompiled.
    Recompiled,
}

/// Feeds `Hash` output into sha256, so the engine's compatibility hash is stable text.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        unreachable!("only the digest is used")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A short hex digest of the engine's compatibility settings.
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..12])
}

/// The on-disk half of the cache.
#[derive(Clone, Debug)]
pub struct DiskCache {
    dir: PathBuf,
    fingerprint: String,
}

/// Kind of compiled artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArtifactKind {
    Component,
    Module,
}

impl DiskCache {
    /// A cache in `dir` (created if missing) for artifacts of `engine`.
    pub fn new(dir: impl Into<PathBuf>, engine: &Engine) -> Result<Self, HostError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, fingerprint: engine_fingerprint(engine) })
    }

    /// The artifact path for a wasm hash.
    pub fn artifact_path(&self, wasm_hash: &str, kind: ArtifactKind) -> PathBuf {
        let ext = match kind {
            ArtifactKind::Component => "cwasm",
            ArtifactKind::Module => "mwasm",
        };
        self.dir.join(format!("{wasm_hash}-{}.{ext}", self.fingerprint))
    }

    fn sidecar(path: &Path) -> PathBuf {
        path.with_extension("sha256")
    }

    /// True when `path` holds an artifact whose bytes match its sidecar checksum. A mismatch
    /// deletes both files.
    pub fn verify(&self, path: &Path) -> bool {
        let (Ok(bytes), Ok(expected)) = (std::fs::read(path), std::fs::read_to_string(Self::sidecar(path))) else {
            return false;
        };
        if sha256_hex(&bytes) == expected.trim() {
            return true;
        }
        tracing::warn!(path = %path.display(), "cached artifact failed verification; recompiling");
        self.remove(path);
        false
    }

    /// Remove an artifact and its sidecar.
    pub fn remove(&self, path: &Path) {
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_file(Self::sidecar(path));
    }

    /// Store serialised artifact bytes atomically.
    pub fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), HostError> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::write(Self::sidecar(path), sha256_hex(bytes))?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

//! The watcher's position, persisted as a small JSON file written atomically (temporary file in
//! the same directory, fsync, rename), so a restarted worker neither skips nor repeats work.
//!
//! ```json
//! {"block_height": 17821130, "done": [3, 4],
//!  "resolving": {"5": {"tx_hash": "6zgh…", "signed_tx_base64": "…"}}}
//! ```
//!
//! - `block_height`: the final block of the last completed poll.
//! - `done`: ids this worker resolved (or found resolved) that the contract still lists; an id
//!   is dropped once the contract no longer lists it (ids are never reused).
//! - `resolving`: the signed `resolve_execution` transaction of each request being resolved,
//!   written *before* it is sent; a retry re-sends these exact bytes.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A signed resolution waiting to be confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolving {
    /// Base58 hash of the transaction.
    pub tx_hash: String,
    /// The borsh `SignedTransaction`, base64, exactly as sent.
    pub signed_tx_base64: String,
}

/// The persisted state of the watcher.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    /// Final block height of the last completed poll (0 before the first).
    pub block_height: u64,
    /// Request ids already resolved.
    pub done: BTreeSet<u64>,
    /// Resolutions signed and (maybe) sent, by request id.
    pub resolving: BTreeMap<u64, Resolving>,
}

/// Why the cursor file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    /// Reading, writing or renaming the file failed.
    #[error("cursor file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a cursor (it is never overwritten then: fix or delete it).
    #[error("cursor file {path} is not valid: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

impl Cursor {
    /// Load the cursor at `path`; a missing file is a fresh cursor.
    pub fn load(path: &Path) -> Result<Self, CursorError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| CursorError::Invalid { path: path.into(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(CursorError::Io { path: path.into(), source }),
        }
    }

    /// Write the cursor to `path` atomically: a reader sees the old or the new file, never a
    /// partial one.
    pub fn save(&self, path: &Path) -> Result<(), CursorError> {
        let io = |source| CursorError::Io { path: path.into(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(self).expect("cursor serializes");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io)
    }
}

//! The master secret: 32 bytes every key is derived from. Generated on first start into a file
//! only the service can read, given by `OUTLAYER_KEYSTORE_MASTER`, or obtained from a running
//! keystore (`crate::replica`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of the master secret.
pub const MASTER_LEN: usize = 32;

/// The master secret. Never printed (its `Debug` shows only the fingerprint).
#[derive(Clone)]
pub struct MasterSecret(Zeroizing<[u8; MASTER_LEN]>);

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterSecret(fingerprint {})", self.fingerprint())
    }
}

/// Where a master secret came from (said at start-up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Created now, in this file.
    Created(PathBuf),
    /// Read from this file.
    Loaded(PathBuf),
    /// From `OUTLAYER_KEYSTORE_MASTER`.
    Environment,
    /// From a running keystore (replication).
    Replica(String),
}

/// Why the master secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// File I/O.
    #[error("master secret file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not 64 hex characters.
    #[error("the master secret must be 64 hex characters (32 bytes)")]
    Malformed,
    /// The file can be read by others than its owner.
    #[error("master secret file {0} is readable by group or others (mode {1:o}); chmod 600 it")]
    Permissions(PathBuf, u32),
}

impl MasterSecret {
    /// From raw bytes.
    pub fn from_bytes(bytes: [u8; MASTER_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; MASTER_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Self::from_bytes(bytes)
    }

    /// From 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, MasterError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| MasterError::Malformed)?);
        let array: [u8; MASTER_LEN] = bytes.as_slice().try_into().map_err(|_| MasterError::Malformed)?;
        Ok(Self::from_bytes(array))
    }

    /// The secret bytes (for key derivation and replication only).
    pub fn expose(&self) -> &[u8; MASTER_LEN] {
        &self.0
    }

    /// A public fingerprint: the first 8 bytes of sha256(`outlayer-keystore-fingerprint:` ||
    /// secret), hex. Replicas that agree print the same one.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"outlayer-keystore-fingerprint:");
        h.update(self.0.as_slice());
        hex::encode(&h.finalize()[..8])
    }

    /// Reads the secret from `path`, or creates it there: a new file is created with mode 0600
    /// from the start (never written, then chmod'ed), fsynced under a temporary name and linked
    /// into place atomically, so a crash leaves either no file or a whole one, and two keystores
    /// starting at once agree on one secret. An existing file readable by group or others is
    /// refused.
    pub fn load_or_create(path: &Path) -> Result<(Self, Origin), MasterError> {
        let io = |source| MasterError::Io { path: path.to_owned(), source };
        match fs::read_to_string(path) {
            Ok(text) => {
                check_permissions(path)?;
                return Ok((Self::from_hex(&text)?, Origin::Loaded(path.to_owned())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(io)?;
        let secret = Self::generate();
        let temp = dir.join(format!(".{}.{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("master"), uuid::Uuid::new_v4()));
        let written = (|| {
            let mut file = private_file(&temp)?;
            file.write_all(hex::encode(secret.expose()).as_bytes())?;
            file.sync_all()?;
            // link fails if the file appeared meanwhile: then the other keystore's secret wins.
            fs::hard_link(&temp, path)
        })();
        let _ = fs::remove_file(&temp);
        match written {
            Ok(()) => {
                if let Ok(d) = fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok((secret, Origin::Created(path.to_owned())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(io(e)),
        }
    }
}

fn private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), MasterError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).map_err(|source| MasterError::Io { path: path.to_owned(), source })?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(MasterError::Permissions(path.to_owned(), mode & 0o777));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path) -> Result<(), MasterError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_0600_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let (a, origin) = MasterSecret::load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Created(path.clone()));
        let (b, origin) = MasterSecret::load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Loaded(path.clone()));
        assert_eq!(a.expose(), b.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(MasterSecret::load_or_create(&path), Err(MasterError::Permissions(_, 0o644))));
        }
        // no temporary file is left behind
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        assert!(!format!("{a:?}").contains(&hex::encode(a.expose())));
    }

    #[test]
    fn hex_is_checked() {
        assert!(MasterSecret::from_hex(&"ab".repeat(32)).is_ok());
        assert!(matches!(MasterSecret::from_hex("abc"), Err(MasterError::Malformed)));
        assert!(matches!(MasterSecret::from_hex(&"zz".repeat(32)), Err(MasterError::Malformed)));
    }
}

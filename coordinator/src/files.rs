//! Files that hold secrets or call data are private from creation: no window in which another
//! user of the machine can read them (no write-then-chmod).

use std::io;
use std::path::Path;

/// Creates `path` (and missing parents) as a directory only its owner can enter (0700 on unix).
/// An existing directory is left as it is; `Ok(false)` then.
pub fn create_private_dir(path: &Path) -> io::Result<bool> {
    if path.is_dir() {
        return Ok(false);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)?;
    Ok(true)
}

/// Creates `path` as an empty file only its owner can read and write (0600 on unix) if it does
/// not exist; `Ok(false)` if it existed. SQLite gives a database's `-wal` and `-shm` files the
/// database file's permissions, so creating the database this way before opening it keeps all
/// three private.
pub fn create_private_file(path: &Path) -> io::Result<bool> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to a new file `path`, private from its creation (0600 on unix); fails if
/// the file exists.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_from_creation() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        assert!(create_private_dir(&data).unwrap());
        assert_eq!((mode(&dir.path().join("a")), mode(&data)), (0o700, 0o700));
        assert!(!create_private_dir(&data).unwrap());
        let db = data.join("x.db");
        assert!(create_private_file(&db).unwrap());
        assert!(!create_private_file(&db).unwrap());
        assert_eq!(mode(&db), 0o600);
        let key = data.join("k");
        write_private(&key, b"secret").unwrap();
        assert_eq!((mode(&key), std::fs::read(&key).unwrap()), (0o600, b"secret".to_vec()));
        assert!(write_private(&key, b"again").is_err());
    }
}

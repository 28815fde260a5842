//! The local worker key: an ed25519 key kept in the data directory, created on first use.

use anyhow::Context;
use ed25519_dalek::SigningKey;
use std::path::Path;

/// Load the hex-encoded 32-byte seed at `path`, or create it (mode 0600) when missing.
pub fn load_or_create(path: &Path) -> anyhow::Result<SigningKey> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let bytes = hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("{} must hold 32 bytes", path.display()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // 0600 from creation (no write-then-chmod window); fails rather than overwrite.
    outlayer_coordinator::files::write_private(path, hex::encode(key.to_bytes()).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// Load a hex-encoded 32-byte secret at `path`, or create a random one (mode 0600).
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    // The same file format as a signing key seed: 32 random bytes in hex.
    Ok(hex::encode(load_or_create(path)?.to_bytes()))
}

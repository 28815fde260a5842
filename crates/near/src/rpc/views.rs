//! Typed results of the RPC methods that the host maps onto WIT records.

use serde::Deserialize;

/// The result of a view function call (`query` / `call_function`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ViewCallResult {
    /// The bytes the function returned (usually JSON).
    pub result: Vec<u8>,
    /// The lines the function logged.
    #[serde(default)]
    pub logs: Vec<String>,
    /// Height of the block the call ran against.
    pub block_height: u64,
    /// Base58 hash of that block.
    pub block_hash: String,
}

impl ViewCallResult {
    /// Parse the returned bytes as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.result)
    }
}

/// An account's state (`query` / `view_account`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountView {
    /// Balance in yoctoNEAR, as a decimal string.
    pub amount: String,
    /// Staked balance in yoctoNEAR, as a decimal string.
    pub locked: String,
    /// Base58 sha256 of the deployed contract (`11111111111111111111111111111111` for none).
    pub code_hash: String,
    /// Bytes of state the account uses.
    pub storage_usage: u64,
    /// Height of the block the state was read at.
    pub block_height: u64,
    /// Base58 hash of that block.
    pub block_hash: String,
}

//! NEAR JSON-RPC through the host's node connection (`outlayer:rpc/rpc`; needs the `rpc`
//! grant). Reads go to the execution's network; the only write is broadcasting a transaction
//! the guest signed itself.
//!
//! ```no_run
//! use outlayer_sdk::rpc;
//! use serde_json::json;
//!
//! // A view call with JSON arguments and a JSON result, at the latest final block.
//! let balance: String = rpc::view_json("wrap.testnet", "ft_balance_of", &json!({ "account_id": "alice.testnet" }))?;
//! let account = rpc::view_account("alice.testnet")?;
//! println!("{balance} wNEAR, {} yoctoNEAR", account.amount);
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

use crate::bindings::outlayer::rpc::rpc as wit;
use crate::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Which chain state a read looks at: `Final`, `Optimistic`, `Height(u64)` or `Hash(String)`.
pub use wit::BlockReference;

/// When [`send_transaction`] returns (`None`, `Included`, ..., `Final`).
pub use wit::WaitUntil;

/// The result of a view call: `value` (the bytes returned), `logs`, `block_height`, `block_hash`.
pub use wit::ViewResult;

/// An account's state: `amount` and `locked` (yoctoNEAR decimal strings), `code_hash`,
/// `storage_usage`, `block_height`, `block_hash`.
pub use wit::Account;

impl ViewResult {
    /// The returned bytes decoded as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.value).map_err(|e| Error::decode("view call result", e))
    }
}

/// Call the view function `method` of `contract_id` with raw `args` at block `at`.
pub fn view_call(at: &BlockReference, contract_id: &str, method: &str, args: &[u8]) -> Result<ViewResult> {
    Ok(wit::view_call(at, contract_id, method, args)?)
}

/// Call a view function with `args` serialised as JSON, at the latest final block, and decode
/// its JSON result as `R`.
pub fn view_json<A: Serialize + ?Sized, R: DeserializeOwned>(contract_id: &str, method: &str, args: &A) -> Result<R> {
    view_json_at(&BlockReference::Final, contract_id, method, args)
}

/// [`view_json`] at block `at`.
pub fn view_json_at<A: Serialize + ?Sized, R: DeserializeOwned>(
    at: &BlockReference,
    contract_id: &str,
    method: &str,
    args: &A,
) -> Result<R> {
    let args = serde_json::to_vec(args).map_err(|e| Error::other(format!("cannot encode view arguments: {e}")))?;
    view_call(at, contract_id, method, &args)?.json()
}

/// The state of `account_id` at the latest final block.
pub fn view_account(account_id: &str) -> Result<Account> {
    view_account_at(&BlockReference::Final, account_id)
}

/// The state of `account_id` at block `at`.
pub fn view_account_at(at: &BlockReference, account_id: &str) -> Result<Account> {
    Ok(wit::view_account(at, account_id)?)
}

/// One access key of `account_id`, as the node's JSON.
pub fn view_access_key(at: &BlockReference, account_id: &str, public_key: &str) -> Result<serde_json::Value> {
    parse("access key", &wit::view_access_key(at, account_id, public_key)?)
}

/// All access keys of `account_id`, as the node's JSON.
pub fn view_access_key_list(at: &BlockReference, account_id: &str) -> Result<serde_json::Value> {
    parse("access key list", &wit::view_access_key_list(at, account_id)?)
}

/// A block, as the node's JSON.
pub fn block(at: &BlockReference) -> Result<serde_json::Value> {
    parse("block", &wit::block(at)?)
}

/// Broadcast a borsh-serialised `SignedTransaction` the guest built and signed; the node's JSON
/// answer. The host never signs for a guest.
pub fn send_transaction(signed_transaction: &[u8], wait_until: WaitUntil) -> Result<serde_json::Value> {
    parse("transaction result", &wit::send_transaction(signed_transaction, wait_until)?)
}

/// Any other JSON-RPC `method` with `params`; the node's `result`.
///
/// ```no_run
/// let status = outlayer_sdk::rpc::raw("gas_price", &serde_json::json!([null]))?;
/// # Ok::<(), outlayer_sdk::Error>(())
/// ```
pub fn raw(method: &str, params: &serde_json::Value) -> Result<serde_json::Value> {
    parse(method, &wit::raw(method, &params.to_string())?)
}

fn parse(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| Error::decode(format!("rpc {what}"), e))
}

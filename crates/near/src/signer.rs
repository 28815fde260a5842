//! Build, sign and send transactions with a key the caller holds.
//!
//! [`build_signed`] fetches what a transaction needs from the node (the access key's nonce and a
//! final block hash) and signs, without sending; [`send_signed`] broadcasts a signed
//! transaction. Retrying [`send_signed`] with the *same* [`SignedTransaction`] is safe: NEAR
//! applies a transaction at most once, whereas building a new one would spend another nonce.

use serde_json::Value;

use crate::error::RpcError;
use crate::refs::{BlockRef, TxWait};
use crate::rpc::RpcClient;
use crate::tx::{Action, SecretKey, SignedTransaction, Transaction};

/// What the node answered to a sent transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct TxOutcome {
    /// The transaction hash, base58.
    pub hash: String,
    /// The node's `send_tx` result (execution outcome, or just the status for weak waits).
    pub result: Value,
}

/// Fetch the nonce of `secret_key`'s access key on `signer_id` and a final block hash, then
/// build and sign a transaction of `actions` to `receiver_id` with nonce = key nonce + 1.
///
/// Errors: [`RpcError::Node`] as the node reports it (e.g. cause `UNKNOWN_ACCESS_KEY`), and
/// [`RpcError::InvalidResponse`] when the answers lack a nonce or a 32-byte block hash.
pub async fn build_signed(
    client: &RpcClient,
    signer_id: &str,
    secret_key: &SecretKey,
    receiver_id: &str,
    actions: Vec<Action>,
) -> Result<SignedTransaction, RpcError> {
    let public_key = secret_key.public_key();
    let key_text = public_key.to_string();
    let (access_key, block) =
        tokio::try_join!(client.view_access_key(&BlockRef::Final, signer_id, &key_text), client.block(&BlockRef::Final),)?;
    let nonce =
        access_key.get("nonce").and_then(Value::as_u64).ok_or_else(|| RpcError::InvalidResponse("access key without a nonce".into()))?;
    let hash_text = block
        .pointer("/header/hash")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::InvalidResponse("block without header.hash".into()))?;
    let block_hash = crate::refs::decode_hash("block hash", hash_text).map_err(|e| RpcError::InvalidResponse(e.to_string()))?;
    let nonce = nonce.checked_add(1).ok_or_else(|| RpcError::InvalidResponse("access key nonce is at its maximum".into()))?;
    let transaction =
        Transaction { signer_id: signer_id.to_owned(), public_key, nonce, receiver_id: receiver_id.to_owned(), block_hash, actions };
    Ok(transaction.sign(secret_key))
}

/// Broadcast `signed` with `send_tx`, waiting up to `wait`.
pub async fn send_signed(client: &RpcClient, signed: &SignedTransaction, wait: TxWait) -> Result<TxOutcome, RpcError> {
    let result = client.send_tx(&signed.to_base64(), wait).await?;
    Ok(TxOutcome { hash: signed.hash_base58(), result })
}

/// [`build_signed`] then [`send_signed`].
pub async fn sign_and_send(
    client: &RpcClient,
    signer_id: &str,
    secret_key: &SecretKey,
    receiver_id: &str,
    actions: Vec<Action>,
    wait: TxWait,
) -> Result<TxOutcome, RpcError> {
    let signed = build_signed(client, signer_id, secret_key, receiver_id, actions).await?;
    send_signed(client, &signed, wait).await
}

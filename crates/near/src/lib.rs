//! NEAR JSON-RPC client and transaction signing for OutLayer.
//!
//! - [`RpcClient`]: a cheap-to-clone JSON-RPC 2.0 client with a timeout and a response size cap
//!   ([`rpc::DEFAULT_TIMEOUT`], [`rpc::MAX_RESPONSE_BYTES`]); typed errors ([`RpcError`]) that keep
//!   NEAR's structured `name` / `cause` / `info`.
//! - [`BlockRef`], [`BlockId`], [`ChunkRef`], [`TxWait`]: how requests name blocks, chunks and
//!   wait levels, with parsers for the OutLayer v0.1 string forms.
//! - [`tx`]: borsh `Transaction` / `SignedTransaction`, ed25519 keys, hashing and signing.
//! - [`nep413`]: NEP-413 signed messages (wallet `signMessage`): payload, hash, verification.
//! - [`signer`]: fetch nonce and block hash, sign, send — or sign without sending, so a retry
//!   resends the same transaction.
//!
//! ```no_run
//! use outlayer_near::{BlockRef, RpcClient, TxWait};
//! use outlayer_near::tx::{Action, SecretKey};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = RpcClient::new("https://rpc.testnet.near.org")
//!     .with_timeout(std::time::Duration::from_secs(10));
//!
//! let account = client.view_account(&BlockRef::Final, "example.testnet").await?;
//! println!("balance {} yoctoNEAR at block {}", account.amount, account.block_height);
//!
//! let view = client
//!     .view_call(&BlockRef::parse_v01("optimistic")?, "counter.testnet", "get_num", b"{}")
//!     .await?;
//! println!("get_num = {}", String::from_utf8_lossy(&view.result));
//!
//! let key: SecretKey = "ed25519:...".parse()?;
//! let outcome = outlayer_near::signer::sign_and_send(
//!     &client,
//!     "worker.testnet",
//!     &key,
//!     "outlayer.testnet",
//!     vec![Action::function_call_json("resolve_execution", &serde_json::json!({}), 100_000_000_000_000, 0)],
//!     TxWait::ExecutedOptimistic,
//! )
//! .await?;
//! println!("sent {}", outcome.hash);
//! # Ok(())
//! # }
//! ```

mod error;
pub mod nep413;
mod refs;
pub mod rpc;
pub mod signer;
pub mod tx;

pub use error::RpcError;
pub use refs::{BlockId, BlockRef, ChunkRef, HASH_LEN, TxWait, decode_hash};
pub use rpc::RpcClient;
pub use rpc::views::{AccountView, ViewCallResult};
pub use signer::{TxOutcome, build_signed, send_signed, sign_and_send};

//! Transaction actions, in NEAR's borsh layout (the enum tag is the variant's position).

use borsh::{BorshDeserialize, BorshSerialize};

use super::keys::PublicKey;

/// One action of a transaction. Variant order is NEAR's borsh tag order:
/// CreateAccount=0, DeployContract=1, FunctionCall=2, Transfer=3, Stake=4, AddKey=5,
/// DeleteKey=6, DeleteAccount=7. Later NEAR actions (Delegate=8, global contracts, ...) are not
/// supported; decoding a transaction that holds one fails.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Action {
    /// Create the receiver account.
    CreateAccount,
    /// Deploy `code` (wasm) to the receiver.
    DeployContract {
        /// The contract's wasm bytes.
        code: Vec<u8>,
    },
    /// Call `method_name` of the receiver.
    FunctionCall {
        /// The method to call.
        method_name: String,
        /// Its arguments (usually JSON bytes).
        args: Vec<u8>,
        /// Gas attached.
        gas: u64,
        /// yoctoNEAR attached.
        deposit: u128,
    },
    /// Send `deposit` yoctoNEAR to the receiver.
    Transfer {
        /// yoctoNEAR sent.
        deposit: u128,
    },
    /// Stake `stake` yoctoNEAR with validator key `public_key`.
    Stake {
        /// yoctoNEAR staked.
        stake: u128,
        /// The validator key.
        public_key: PublicKey,
    },
    /// Add `public_key` with `access_key` to the receiver.
    AddKey {
        /// The key added.
        public_key: PublicKey,
        /// Its nonce and permission.
        access_key: AccessKey,
    },
    /// Delete `public_key` from the receiver.
    DeleteKey {
        /// The key deleted.
        public_key: PublicKey,
    },
    /// Delete the receiver, sending its balance to `beneficiary_id`.
    DeleteAccount {
        /// Who receives the remaining balance.
        beneficiary_id: String,
    },
}

impl Action {
    /// A function call with JSON-serialized `args`.
    pub fn function_call_json(method_name: impl Into<String>, args: &serde_json::Value, gas: u64, deposit: u128) -> Self {
        Action::FunctionCall { method_name: method_name.into(), args: args.to_string().into_bytes(), gas, deposit }
    }
}

/// An access key as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AccessKey {
    /// The key's nonce (the next transaction must use a larger one).
    pub nonce: u64,
    /// What the key may do.
    pub permission: AccessKeyPermission,
}

/// What an access key may do. Tags: FunctionCall=0, FullAccess=1.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AccessKeyPermission {
    /// Only calls to `receiver_id` (limited to `method_names` unless empty), paying at most
    /// `allowance` yoctoNEAR in fees (`None` = unlimited).
    FunctionCall {
        /// Fee allowance in yoctoNEAR; `None` is unlimited.
        allowance: Option<u128>,
        /// The only contract the key may call.
        receiver_id: String,
        /// The methods it may call; empty = any.
        method_names: Vec<String>,
    },
    /// Any action.
    FullAccess,
}

//! NEAR transactions: keys, actions, borsh layout, hashing and signing.

mod action;
mod keys;
mod transaction;

pub use action::{AccessKey, AccessKeyPermission, Action};
pub use keys::{ED25519_PREFIX, KeyError, PublicKey, SecretKey, Signature};
pub use transaction::{DecodeError, SignedTransaction, Transaction};

//! `Transaction` and `SignedTransaction` in NEAR's borsh layout (V0, the form every node
//! accepts), their hash and signing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use super::action::Action;
use super::keys::{PublicKey, SecretKey, Signature};

/// An unsigned transaction (NEAR `TransactionV0`).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    /// The account that signs and pays.
    pub signer_id: String,
    /// The access key that signs.
    pub public_key: PublicKey,
    /// Must exceed the access key's current nonce.
    pub nonce: u64,
    /// The account the actions apply to.
    pub receiver_id: String,
    /// A recent block hash; the transaction expires about a day after that block.
    pub block_hash: [u8; 32],
    /// What to do, in order.
    pub actions: Vec<Action>,
}

impl Transaction {
    /// The borsh bytes.
    pub fn to_borsh(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// The transaction hash: sha256 of the borsh bytes (what explorers show, base58).
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_borsh()).into()
    }

    /// Sign the hash with `key`. The key should match `public_key`; a mismatch yields a
    /// transaction the node rejects (see [`SignedTransaction::verify`]).
    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let signature = key.sign(&self.hash());
        SignedTransaction { transaction: self, signature }
    }
}

/// A transaction with its signature, as `send_tx` takes it (borsh, then base64).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub transaction: Transaction,
    /// ed25519 signature of the transaction's hash by its `public_key`.
    pub signature: Signature,
}

/// Why bytes could not be read as a [`SignedTransaction`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not base64.
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not a borsh `SignedTransaction` of the supported layout.
    #[error("not a borsh SignedTransaction: {0}")]
    Borsh(#[from] std::io::Error),
}

impl SignedTransaction {
    /// The borsh bytes.
    pub fn to_borsh(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("borsh into a Vec cannot fail")
    }

    /// The borsh bytes in standard base64, as `send_tx` expects.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.to_borsh())
    }

    /// Read borsh bytes (all of them must be used).
    pub fn from_borsh(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(borsh::from_slice(bytes)?)
    }

    /// Read standard base64 of borsh bytes.
    pub fn from_base64(text: &str) -> Result<Self, DecodeError> {
        Self::from_borsh(&BASE64.decode(text.trim())?)
    }

    /// The transaction hash (see [`Transaction::hash`]).
    pub fn hash(&self) -> [u8; 32] {
        self.transaction.hash()
    }

    /// The transaction hash in base58, as nodes and explorers print it.
    pub fn hash_base58(&self) -> String {
        bs58::encode(self.hash()).into_string()
    }

    /// Whether the signature is the transaction's `public_key` signing its hash.
    pub fn verify(&self) -> bool {
        self.transaction.public_key.verify(&self.hash(), &self.signature)
    }
}

//! How requests name blocks, chunks and the wait level of a transaction, and the parsing of the
//! OutLayer v0.1 string forms of each.

use serde_json::{Map, Value, json};

use crate::error::RpcError;

/// Length in bytes of a NEAR hash (block, chunk, transaction, receipt, epoch).
pub const HASH_LEN: usize = 32;

/// Decode a base58 NEAR hash and check that it is [`HASH_LEN`] bytes; `what` names the
/// argument in the error.
pub fn decode_hash(what: &str, text: &str) -> Result<[u8; HASH_LEN], RpcError> {
    let bytes = bs58::decode(text).into_vec().map_err(|e| RpcError::InvalidArgument(format!("{what} {text:?} is not base58: {e}")))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| RpcError::InvalidArgument(format!("{what} {text:?} decodes to {} bytes, expected {HASH_LEN}", b.len())))
}

/// Which chain state a read looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlockRef {
    /// The latest final block (`"finality": "final"`).
    #[default]
    Final,
    /// The latest block, possibly not final (`"finality": "optimistic"`).
    Optimistic,
    /// The block at this height (`"block_id": <number>`).
    Height(u64),
    /// The block with this base58 hash (`"block_id": "<hash>"`).
    Hash(String),
}

impl BlockRef {
    /// Parse the v0.1 `finality-or-block` string: `""` or `"final"` → [`BlockRef::Final`],
    /// `"optimistic"` → [`BlockRef::Optimistic`], all digits → [`BlockRef::Height`], anything
    /// else must be a base58 block hash of 32 bytes ([`RpcError::InvalidArgument`] otherwise).
    pub fn parse_v01(text: &str) -> Result<Self, RpcError> {
        match text.trim() {
            "" | "final" => Ok(BlockRef::Final),
            "optimistic" => Ok(BlockRef::Optimistic),
            other => BlockId::parse(other).map(BlockRef::from),
        }
    }

    /// Add this reference to a request's params object (`finality` or `block_id`).
    pub(crate) fn insert_into(&self, params: &mut Map<String, Value>) -> Result<(), RpcError> {
        let (key, value) = match self {
            BlockRef::Final => ("finality", json!("final")),
            BlockRef::Optimistic => ("finality", json!("optimistic")),
            BlockRef::Height(h) => ("block_id", json!(h)),
            BlockRef::Hash(h) => {
                decode_hash("block hash", h)?;
                ("block_id", json!(h))
            }
        };
        params.insert(key.to_owned(), value);
        Ok(())
    }

    /// This reference as a params object of its own (for `block`, `EXPERIMENTAL_changes_in_block`).
    pub(crate) fn to_params(&self) -> Result<Value, RpcError> {
        let mut params = Map::new();
        self.insert_into(&mut params)?;
        Ok(Value::Object(params))
    }
}

/// A block named by height or hash (never by finality), as `gas_price` and `chunk` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockId {
    /// The block at this height.
    Height(u64),
    /// The block with this base58 hash.
    Hash(String),
}

impl BlockId {
    /// Parse a height (all digits) or a base58 block hash of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, RpcError> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(BlockId::Height).map_err(|e| RpcError::InvalidArgument(format!("block height {text:?}: {e}")));
        }
        decode_hash("block hash", text)?;
        Ok(BlockId::Hash(text.to_owned()))
    }

    /// The JSON value NEAR expects for a `block_id`.
    pub(crate) fn to_json(&self) -> Result<Value, RpcError> {
        match self {
            BlockId::Height(h) => Ok(json!(h)),
            BlockId::Hash(h) => {
                decode_hash("block hash", h)?;
                Ok(json!(h))
            }
        }
    }
}

impl From<BlockId> for BlockRef {
    fn from(id: BlockId) -> Self {
        match id {
            BlockId::Height(h) => BlockRef::Height(h),
            BlockId::Hash(h) => BlockRef::Hash(h),
        }
    }
}

/// Which chunk the `chunk` method returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkRef {
    /// The chunk with this base58 hash (`"chunk_id"`).
    Hash(String),
    /// The chunk of `shard` in `block` (`"block_id"` + `"shard_id"`).
    BlockShard {
        /// The block holding the chunk.
        block: BlockId,
        /// The shard id.
        shard: u64,
    },
}

impl ChunkRef {
    /// Parse the v0.1 `chunk-id-or-block-shard` string: `"<height or block hash>,<shard>"` or a
    /// base58 chunk hash of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, RpcError> {
        let text = text.trim();
        match text.split_once(',') {
            Some((block, shard)) => {
                let shard = shard.trim().parse().map_err(|e| RpcError::InvalidArgument(format!("shard id {:?}: {e}", shard.trim())))?;
                Ok(ChunkRef::BlockShard { block: BlockId::parse(block)?, shard })
            }
            None => {
                decode_hash("chunk hash", text)?;
                Ok(ChunkRef::Hash(text.to_owned()))
            }
        }
    }

    /// The params object of a `chunk` request.
    pub(crate) fn to_params(&self) -> Result<Value, RpcError> {
        match self {
            ChunkRef::Hash(h) => {
                decode_hash("chunk hash", h)?;
                Ok(json!({ "chunk_id": h }))
            }
            ChunkRef::BlockShard { block, shard } => Ok(json!({ "block_id": block.to_json()?, "shard_id": shard })),
        }
    }
}

/// How long `send_tx` / `tx` wait before answering (NEAR's `wait_until`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TxWait {
    /// Answer as soon as the transaction is accepted (`NONE`).
    None,
    /// The transaction is in a block (`INCLUDED`).
    Included,
    /// All receipts executed in optimistic blocks (`EXECUTED_OPTIMISTIC`, NEAR's default).
    #[default]
    ExecutedOptimistic,
    /// The including block is final (`INCLUDED_FINAL`).
    IncludedFinal,
    /// All receipts executed, the including block final (`EXECUTED`).
    Executed,
    /// All receipts executed in final blocks (`FINAL`).
    Final,
}

impl TxWait {
    /// Every level, weakest first.
    pub const ALL: [TxWait; 6] =
        [TxWait::None, TxWait::Included, TxWait::ExecutedOptimistic, TxWait::IncludedFinal, TxWait::Executed, TxWait::Final];

    /// The JSON name NEAR uses (`"EXECUTED_OPTIMISTIC"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TxWait::None => "NONE",
            TxWait::Included => "INCLUDED",
            TxWait::ExecutedOptimistic => "EXECUTED_OPTIMISTIC",
            TxWait::IncludedFinal => "INCLUDED_FINAL",
            TxWait::Executed => "EXECUTED",
            TxWait::Final => "FINAL",
        }
    }

    /// Parse the v0.1 `wait-until` string (ASCII case-insensitive); empty means the default
    /// `EXECUTED_OPTIMISTIC`; anything else is [`RpcError::InvalidArgument`].
    pub fn parse_v01(text: &str) -> Result<Self, RpcError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(TxWait::default());
        }
        TxWait::ALL
            .into_iter()
            .find(|w| w.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| RpcError::InvalidArgument(format!("unknown wait-until {text:?}")))
    }
}

impl std::fmt::Display for TxWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK_HASH: &str = "CLo31YCUhzz8ZPtS5vXLFskyZgHV5qWgXinBQHgu9Pyd";

    #[test]
    fn v01_block_strings() {
        assert_eq!(BlockRef::parse_v01("").unwrap(), BlockRef::Final);
        assert_eq!(BlockRef::parse_v01("final").unwrap(), BlockRef::Final);
        assert_eq!(BlockRef::parse_v01("optimistic").unwrap(), BlockRef::Optimistic);
        assert_eq!(BlockRef::parse_v01("17821130").unwrap(), BlockRef::Height(17821130));
        assert_eq!(BlockRef::parse_v01(BLOCK_HASH).unwrap(), BlockRef::Hash(BLOCK_HASH.into()));
    }

    #[test]
    fn bad_block_strings_are_invalid_arguments() {
        for bad in ["latest", "0OIl", "3xyz", "99999999999999999999999"] {
            let err = BlockRef::parse_v01(bad).unwrap_err();
            assert!(matches!(err, RpcError::InvalidArgument(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn block_ref_params() {
        assert_eq!(BlockRef::Final.to_params().unwrap(), json!({"finality": "final"}));
        assert_eq!(BlockRef::Optimistic.to_params().unwrap(), json!({"finality": "optimistic"}));
        assert_eq!(BlockRef::Height(5).to_params().unwrap(), json!({"block_id": 5}));
        assert_eq!(BlockRef::Hash(BLOCK_HASH.into()).to_params().unwrap(), json!({"block_id": BLOCK_HASH}));
        assert!(BlockRef::Hash("nothash".into()).to_params().is_err());
    }

    #[test]
    fn chunk_refs() {
        assert_eq!(ChunkRef::parse("187310138,0").unwrap(), ChunkRef::BlockShard { block: BlockId::Height(187310138), shard: 0 });
        assert_eq!(
            ChunkRef::parse(&format!("{BLOCK_HASH}, 3")).unwrap(),
            ChunkRef::BlockShard { block: BlockId::Hash(BLOCK_HASH.into()), shard: 3 }
        );
        assert_eq!(ChunkRef::parse(BLOCK_HASH).unwrap(), ChunkRef::Hash(BLOCK_HASH.into()));
        for bad in ["12,x", "abc", "12,", ",3"] {
            assert!(matches!(ChunkRef::parse(bad), Err(RpcError::InvalidArgument(_))), "{bad}");
        }
    }

    #[test]
    fn wait_levels_round_trip_and_default() {
        for w in TxWait::ALL {
            assert_eq!(TxWait::parse_v01(w.as_str()).unwrap(), w);
        }
        assert_eq!(TxWait::parse_v01("").unwrap(), TxWait::ExecutedOptimistic);
        assert_eq!(TxWait::parse_v01("final").unwrap(), TxWait::Final);
        assert!(matches!(TxWait::parse_v01("SOON"), Err(RpcError::InvalidArgument(_))));
    }
}

//! The deposit watcher (issue 12): credits payment keys from verified deposits on the `outlayer`
//! contract.
//!
//! The contract's payable `top_up_payment_key(owner, nonce)` logs a NEP-297 event
//! `EVENT_JSON:{"standard": "near-outlayer" (or `outlayer`), "event": "payment_key_topped_up",
//! "data": [{"owner", "nonce", "amount", "balance", "payer"}]}` (`amount` in yoctoNEAR, a decimal
//! string; `data` may also be the object itself, as older contract builds log it). The watcher follows **final** blocks from a cursor kept in the database (the last
//! height fully processed): for each block, each chunk included at that height, it takes
//!
//! * the chunk's transactions to the contract that call `top_up_payment_key`, and reads their
//!   outcome (`tx`, waiting until final): every receipt outcome **executed by the contract** whose
//!   status is a success;
//! * the chunk's receipts to the contract that call `top_up_payment_key` (a top-up made by
//!   another contract), and reads each one's outcome with `EXPERIMENTAL_light_client_proof`
//!   against the final head,
//!
//! and parses their logs. Logs of other accounts (anyone can log an `EVENT_JSON` line) and of
//! failed receipts are ignored. Each event is a [`Deposit`] keyed by `(receipt id, index of the
//! event in the receipt)`, priced at the contract's `get_payment_rate` view (micro-USD per NEAR,
//! `"0"` = unset) read at the block the receipt ran in: `amount × rate / 10²⁴` micro-USD,
//! rounded down. [`MoneyDb::record_deposit`] stores it and credits the key in one transaction;
//! the unique key makes a second sight (a replayed block, a restart, another replica) a no-op.
//! The cursor advances after a block's deposits are recorded, so a restart resumes at the first
//! block not fully processed and re-reads at most that block.
//!
//! A deposit for a key the coordinator does not have yet is kept `pending` and credited, in the
//! same transaction, when its owner creates key `owner:nonce` (the owner is the NEAR account the
//! event names: owners are NEAR accounts proven by sign-in). A deposit made while the contract
//! has no rate is kept `unpriced` and not credited (an operator can make up for it with an admin
//! grant); one that would pass the largest balance is kept `over_limit`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use outlayer_near::{BlockRef, ChunkRef, RpcClient, RpcError, TxWait};
use serde_json::{Value, json};

use crate::db::Backend;
use crate::db::money::{DEPOSIT_CURSOR, Deposit, DepositStatus, Recorded};
use crate::error::StoreError;

/// Pause between passes once the watcher has caught up with the final block.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Most blocks one pass processes (the cursor is saved after each block).
pub const MAX_BLOCKS_PER_PASS: u64 = 100;
/// Most pending deposits whose key now exists credited per pass.
pub const MAX_CLAIMS_PER_PASS: i64 = 100;
/// The contract method that deposits on a payment key.
pub const TOP_UP_METHOD: &str = "top_up_payment_key";
/// The event it logs.
pub const TOP_UP_EVENT: &str = "payment_key_topped_up";
/// NEP-297 standards the contract's events may carry (renamed from `outlayer` to
/// `near-outlayer`; both are accepted).
pub const EVENT_STANDARDS: [&str; 2] = ["outlayer", "near-outlayer"];
/// The contract's view of its payment rate: micro-USD per NEAR as a `U128` string, `"0"` = unset.
pub const RATE_METHOD: &str = "get_payment_rate";
/// yoctoNEAR in one NEAR.
pub const YOCTO_PER_NEAR: u128 = 1_000_000_000_000_000_000_000_000;
/// Prefix of NEP-297 event log lines.
const EVENT_LOG_PREFIX: &str = "EVENT_JSON:";

/// Where the watcher reads the chain.
#[derive(Debug, Clone)]
pub struct DepositsConfig {
    /// NEAR RPC node URL (it must keep state for the blocks between the cursor and the head:
    /// the rate is read at each deposit's block).
    pub rpc_url: String,
    /// The `outlayer` contract account.
    pub contract: String,
    /// The first block height to process when the database has no cursor yet; `None`: start
    /// after the final block at the first start (earlier deposits are not looked for).
    pub start_height: Option<u64>,
    /// Pause between passes once caught up ([`DEFAULT_POLL_INTERVAL`]).
    pub poll_interval: Duration,
}

impl DepositsConfig {
    /// A config with the default poll interval, starting at the final block.
    pub fn new(rpc_url: impl Into<String>, contract: impl Into<String>) -> Self {
        Self { rpc_url: rpc_url.into(), contract: contract.into(), start_height: None, poll_interval: DEFAULT_POLL_INTERVAL }
    }
}

/// Why a pass stopped before the final block (the next pass retries from the cursor).
#[derive(Debug, thiserror::Error)]
pub enum DepositError {
    /// The node failed or refused a request.
    #[error("NEAR RPC: {0}")]
    Rpc(#[from] RpcError),
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The node answered something that is not the shape of a NEAR RPC answer.
    #[error("unexpected node answer: {0}")]
    Malformed(String),
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// The final block height when the pass began.
    pub final_height: u64,
    /// The cursor after the pass (last height fully processed).
    pub cursor: u64,
    /// Blocks processed.
    pub blocks: u64,
    /// Deposit events found (including ones seen before).
    pub events: u64,
    /// New deposits credited.
    pub credited: u64,
    /// New deposits kept pending (no such key yet).
    pub pending: u64,
    /// New deposits not credited (unpriced or over the balance limit).
    pub refused: u64,
    /// Deposits already recorded (replays).
    pub already_seen: u64,
    /// Pending deposits credited because their key exists now.
    pub claimed: u64,
}

/// One `payment_key_topped_up` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpEvent {
    /// The payment key's owner.
    pub owner: String,
    /// The payment key's nonce.
    pub nonce: u32,
    /// Deposited yoctoNEAR.
    pub amount: u128,
    /// Who paid.
    pub payer: String,
}

/// The `payment_key_topped_up` events in a receipt's logs, in order. Lines that are not such
/// an event of an accepted standard, or whose data does not parse, are skipped.
pub fn top_up_events<'a>(logs: impl IntoIterator<Item = &'a str>) -> Vec<TopUpEvent> {
    let mut events = Vec::new();
    for line in logs {
        let Some(json) = line.strip_prefix(EVENT_LOG_PREFIX) else { continue };
        let Ok(event) = serde_json::from_str::<Value>(json) else { continue };
        let standard = event["standard"].as_str().unwrap_or_default();
        if !EVENT_STANDARDS.contains(&standard) || event["event"] != TOP_UP_EVENT {
            continue;
        }
        // `data` is a one-element array (NEP-297 as OutLayer logs it) or, from older contract
        // builds, the object itself.
        let items = match &event["data"] {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            object @ Value::Object(_) => vec![object],
            _ => Vec::new(),
        };
        for data in items {
            let owner = data["owner"].as_str();
            let nonce = data["nonce"].as_u64().and_then(|n| u32::try_from(n).ok());
            let amount = data["amount"].as_str().and_then(|a| a.parse::<u128>().ok());
            let payer = data["payer"].as_str();
            if let (Some(owner), Some(nonce), Some(amount), Some(payer)) = (owner, nonce, amount, payer) {
                events.push(TopUpEvent { owner: owner.to_owned(), nonce, amount, payer: payer.to_owned() });
            }
        }
    }
    events
}

/// `amount_yocto × rate / 10²⁴` (rate = micro-USD per NEAR), rounded down, computed without
/// overflow for any `u128` amount and rate; `None` if the result does not fit an `i64`.
pub fn micro_usd(amount_yocto: u128, rate: u128) -> Option<i64> {
    const E12: u128 = 1_000_000_000_000;
    // amount = whole NEAR + fraction (< 10²⁴); rate = rq × 10²⁴ + rr (rr < 10²⁴).
    let (whole, fraction) = (amount_yocto / YOCTO_PER_NEAR, amount_yocto % YOCTO_PER_NEAR);
    let (rq, rr) = (rate / YOCTO_PER_NEAR, rate % YOCTO_PER_NEAR);
    // fraction × rr / 10²⁴ exactly, with fraction = fh × 10¹² + fl: every product stays < 10³⁷.
    let (fh, fl) = (fraction / E12, fraction % E12);
    let a = fh * rr;
    let (a1, a0) = (a / E12, a % E12);
    let small = a1 + (a0 * E12 + fl * rr) / YOCTO_PER_NEAR;
    let total = whole.checked_mul(rate)?.checked_add(fraction.checked_mul(rq)?)?.checked_add(small)?;
    i64::try_from(total).ok()
}

/// A deposit found in a block, before pricing.
struct Found {
    receipt_id: String,
    block_hash: String,
    events: Vec<TopUpEvent>,
}

/// Follows the contract's deposits (see the module docs).
pub struct DepositWatcher {
    client: RpcClient,
    contract: String,
    start_height: Option<u64>,
    db: Arc<dyn Backend>,
}

impl DepositWatcher {
    /// A watcher over `db` reading the chain as `config` says.
    pub fn new(config: &DepositsConfig, db: Arc<dyn Backend>) -> Self {
        Self { client: RpcClient::new(config.rpc_url.clone()), contract: config.contract.clone(), start_height: config.start_height, db }
    }

    /// One pass: from the block after the cursor up to the final block (at most
    /// [`MAX_BLOCKS_PER_PASS`] blocks), recording and crediting every deposit, saving the cursor
    /// after each block; then credits pending deposits whose key exists now.
    pub async fn pass(&self, now_ms: i64) -> Result<PassReport, DepositError> {
        let head = self.client.block(&BlockRef::Final).await?;
        let final_height =
            head.pointer("/header/height").and_then(Value::as_u64).ok_or_else(|| malformed("block without header.height"))?;
        let head_hash =
            head.pointer("/header/hash").and_then(Value::as_str).ok_or_else(|| malformed("block without header.hash"))?.to_owned();
        let cursor = match self.db.chain_cursor(DEPOSIT_CURSOR).await? {
            Some(c) => u64::try_from(c).map_err(|_| malformed("negative cursor"))?,
            None => {
                let start = self.start_height.map_or(final_height, |h| h.saturating_sub(1));
                self.db.set_chain_cursor(DEPOSIT_CURSOR, height_i64(start)?).await?;
                start
            }
        };
        let mut report = PassReport { final_height, cursor, ..PassReport::default() };
        let last = final_height.min(cursor.saturating_add(MAX_BLOCKS_PER_PASS));
        let mut rates = HashMap::new();
        for height in cursor.saturating_add(1)..=last {
            for found in self.deposits_in_block(height, &head_hash).await? {
                let rate = match rates.get(&found.block_hash) {
                    Some(r) => *r,
                    None => {
                        let r = self.rate_at(&found.block_hash).await?;
                        rates.insert(found.block_hash.clone(), r);
                        r
                    }
                };
                for (index, event) in found.events.iter().enumerate() {
                    report.events += 1;
                    let deposit = Deposit {
                        receipt_id: found.receipt_id.clone(),
                        event_index: index as i64,
                        owner: event.owner.clone(),
                        nonce: i64::from(event.nonce),
                        amount_yocto: event.amount,
                        rate,
                        micro_usd: micro_usd(event.amount, rate),
                        payer: event.payer.clone(),
                        block_height: height_i64(height)?,
                    };
                    match self.db.record_deposit(&deposit, now_ms).await? {
                        Recorded::AlreadySeen => report.already_seen += 1,
                        Recorded::New(DepositStatus::Credited) => report.credited += 1,
                        Recorded::New(DepositStatus::Pending) => report.pending += 1,
                        Recorded::New(status) => {
                            report.refused += 1;
                            tracing::warn!(
                                receipt_id = deposit.receipt_id,
                                key = format!("{}:{}", deposit.owner, deposit.nonce),
                                amount_yocto = %deposit.amount_yocto,
                                status = status.as_str(),
                                "deposit not credited"
                            );
                        }
                    }
                }
            }
            self.db.set_chain_cursor(DEPOSIT_CURSOR, height_i64(height)?).await?;
            report.cursor = height;
            report.blocks += 1;
        }
        report.claimed = self.db.claim_pending_deposits(MAX_CLAIMS_PER_PASS, now_ms).await?;
        Ok(report)
    }

    /// Runs passes until `stop` turns true: right away while behind the final block, every
    /// `interval` once caught up or after a failure (logged, at most once per 10 s per kind).
    pub async fn run(self, interval: Duration, stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let pass = tokio::select! {
                r = self.pass(crate::state::now_ms()) => Some(r),
                _ = crate::notify::Hub::until_shutdown(stop.clone()) => None,
            };
            let behind = match pass {
                None => return,
                Some(Ok(report)) => {
                    if report.events > 0 || report.claimed > 0 {
                        tracing::info!(?report, "deposit watcher");
                    }
                    report.cursor < report.final_height
                }
                Some(Err(e)) => {
                    if let Some(suppressed) = crate::logflood::BACKGROUND.admit("deposit watcher") {
                        tracing::warn!(error = %e, suppressed, "deposit watcher pass failed");
                    }
                    false
                }
            };
            if !behind {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = crate::notify::Hub::until_shutdown(stop.clone()) => return,
                }
            }
        }
    }

    /// The deposits in the chunks included at `height` (none if there is no block there).
    async fn deposits_in_block(&self, height: u64, head: &str) -> Result<Vec<Found>, DepositError> {
        let block = match self.client.block(&BlockRef::Height(height)).await {
            Ok(b) => b,
            Err(e) if e.node_cause() == Some("UNKNOWN_BLOCK") => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        let chunks = block["chunks"].as_array().ok_or_else(|| malformed("block without chunks"))?;
        for header in chunks.iter().filter(|c| c["height_included"].as_u64() == Some(height)) {
            let hash = header["chunk_hash"].as_str().ok_or_else(|| malformed("chunk header without chunk_hash"))?;
            let chunk = self.client.chunk(&ChunkRef::Hash(hash.to_owned())).await?;
            for tx in chunk["transactions"].as_array().into_iter().flatten() {
                if tx["receiver_id"] != self.contract.as_str() || !calls_top_up(&tx["actions"]) {
                    continue;
                }
                let (Some(tx_hash), Some(signer)) = (tx["hash"].as_str(), tx["signer_id"].as_str()) else {
                    return Err(malformed("transaction without hash / signer_id"));
                };
                let status = self.client.tx_status(tx_hash, signer, TxWait::Final).await?;
                let outcomes = status["receipts_outcome"].as_array().ok_or_else(|| malformed("tx status without receipts_outcome"))?;
                for outcome in outcomes {
                    self.take(outcome, &mut seen, &mut found)?;
                }
            }
            for receipt in chunk["receipts"].as_array().into_iter().flatten() {
                let actions = receipt.pointer("/receipt/Action/actions").cloned().unwrap_or_default();
                if receipt["receiver_id"] != self.contract.as_str() || !calls_top_up(&actions) {
                    continue;
                }
                let id = receipt["receipt_id"].as_str().ok_or_else(|| malformed("receipt without receipt_id"))?;
                if seen.contains(id) {
                    continue;
                }
                let params = json!({ "type": "receipt", "receipt_id": id, "receiver_id": self.contract, "light_client_head": head });
                let proof = self.client.call("EXPERIMENTAL_light_client_proof", params).await?;
                self.take(&proof["outcome_proof"], &mut seen, &mut found)?;
            }
        }
        Ok(found)
    }

    /// Keeps the deposits of one `ExecutionOutcomeWithIdView` (`id`, `block_hash`, `outcome`)
    /// if the contract executed it successfully.
    fn take(&self, with_id: &Value, seen: &mut HashSet<String>, found: &mut Vec<Found>) -> Result<(), DepositError> {
        let outcome = &with_id["outcome"];
        if outcome["executor_id"] != self.contract.as_str() || !succeeded(&outcome["status"]) {
            return Ok(());
        }
        let events = top_up_events(outcome["logs"].as_array().into_iter().flatten().filter_map(Value::as_str));
        if events.is_empty() {
            return Ok(());
        }
        let receipt_id = with_id["id"].as_str().ok_or_else(|| malformed("outcome without id"))?;
        let block_hash = with_id["block_hash"].as_str().ok_or_else(|| malformed("outcome without block_hash"))?;
        if seen.insert(receipt_id.to_owned()) {
            found.push(Found { receipt_id: receipt_id.to_owned(), block_hash: block_hash.to_owned(), events });
        }
        Ok(())
    }

    /// The contract's payment rate at block `block_hash`; 0 if unset or if the contract has no
    /// such view.
    async fn rate_at(&self, block_hash: &str) -> Result<u128, DepositError> {
        let result = match self.client.view_call(&BlockRef::Hash(block_hash.to_owned()), &self.contract, RATE_METHOD, b"{}").await {
            Ok(r) => r,
            Err(e) if e.node_cause() == Some(outlayer_near::rpc::CONTRACT_EXECUTION_ERROR) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let value: Value = result.json().map_err(|e| malformed(&format!("{RATE_METHOD} returned {e}")))?;
        match &value {
            Value::String(s) => s.parse().map_err(|_| malformed(&format!("{RATE_METHOD} returned {value}"))),
            Value::Number(n) => n.as_u64().map(u128::from).ok_or_else(|| malformed(&format!("{RATE_METHOD} returned {value}"))),
            _ => Err(malformed(&format!("{RATE_METHOD} returned {value}"))),
        }
    }
}

/// Whether a JSON list of actions holds a `top_up_payment_key` function call.
fn calls_top_up(actions: &Value) -> bool {
    actions.as_array().into_iter().flatten().any(|a| a.pointer("/FunctionCall/method_name").and_then(Value::as_str) == Some(TOP_UP_METHOD))
}

/// Whether an outcome status is `SuccessValue` or `SuccessReceiptId`.
fn succeeded(status: &Value) -> bool {
    status.get("SuccessValue").is_some() || status.get("SuccessReceiptId").is_some()
}

fn malformed(what: &str) -> DepositError {
    DepositError::Malformed(what.to_owned())
}

fn height_i64(height: u64) -> Result<i64, DepositError> {
    i64::try_from(height).map_err(|_| malformed("block height past i64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(standard: &str, event: &str, data: Value) -> String {
        format!("EVENT_JSON:{}", json!({"standard": standard, "version": "1.0.0", "event": event, "data": data}))
    }

    #[test]
    fn both_standards_parse_and_other_events_do_not() {
        let data = json!([{"owner": "alice.near", "nonce": 3, "amount": "10000000000000000000000", "balance": "1", "payer": "bob.near"}]);
        let logs = [
            line("outlayer", TOP_UP_EVENT, data.clone()),
            line("near-outlayer", TOP_UP_EVENT, data.clone()),
            line("nep141", TOP_UP_EVENT, data.clone()),
            line("outlayer", "execution_requested", data.clone()),
            line("outlayer", TOP_UP_EVENT, data[0].clone()),
            "plain log".to_owned(),
        ];
        let events = top_up_events(logs.iter().map(String::as_str));
        let expected = TopUpEvent { owner: "alice.near".into(), nonce: 3, amount: 10u128.pow(22), payer: "bob.near".into() };
        assert_eq!(events, vec![expected.clone(), expected.clone(), expected]);
    }

    #[test]
    fn micro_usd_rounds_down_and_never_overflows() {
        // 0.01 NEAR at 3.5 USD per NEAR = 35 000 micro-USD.
        assert_eq!(micro_usd(10u128.pow(22), 3_500_000), Some(35_000));
        // One yoctoNEAR is worth nothing at any sane rate.
        assert_eq!(micro_usd(1, 3_500_000), Some(0));
        // 1.5 NEAR at 1 micro-USD per NEAR: 1 (rounded down).
        assert_eq!(micro_usd(15 * 10u128.pow(23), 1), Some(1));
        // 0.5 NEAR at 2 × 10¹⁵: exact, though 0.5 NEAR × the rate does not fit a u128.
        assert_eq!(micro_usd(5 * 10u128.pow(23), 2 * 10u128.pow(15)), Some(10i64.pow(15)));
        assert_eq!(micro_usd(u128::MAX, u128::MAX), None);
        assert_eq!(micro_usd(10u128.pow(24), i64::MAX as u128), Some(i64::MAX));
        assert_eq!(micro_usd(10u128.pow(24), i64::MAX as u128 + 1), None);
    }
}

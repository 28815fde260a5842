//! `outlayer verify tx HASH --signer ACCOUNT --rpc URL [--register-contract ACCOUNT]`: an
//! on-chain result, checked from its `resolve_execution` transaction alone (issue 9).
//!
//! The transaction is read with NEAR's `tx` method (waiting until final) and taken apart by
//! [`outlayer_worker::near::tx_receipt::resolution_from_status`]; the checks are the verdict
//! types of [`outlayer_attest::verdict`] with the receipt signature, payload digest and
//! identity checks shared with the HTTPS path.
//!
//! What the chain can and cannot prove (see docs/trust.md, "verify tx"):
//!
//! - **binding**: the receipt's signature over every field, its key = the key that signed the
//!   transaction (the contract only accepts registered worker keys there), `call_id` = the
//!   request id, `instructions`/`wall_ms` = what was charged, on success `outcome`, `refund` and
//!   `output_sha256` = sha256 of the output bytes in the transaction, the contract's own
//!   `execution_resolved` event carrying the same receipt and key, and the transaction not
//!   refused.
//! - **authenticity**: the register contract keeps no quote or collateral for a worker key
//!   (`get_worker` returns the measurements, who registered it and when), so the quote cannot be
//!   re-checked here. What can be checked: the key is registered with the register contract the
//!   caller names, and that contract registers keys with the contract this transaction called.
//!   The quote itself stays UNPROVEN, with that reason.
//! - **identity**: the measurements the register contract recorded from the quote it verified,
//!   against `--measurements FILE` or the register contract's approved list.
//!
//! The NEAR node is trusted to report the transaction as it is on chain (no light-client proof
//! is checked), as is the register contract's view answer.

use std::str::FromStr;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_attest::Measurements;
use outlayer_attest::receipt::SignedReceipt;
use outlayer_attest::verdict::{Check, Layer, MeasurementPolicy, Status, Verdict, binding, fmt_time, identity};
use outlayer_near::tx::PublicKey;
use outlayer_near::{BlockRef, RpcClient, TxWait};
use outlayer_worker::near::tx_receipt::{ChainResolution, TxReceiptError, resolution_from_status};
use outlayer_worker::near::types::ExecutionOutput;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The format tag of a transaction bundle, version 1.
pub const FORMAT: &str = "outlayer-verify-tx-bundle/1";
/// The register contract's view of one worker key.
pub const GET_WORKER_METHOD: &str = "get_worker";
/// The register contract's view of the main contract it registers keys with.
pub const GET_OUTLAYER_CONTRACT_METHOD: &str = "get_outlayer_contract";

const AUTHENTICITY: &str = outlayer_attest::verdict::authenticity::NAME;

/// A register contract's record of a worker key (`contracts/register/src/workers.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerEntry {
    /// The measurements of the quote the contract verified.
    pub measurements: Measurements,
    /// The account that submitted the registration.
    pub registered_by: String,
    /// Block timestamp of the registration, ns.
    pub registered_at_ns: u64,
}

/// What the register contract said about the transaction's signer key (kept in bundles).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRead {
    /// The register contract's account.
    pub account: String,
    /// Where and when it was read (`via URL at block H (hash)`).
    pub read: String,
    /// `get_outlayer_contract`.
    pub outlayer_contract: Option<String>,
    /// `get_worker(signer key)`: `None` when the key is not registered.
    pub worker: Option<WorkerEntry>,
    /// Why the views could not be read (then the other fields are empty).
    pub error: Option<String>,
}

/// Everything a transaction verdict is computed from (what a transaction bundle holds).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxBundle {
    /// [`FORMAT`].
    pub format: String,
    /// The time (unix seconds) the verdict was computed at (informative: no collateral here).
    pub verified_at: u64,
    /// The NEAR RPC endpoint the transaction was read from.
    pub rpc: String,
    /// The transaction asked about.
    pub tx_hash: String,
    /// Its signer account (as asked).
    pub signer_id: String,
    /// The node's `tx` answer (`result`), whole: re-verification takes it apart again.
    pub tx_status: Value,
    /// The register contract's answer, if one was named.
    pub register: Option<RegisterRead>,
    /// The exact input bytes, base64, if given.
    pub input_base64: Option<String>,
    /// The measurement policy the verdict used.
    pub policy: MeasurementPolicy,
    /// The verdict when written. Informative only: re-verification recomputes it.
    pub verdict: Option<Verdict>,
}

impl TxBundle {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("bundles serialize")
    }

    /// Parses a transaction bundle file.
    pub fn from_json(bytes: &[u8]) -> anyhow::Result<Self> {
        let bundle: Self = serde_json::from_slice(bytes).context("not an outlayer verify tx bundle")?;
        if bundle.format != FORMAT {
            bail!("bundle format {:?} is not {FORMAT:?}", bundle.format);
        }
        Ok(bundle)
    }

    /// The recorded policy, labelled as coming from the bundle.
    pub fn recorded_policy(&self) -> MeasurementPolicy {
        self.policy.recorded_in_bundle()
    }

    /// The input bytes, decoded.
    pub fn input(&self) -> anyhow::Result<Option<Vec<u8>>> {
        self.input_base64.as_ref().map(|s| BASE64.decode(s).context("the bundle's input_base64 is not base64")).transpose()
    }

    /// Recomputes the verdict from the recorded data. `Err` when the recorded status is not a
    /// resolution (see [`resolution`]).
    pub fn verdict(&self, at: u64, policy: &MeasurementPolicy) -> anyhow::Result<Verdict> {
        let resolution = resolution(&self.tx_status, &self.tx_hash)?;
        Ok(verdict(&resolution, self.register.as_ref(), self.input()?.as_deref(), at, policy))
    }
}

/// Is this error "the hash is not a resolution" (a usage error: exit 3)?
pub fn is_not_a_resolution(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref::<TxReceiptError>(), Some(TxReceiptError::NotAResolution { .. }))
}

/// The resolution in a `tx` answer, which must be about `tx_hash`.
pub fn resolution(status: &Value, tx_hash: &str) -> anyhow::Result<ChainResolution> {
    let resolution = resolution_from_status(status).map_err(anyhow::Error::new)?;
    if resolution.tx_hash != tx_hash {
        bail!("the node answered with transaction {}, not {tx_hash}", resolution.tx_hash);
    }
    Ok(resolution)
}

/// `tx` for `tx_hash` signed by `signer_id`, waiting until final: the `result` member.
pub async fn fetch_status(client: &RpcClient, tx_hash: &str, signer_id: &str) -> anyhow::Result<Value> {
    client.tx_status(tx_hash, signer_id, TxWait::Final).await.with_context(|| format!("NEAR RPC tx {tx_hash} (signer {signer_id})"))
}

/// Reads `get_outlayer_contract` and `get_worker(signer_key)` of the register contract
/// `account` at one final block.
pub async fn read_register(client: &RpcClient, rpc: &str, account: &str, signer_key: &str) -> RegisterRead {
    let mut read =
        RegisterRead { account: account.to_owned(), read: format!("via {rpc}"), outlayer_contract: None, worker: None, error: None };
    let outlayer = match client.view_call(&BlockRef::Final, account, GET_OUTLAYER_CONTRACT_METHOD, b"{}").await {
        Ok(view) => view,
        Err(e) => {
            read.error = Some(format!("{GET_OUTLAYER_CONTRACT_METHOD}: {e}"));
            return read;
        }
    };
    read.read = format!("via {rpc} at block {} ({})", outlayer.block_height, outlayer.block_hash);
    match outlayer.json::<String>() {
        Ok(contract) => read.outlayer_contract = Some(contract),
        Err(e) => {
            read.error = Some(format!("{GET_OUTLAYER_CONTRACT_METHOD} returned an unexpected shape: {e}"));
            return read;
        }
    }
    let args = json!({ "public_key": signer_key }).to_string();
    match client.view_call(&BlockRef::Height(outlayer.block_height), account, GET_WORKER_METHOD, args.as_bytes()).await {
        Ok(view) => match view.json::<Option<WorkerEntry>>() {
            Ok(worker) => read.worker = worker,
            Err(e) => read.error = Some(format!("{GET_WORKER_METHOD} returned an unexpected shape: {e}")),
        },
        Err(e) => read.error = Some(format!("{GET_WORKER_METHOD}: {e}")),
    }
    read
}

/// The signer key (`ed25519:<base58>`) as hex, if it is an ed25519 key.
fn key_hex(near_key: &str) -> Option<String> {
    PublicKey::from_str(near_key).ok().map(|k| hex::encode(k.as_bytes()))
}

/// A hex key as `ed25519:<base58>`, if it is 32 bytes of hex.
fn key_near(hex_key: &str) -> Option<String> {
    let bytes: [u8; 32] = hex::decode(hex_key).ok()?.try_into().ok()?;
    Some(PublicKey(bytes).to_string())
}

/// Runs every check over a resolution.
pub fn verdict(
    resolution: &ChainResolution,
    register: Option<&RegisterRead>,
    input: Option<&[u8]>,
    at: u64,
    policy: &MeasurementPolicy,
) -> Verdict {
    Verdict::new(at, vec![authenticity(resolution, register), identity(register, policy), binding(resolution, input)])
}

fn authenticity(resolution: &ChainResolution, register: Option<&RegisterRead>) -> Layer {
    let key = &resolution.signer_public_key;
    let Some(register) = register else {
        return Layer::new(
            AUTHENTICITY,
            vec![Check::new(
                "worker registration",
                Status::Unproven,
                "the signer key registered with a register contract (--register-contract ACCOUNT)",
                key.as_str(),
                "no register contract given: nothing is known about the signer key's TDX attestation",
            )],
        );
    };
    if let Some(error) = &register.error {
        return Layer::new(
            AUTHENTICITY,
            vec![Check::new(
                "worker registration",
                Status::Unproven,
                format!("the signer key registered with register contract {}", register.account),
                key.as_str(),
                format!("the register contract could not be read {}: {error}", register.read),
            )],
        );
    }
    let mut checks = vec![Check::compare(
        "outlayer contract",
        register.outlayer_contract.clone().unwrap_or_default(),
        &resolution.contract_id,
        &format!("register contract {} registers worker keys with another contract than the one this transaction called", register.account),
    )];
    let expected = format!("{key} registered with register contract {} (its TDX quote verified there)", register.account);
    match &register.worker {
        Some(worker) => {
            let when = fmt_time(worker.registered_at_ns / 1_000_000_000);
            checks.push(Check::new(
                "worker registration",
                Status::Pass,
                expected,
                format!("registered by {} at {when}", worker.registered_by),
                format!("read {}", register.read),
            ));
            checks.push(Check::new(
                "quote",
                Status::Unproven,
                "the worker's TDX quote and collateral, to check against Intel's root CA",
                format!("not kept on chain: {GET_WORKER_METHOD} returns only the measurements, registered_by and registered_at_ns"),
                format!(
                    "register contract {} verified the quote with dcap-qvl when the key was registered ({when}) but keeps neither \
                     quote nor collateral, so the quote cannot be re-checked here; believing that check means trusting the code \
                     deployed at {} and the collateral its owner stored",
                    register.account, register.account
                ),
            ));
        }
        None => checks.push(Check::new(
            "worker registration",
            Status::Fail,
            expected,
            format!("no record ({GET_WORKER_METHOD} returned null, read {})", register.read),
            "the register contract has no record of the transaction's signer key (never registered through it, or removed \
             since): the key was not attested there (the main contract's owner can add worker keys directly)",
        )),
    }
    Layer::new(AUTHENTICITY, checks)
}

fn identity(register: Option<&RegisterRead>, policy: &MeasurementPolicy) -> Layer {
    let unknown = |reason: String| {
        Layer::new(
            identity::NAME,
            vec![Check::new("measurements", Status::Unproven, "the worker's measurements (from its register contract)", "unknown", reason)],
        )
    };
    let Some(register) = register else {
        return unknown("no register contract given (--register-contract ACCOUNT): the worker's measurements are unknown".to_owned());
    };
    if let Some(error) = &register.error {
        return unknown(format!("the register contract could not be read: {error}"));
    }
    let Some(worker) = &register.worker else {
        return unknown(format!("register contract {} has no record of the signer key", register.account));
    };
    let layer = identity::of_measurements(&worker.measurements, policy);
    let mut checks = vec![Check::new(
        "measurements source",
        Status::Pass,
        "the measurements of the quote the register contract verified",
        format!("register contract {}'s record of the key, read {}", register.account, register.read),
        "",
    )];
    checks.extend(layer.checks);
    Layer::new(identity::NAME, checks)
}

fn binding(resolution: &ChainResolution, input: Option<&[u8]>) -> Layer {
    let mut checks = Vec::new();
    checks.push(match &resolution.failure {
        None => Check::new("transaction status", Status::Pass, "the contract accepted the resolution", "success", ""),
        Some(failure) => Check::new(
            "transaction status",
            Status::Fail,
            "the contract accepted the resolution",
            format!("Failure {failure}"),
            "the contract refused the resolution: there is no on-chain result to trust",
        ),
    });
    let Some(receipt) = &resolution.receipt else {
        checks.push(Check::new(
            "receipt",
            Status::Fail,
            "a signed receipt (v2) in the resolve_execution arguments",
            "none",
            "the resolution carries no receipt",
        ));
        return Layer::new(binding::NAME, checks);
    };
    checks.push(binding::receipt_signature(receipt));
    checks.push(receipt_key(resolution, receipt));
    let r = &receipt.receipt;
    checks.push(Check::compare("call_id", resolution.request_id.to_string(), &r.call_id, "the receipt is about another request"));
    let response = &resolution.response;
    checks.push(Check::compare(
        "instructions",
        response.resources_used.instructions.to_string(),
        r.instructions.to_string(),
        "the receipt signs another instruction count than the response charged",
    ));
    checks.push(Check::compare(
        "wall_ms",
        response.resources_used.time_ms.to_string(),
        r.wall_ms.to_string(),
        "the receipt signs another wall time than the response charged",
    ));
    if response.success {
        checks.push(Check::compare("outcome", "ok", &r.outcome, "the response reports success but the receipt another outcome"));
        checks.push(match response.refund_usd {
            None => Check::compare("refund", "0", r.refund.to_string(), "the receipt signs a refund the response does not report"),
            // The receipt signs yoctoNEAR of the developer payment, the response micro-USD of
            // attached_usd: the contract checked the share; the ratio is not in the transaction.
            Some(usd) => Check::new(
                "refund",
                Status::Unproven,
                format!("{usd} micro-USD (refund_usd)"),
                r.refund.to_string(),
                "the receipt's yoctoNEAR refund and the response's refund_usd are compared by the contract, at the request's \
                 attached_usd / developer payment ratio (not in the transaction)",
            ),
        });
        checks.push(output(response.output.as_ref(), &r.output_sha256));
    } else {
        checks.push(Check::new(
            "output_sha256",
            Status::Unproven,
            "sha256 of the output bytes in the response",
            &r.output_sha256,
            format!(
                "the response reports a failure ({}): it carries no output, and the receipt's outcome {} and output digest are \
                 not compared",
                response.error.as_deref().unwrap_or("no error message"),
                r.outcome
            ),
        ));
    }
    checks.push(binding::payload("input_sha256", input, &r.input_sha256, "input"));
    checks.extend(event(resolution, receipt));
    Layer::new(binding::NAME, checks)
}

fn receipt_key(resolution: &ChainResolution, receipt: &SignedReceipt) -> Check {
    let signer = &resolution.signer_public_key;
    let expected = match key_hex(signer) {
        Some(hex) => format!("{hex} (the transaction's signer key {signer})"),
        None => format!("the transaction's signer key {signer} (not an ed25519 key)"),
    };
    let found_near = key_near(&receipt.public_key).unwrap_or_else(|| "not a 32-byte hex key".to_owned());
    let found = format!("{} ({found_near})", receipt.public_key);
    let same = key_hex(signer).is_some_and(|hex| hex == receipt.public_key.to_ascii_lowercase());
    if same {
        Check::new("receipt key", Status::Pass, expected, found, "")
    } else {
        Check::new(
            "receipt key",
            Status::Fail,
            expected,
            found,
            "the receipt is signed by another key than the registered worker key that signed the transaction",
        )
    }
}

fn output(output: Option<&ExecutionOutput>, stated: &str) -> Check {
    let bytes = match output {
        Some(ExecutionOutput::Text(text)) => text.clone().into_bytes(),
        Some(ExecutionOutput::Bytes(bytes)) => bytes.clone(),
        Some(ExecutionOutput::Json(_)) => {
            return Check::new(
                "output_sha256",
                Status::Unproven,
                "sha256 of the output bytes in the response",
                stated,
                "the output was sent as Json, a parsed value: its exact bytes are not in the transaction (with a receipt a \
                 worker sends Text)",
            );
        }
        None => {
            return Check::new(
                "output_sha256",
                Status::Unproven,
                "sha256 of the output bytes in the response",
                stated,
                "the successful response carries no output",
            );
        }
    };
    let mut check = binding::payload("output_sha256", Some(&bytes), stated, "output");
    if check.status == Status::Fail {
        check.reason = format!("the output in the transaction ({} bytes) is not the one the receipt signs", bytes.len());
    }
    check
}

fn event(resolution: &ChainResolution, receipt: &SignedReceipt) -> Vec<Check> {
    let Some(event) = &resolution.event else {
        if resolution.failure.is_some() {
            return Vec::new();
        }
        return vec![Check::new(
            "event receipt",
            Status::Unproven,
            format!("the execution_resolved event of request {} logged by {}", resolution.request_id, resolution.contract_id),
            "no such event",
            "the contract's outcome logs hold no execution_resolved event for this request",
        )];
    };
    let as_text =
        |r: Option<&SignedReceipt>| r.map_or_else(|| "null".to_owned(), |r| serde_json::to_string(r).expect("receipts serialize"));
    vec![
        Check::compare(
            "event receipt",
            as_text(Some(receipt)),
            as_text(event.receipt.as_ref()),
            "the contract's execution_resolved event carries another receipt than the transaction's arguments",
        ),
        Check::compare(
            "event worker_public_key",
            &resolution.signer_public_key,
            &event.worker_public_key,
            "the contract's event names another worker key than the transaction's signer",
        ),
    ]
}

//! Translating a pending request into the [`Job`] the worker loop runs, and the loop's
//! [`ExecutionResult`] into the `ExecutionResponse` the contract expects, with the run's signed
//! receipt ([`chain_receipt`]).
//!
//! A request of a project whose http allowlist (read from the contract, `get_project`) holds
//! valid entries ([`valid_http_allowlist`]) is granted [`Capability::Http`] to those hosts;
//! other requests get no http. Storage, rpc and vrf come from [`ExecutionSetting::grants`]: the
//! project's grants for a project's request, the worker's [`NearGrants`] otherwise.
//!
//! The host request itself (limits, grants drawn from the worker's backends, context) is built
//! from the job by [`crate::job::request`], the same for every source.

use outlayer_near::tx::SecretKey;
use outlayer_protocol::http::HostPattern;
use outlayer_protocol::job::{ExecutionKind, JobContext, NearFacts, ProjectRef};
use outlayer_protocol::receipt::SignedReceipt;
use outlayer_protocol::{Capability, ExecutionResult, Job, Limits, Outcome};

use super::NearGrants;
use super::types::{ExecutionOutput, ExecutionResponse, PendingRequest, ResourcesUsed, ResponseFormat};

/// Largest output the contract accepts (its `MAX_OUTPUT_BYTES`, 32 KiB): the job's
/// `max_output_bytes`. A larger output is reported as a failure instead of a resolution the
/// contract would refuse.
pub const CONTRACT_MAX_OUTPUT_BYTES: usize = 32 * 1024;

/// Bytes of error text sent (the contract keeps at most 512).
pub const MAX_ERROR_BYTES: usize = 512;

/// What the worker knows besides the request when it builds a job.
pub struct ExecutionSetting<'a> {
    /// The OutLayer contract account (`NEAR_CONTRACT_ID`).
    pub contract: &'a str,
    /// `mainnet`, `testnet`, ... (`NEAR_NETWORK_ID`).
    pub network: &'a str,
    /// Which of storage, rpc and vrf the request gets: its project's grants, or the worker's
    /// defaults for a request without a project.
    pub grants: &'a NearGrants,
    /// The valid entries of the request's project's http allowlist ([`valid_http_allowlist`]);
    /// empty for a request without a project. Non-empty grants [`Capability::Http`].
    pub http_allowlist: &'a [String],
}

/// The limits of `request` as a job carries them (the contract validated them against its own
/// caps, which are below the host's).
pub fn limits(request: &PendingRequest) -> Limits {
    Limits {
        max_instructions: request.limits.max_instructions,
        max_memory_mb: u64::from(request.limits.max_memory_mb),
        max_execution_seconds: request.limits.max_execution_seconds,
    }
}

/// Checks `request`'s limits against the host's caps (never failing with the contract's own
/// caps, which are lower); the error text is what the request is resolved with.
pub fn check_limits(request: &PendingRequest) -> Result<(), outlayer_host::limits::LimitError> {
    let mut host = outlayer_host::Limits::from(limits(request));
    host.max_stdout_bytes = host.max_stdout_bytes.min(CONTRACT_MAX_OUTPUT_BYTES as u64);
    host.validate()
}

/// The capabilities a request's guest is granted: payment (refunds of the developer payment)
/// always, storage / rpc / vrf as configured. [`crate::job::request`] draws each from the
/// worker's backends (storage and rpc only when the worker has them).
pub fn grants(grants: &NearGrants) -> Vec<Capability> {
    let mut granted = vec![Capability::Payment];
    if grants.storage {
        granted.push(Capability::Storage);
    }
    if grants.rpc {
        granted.push(Capability::Rpc);
    }
    if grants.vrf {
        granted.push(Capability::Vrf);
    }
    granted
}

/// The entries of a project's stored http allowlist that the host's parser
/// ([`outlayer_protocol::http::HostPattern`]) accepts. The contract checks entries only roughly,
/// so one it let through may still be refused here: it is skipped with a warning (the guest's
/// requests to that host are then denied like any host not listed), the others still apply.
pub fn valid_http_allowlist(project_id: &str, stored: &[String]) -> Vec<String> {
    stored
        .iter()
        .filter(|entry| match HostPattern::parse(entry) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(project_id, error = %e, "skipping an http allowlist entry the host refuses");
                false
            }
        })
        .cloned()
        .collect()
}

/// The job for `request` (as `get_request` returns it, with its input): call id = request id,
/// kind `Near`, output capped at [`CONTRACT_MAX_OUTPUT_BYTES`], the developer payment
/// (yoctoNEAR, `attached_usd` at the contract's rate) as the deposit the guest may refund
/// ([`refund_usd`] converts what it refunds), http to the hosts of
/// [`ExecutionSetting::http_allowlist`]. The lease fields are the source's to fill.
pub fn job(request: &PendingRequest, setting: &ExecutionSetting<'_>) -> Job {
    let project = request.source.project_id.as_ref().map(|id| ProjectRef {
        owner: request.source.project_owner.clone().unwrap_or_default(),
        name: id.split_once('/').map_or(id.as_str(), |(_, name)| name).to_owned(),
        id: id.clone(),
    });
    let context = JobContext {
        request_id: request.request_id.to_string(),
        kind: ExecutionKind::Near,
        network: setting.network.to_owned(),
        caller: Some(request.signer_id.clone()),
        project,
        block_height: Some(request.block_height),
        block_timestamp_ns: Some(request.created_at_ns),
        near: NearFacts {
            sender_id: Some(request.sender_id.clone()),
            predecessor_id: Some(request.sender_id.clone()),
            contract_id: Some(setting.contract.to_owned()),
            ..NearFacts::default()
        },
        call_id: None,
    };
    let mut granted = grants(setting.grants);
    if !setting.http_allowlist.is_empty() {
        granted.push(Capability::Http);
    }
    // The request's own secrets: the keystore releases them only if their conditions hold.
    if request.secrets_ref.is_some() && !granted.contains(&Capability::Secrets) {
        granted.push(Capability::Secrets);
    }
    Job {
        call_id: request.request_id.to_string(),
        lease_id: request.request_id.to_string(),
        lease_expires_at_ms: 0,
        wasm_sha256: request.source.wasm_sha256.clone(),
        input: request.input_data.clone().unwrap_or_default(),
        limits: limits(request),
        max_output_bytes: CONTRACT_MAX_OUTPUT_BYTES as u64,
        grants: granted,
        http_allowlist: setting.http_allowlist.to_vec(),
        attached_deposit: request.developer_payment.parse().unwrap_or(0),
        context,
        // The keystore reads the pending request from the contract itself.
        keys: Some(outlayer_protocol::secrets::JobProof::Near { request_id: request.request_id }),
        // No settlement applies them: the worker commits the writes under the request's id.
        settles_writes: false,
    }
}

/// The response for a finished execution in `format` (the refund, in the request's currency,
/// is the source's to add: [`refund_usd`]).
pub fn response(result: &ExecutionResult, format: ResponseFormat) -> ExecutionResponse {
    let mut response = ExecutionResponse {
        resources_used: ResourcesUsed { instructions: result.instructions, time_ms: result.wall_ms, compile_time_ms: None },
        ..ExecutionResponse::default()
    };
    if !result.outcome.is_ok() {
        response.error = Some(truncated(failure_text(result)));
        return response;
    }
    let output = match format {
        ResponseFormat::Bytes => Ok(ExecutionOutput::Bytes(result.output.clone())),
        ResponseFormat::Text => {
            String::from_utf8(result.output.clone()).map(ExecutionOutput::Text).map_err(|_| "output is not valid UTF-8".to_owned())
        }
        // JSON goes as the exact text printed (checked here, parsed by the contract's callback):
        // the receipt's `output_sha256` covers those bytes, which a re-serialized value is not.
        ResponseFormat::Json => match serde_json::from_slice::<serde::de::IgnoredAny>(&result.output) {
            Ok(_) => {
                String::from_utf8(result.output.clone()).map(ExecutionOutput::Text).map_err(|_| "output is not valid UTF-8".to_owned())
            }
            Err(e) => Err(format!("output is not valid JSON: {e}")),
        },
    };
    match output {
        Ok(output) => {
            response.success = true;
            response.output = Some(output);
        }
        Err(error) => response.error = Some(error),
    }
    response
}

/// What the guest refunded (`refund_yocto`, out of the developer payment in yoctoNEAR) as
/// `refund_usd`: the same share of the request's `attached_usd`, rounded down
/// (`floor(refund_yocto × attached_usd / developer_payment)`, the contract's own check of the
/// receipt's refund). `None` when nothing was refunded or nothing was attached.
pub fn refund_usd(refund_yocto: u128, request: &PendingRequest) -> Option<u64> {
    let developer: u128 = request.developer_payment.parse().unwrap_or(0);
    let attached_usd = u128::from(request.params.attached_usd());
    if refund_yocto == 0 || developer == 0 || attached_usd == 0 {
        return None;
    }
    let share = refund_yocto.min(developer).checked_mul(attached_usd).map_or(attached_usd, |p| p / developer);
    Some(u64::try_from(share).unwrap_or(u64::MAX))
}

/// The signed receipt sent with `resolve_execution`: the loop's receipt of the run, signed by
/// the key that signs the transaction (the contract accepts a receipt only from that key, a
/// registered worker key). When the loop signed with another key (the worker's
/// [`crate::Backends::key`] is not its NEAR key), the same fields — same digest — are signed
/// again with `near_key`.
pub fn chain_receipt(receipt: &SignedReceipt, near_key: &SecretKey) -> SignedReceipt {
    let public_key = hex::encode(near_key.public_key().as_bytes());
    if receipt.public_key == public_key {
        return receipt.clone();
    }
    let digest = receipt.receipt.digest();
    SignedReceipt {
        receipt: receipt.receipt.clone(),
        digest: hex::encode(digest),
        signature: hex::encode(near_key.sign(&digest).as_bytes()),
        public_key,
    }
}

/// The response for a compile-only request whose build succeeded: nothing ran; the output is
/// the JSON `{"wasm_sha256": hex, "compile_time_ms": n}` (the contract checks the hash's form
/// and answers it to the caller), the compile time reported for the contract to charge.
pub fn compiled(wasm_sha256: &str, compile_time_ms: u64) -> ExecutionResponse {
    ExecutionResponse {
        success: true,
        output: Some(ExecutionOutput::Json(serde_json::json!({ "wasm_sha256": wasm_sha256, "compile_time_ms": compile_time_ms }))),
        resources_used: ResourcesUsed { compile_time_ms: Some(compile_time_ms), ..ResourcesUsed::default() },
        ..ExecutionResponse::default()
    }
}

/// The response for a request that could not be run (bad wasm, limits beyond the host's caps,
/// no keystore or builder).
pub fn failure(error: impl Into<String>) -> ExecutionResponse {
    ExecutionResponse { error: Some(truncated(error.into())), ..ExecutionResponse::default() }
}

/// The reason of a failed execution: the outcome, then the guest's log when it wrote one (the
/// result carries the outcome's own message as its log when the guest wrote none; it is not
/// repeated).
fn failure_text(result: &ExecutionResult) -> String {
    let outcome = &result.outcome;
    let reason = match outcome {
        Outcome::Trap { message } | Outcome::GuestError { message, .. } | Outcome::Denied { message, .. } => {
            format!("{}: {message}", outcome.kind())
        }
        // The keystore's message already reads "access denied: {condition}: why".
        Outcome::AccessDenied { condition, message } => {
            let why = message.strip_prefix(&format!("access denied: {condition}: ")).unwrap_or(message);
            format!("{}: {condition}: {why}", outcome.kind())
        }
        Outcome::Exit { code } => format!("exit status {code}"),
        Outcome::OutputTooLarge { stream } => {
            format!("{stream} exceeds its limit (output: {CONTRACT_MAX_OUTPUT_BYTES} bytes)")
        }
        other => other.kind().to_owned(),
    };
    let log = result.stderr_tail.as_deref().map(str::trim).filter(|log| !log.is_empty() && Some(*log) != outcome.message());
    match log {
        Some(log) => format!("{reason}: {log}"),
        None => reason,
    }
}

/// `text` cut to the last [`MAX_ERROR_BYTES`] at a character boundary (the end of a log
/// explains a failure best).
fn truncated(text: String) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text;
    }
    let mut start = text.len() - MAX_ERROR_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(outcome: Outcome, output: &[u8], stderr_tail: Option<&str>) -> ExecutionResult {
        ExecutionResult {
            outcome,
            output: output.to_vec(),
            stderr_tail: stderr_tail.map(str::to_owned),
            instructions: 7,
            wall_ms: 3,
            peak_memory_bytes: 0,
            refund: 0,
            http: None,
        }
    }

    #[test]
    fn failures_name_the_outcome_then_the_log_once_and_keep_the_end() {
        let trap = Outcome::Trap { message: "unreachable".into() };
        let r = response(&result(trap.clone(), b"", Some("unreachable")), ResponseFormat::Text);
        assert_eq!(r.error.as_deref(), Some("trap: unreachable"));
        let r = response(&result(trap, b"", Some("panicked at x")), ResponseFormat::Text);
        assert_eq!(r.error.as_deref(), Some("trap: unreachable: panicked at x"));
        let r = response(&result(Outcome::Exit { code: 2 }, b"", None), ResponseFormat::Text);
        assert_eq!(r.error.as_deref(), Some("exit status 2"));
        let long = "é".repeat(400);
        let r = response(&result(Outcome::Exit { code: 1 }, b"", Some(&long)), ResponseFormat::Text);
        let error = r.error.unwrap();
        assert!(error.len() <= MAX_ERROR_BYTES && long.ends_with(&error), "{error}");
        assert!(!r.success && r.output.is_none() && r.refund_usd.is_none());
        assert_eq!((r.resources_used.instructions, r.resources_used.time_ms), (7, 3));
    }

    #[test]
    fn entries_the_host_refuses_are_skipped() {
        let stored = vec!["api.example.com".to_owned(), "x.org:99999".into(), "*.example.org:8443".into()];
        assert_eq!(valid_http_allowlist("dev.near/app", &stored), vec!["api.example.com".to_owned(), "*.example.org:8443".into()]);
        assert!(valid_http_allowlist("dev.near/app", &["x.org:0".to_owned()]).is_empty());
    }

    #[test]
    fn the_refund_is_the_same_share_of_attached_usd() {
        let mut request: PendingRequest = serde_json::from_value(serde_json::json!({
            "request_id": 1, "sender_id": "a", "signer_id": "a", "payer_id": "a",
            "source": {"project_id": "dev.near/app", "project_owner": "dev.near", "wasm_url": "https://x", "wasm_sha256": "ab"},
            "limits": {"max_instructions": 1, "max_memory_mb": 1, "max_execution_seconds": 1},
            "response_format": "Text", "secrets_ref": null, "attached": "0", "developer_payment": "500",
            "created_at_ns": 0, "block_height": 0, "resolved": false, "params": {"attached_usd": "1000"},
        }))
        .unwrap();
        assert_eq!(refund_usd(150, &request), Some(300));
        assert_eq!(refund_usd(1, &request), Some(2));
        assert_eq!(refund_usd(10_000, &request), Some(1000), "never more than attached");
        assert_eq!(refund_usd(0, &request), None);
        request.params.attached_usd = None;
        assert_eq!(refund_usd(150, &request), None);
        let ok = result(Outcome::Ok, &[0xff], None);
        let r = response(&ok, ResponseFormat::Text);
        assert_eq!(r.error.as_deref(), Some("output is not valid UTF-8"));
    }
}

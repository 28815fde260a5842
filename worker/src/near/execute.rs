//! Translating a pending request into a host execution, and a host report into the
//! `ExecutionResponse` the contract expects.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::caps::rpc::RpcGrant;
use outlayer_host::caps::storage::StorageGrant;
use outlayer_host::caps::vrf::VrfGrant;
use outlayer_host::context::NearFacts;
use outlayer_host::limits::LimitError;
use outlayer_host::{
    ExecutionContext, ExecutionKind, ExecutionReport, ExecutionRequest, Grants, Limits, Outcome,
    ProjectRef,
};
use std::time::Duration;

use super::NearGrants;
use super::types::{
    ExecutionOutput, ExecutionResponse, PendingRequest, RequestedEvent, ResponseFormat,
};
use crate::Backends;

/// Largest output the contract accepts (its `MAX_OUTPUT_BYTES`, 32 KiB). A larger output is
/// reported as a failure instead of a resolution the contract would refuse.
pub const CONTRACT_MAX_OUTPUT_BYTES: usize = 32 * 1024;

/// Bytes of error text sent (the contract keeps at most 512).
pub const MAX_ERROR_BYTES: usize = 512;

/// What the worker knows besides the request when it builds an execution.
pub struct ExecutionSetting<'a> {
    /// The OutLayer contract account (`NEAR_CONTRACT_ID`).
    pub contract: &'a str,
    /// `mainnet`, `testnet`, ... (`NEAR_NETWORK_ID`).
    pub network: &'a str,
    /// Which capabilities requests get.
    pub grants: &'a NearGrants,
    /// The backends the grants draw from.
    pub backends: &'a Backends,
}

/// The host request for `request` with the input of its `event`. Errors when the contract's
/// limits exceed the host's caps (never with the contract's own caps, which are lower).
pub fn host_request(
    request: &PendingRequest,
    event: &RequestedEvent,
    setting: &ExecutionSetting<'_>,
) -> Result<ExecutionRequest, LimitError> {
    let limits = Limits {
        max_instructions: request.limits.max_instructions,
        max_memory_bytes: u64::from(request.limits.max_memory_mb) << 20,
        max_wall: Duration::from_secs(request.limits.max_execution_seconds),
        max_stdout_bytes: CONTRACT_MAX_OUTPUT_BYTES as u64,
        ..Limits::default()
    };
    limits.validate()?;
    let backends = setting.backends;
    let grants = Grants {
        storage: backends
            .storage
            .clone()
            .filter(|_| setting.grants.storage)
            .map(StorageGrant::new),
        rpc: backends
            .rpc_url
            .as_deref()
            .filter(|_| setting.grants.rpc)
            .map(RpcGrant::new),
        vrf: setting.grants.vrf.then(|| VrfGrant {
            key: backends.key.clone(),
        }),
        payment: Some(PaymentGrant {
            currency: Currency::YoctoNear,
            attached: request.developer_payment.parse().unwrap_or(0),
            budget: 0,
        }),
        secrets: None,
    };
    let project = request.source.project_id.as_ref().map(|id| ProjectRef {
        owner: request.source.project_owner.clone().unwrap_or_default(),
        name: id
            .split_once('/')
            .map_or(id.as_str(), |(_, name)| name)
            .to_owned(),
        id: id.clone(),
    });
    let context = ExecutionContext {
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
    Ok(ExecutionRequest {
        input: event.input.clone().unwrap_or_default().into_bytes(),
        limits,
        grants,
        context,
    })
}

/// The response for a finished execution in `format`.
pub fn response(report: &ExecutionReport, format: ResponseFormat) -> ExecutionResponse {
    let mut response = ExecutionResponse {
        instructions_used: report.instructions,
        time_ms: report.wall.as_millis() as u64,
        ..ExecutionResponse::default()
    };
    if !report.outcome.is_ok() {
        response.error = Some(truncated(failure_text(report)));
        return response;
    }
    let output = match format {
        ResponseFormat::Bytes => Ok(ExecutionOutput::Bytes(BASE64.encode(&report.output))),
        ResponseFormat::Text => String::from_utf8(report.output.clone())
            .map(ExecutionOutput::Text)
            .map_err(|_| "output is not valid UTF-8".to_owned()),
        ResponseFormat::Json => serde_json::from_slice(&report.output)
            .map(ExecutionOutput::Json)
            .map_err(|e| format!("output is not valid JSON: {e}")),
    };
    match output {
        Ok(output) => {
            response.success = true;
            response.output = Some(output);
            response.refund_requested = report.refund.map(|r| r.to_string());
        }
        Err(error) => response.error = Some(error),
    }
    response
}

/// The response for a request that could not be run (bad wasm, limits beyond the host's caps).
pub fn failure(error: impl Into<String>) -> ExecutionResponse {
    ExecutionResponse {
        error: Some(truncated(error.into())),
        ..ExecutionResponse::default()
    }
}

/// The reason of a failed execution: the guest's log when it wrote one, else the outcome.
fn failure_text(report: &ExecutionReport) -> String {
    let stderr = String::from_utf8_lossy(&report.stderr).trim().to_owned();
    let reason = match &report.outcome {
        Outcome::Trap { message }
        | Outcome::GuestError { message, .. }
        | Outcome::Denied { message, .. } => format!("{}: {message}", report.outcome.kind()),
        Outcome::Exit { code } => format!("exit status {code}"),
        Outcome::OutputTooLarge { stream } => {
            format!("{stream} exceeds its limit (output: {CONTRACT_MAX_OUTPUT_BYTES} bytes)")
        }
        other => other.kind().to_owned(),
    };
    if stderr.is_empty() {
        reason
    } else {
        format!("{reason}: {stderr}")
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

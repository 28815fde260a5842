//! Worker resolution, settlement in the yield callback, and stale-request cancellation.
//!
//! Large outputs: the worker always passes the full output to `resolve_execution`. When the
//! serialized response exceeds NEAR's 1024-byte resume limit, the contract moves the output bytes
//! into `large_outputs[request_id]`, resumes with `output: null, output_stored: true`, and the
//! callback reads (and deletes) them, rebuilding the output in the request's format.

use near_sdk::json_types::U128;
use near_sdk::serde_json::Value;
use near_sdk::{AccountId, NearToken, Promise, PromiseError, env, near};

use crate::events::Event;
use crate::limits::*;
use crate::receipt::SignedReceipt;
use crate::types::*;
use crate::{Contract, ContractExt};

#[near]
impl Contract {
    /// Resolves `request_id` with a worker's `response`. Only a registered worker key may call
    /// it: the transaction must be signed with a key in the worker key set, and the predecessor
    /// must be this contract's account (function-call access key added at registration) or the
    /// configured worker account.
    ///
    /// `receipt` (optional) is the worker's signed receipt of the execution
    /// ([`SignedReceipt`], the JSON of `outlayer_attest::receipt::SignedReceipt`): it must be
    /// signed by the key signing this transaction, be about this request and say what `response`
    /// says (see [`crate::receipt`]), or the call panics with `Receipt refused: ...`. The call
    /// logs `execution_resolved` with the receipt, so indexers and `outlayer verify tx` can check
    /// the result from the transaction alone.
    pub fn resolve_execution(&mut self, request_id: u64, response: ExecutionResponse, receipt: Option<SignedReceipt>) {
        self.assert_worker();
        let signer = env::signer_account_pk();
        if let Some(receipt) = &receipt {
            let attached_usd = self.request_data.get(&request_id).and_then(|d| d.params.attached_usd).map_or(0, |u| u.0);
            receipt.check(self.request(request_id), attached_usd, &response, &signer);
        }
        let mut error_message = response.error.clone();
        if let Some(error) = &mut error_message {
            truncate_utf8(error, MAX_ERROR_BYTES);
        }
        let event = Event::ExecutionResolved {
            request_id,
            success: response.success,
            error_message,
            resources_used: response.resources_used.clone(),
            worker_public_key: signer,
            receipt,
        };
        let (data_id, payload) = self.prepare_resume(request_id, response);
        if !env::promise_yield_resume(&data_id, &payload) {
            env::panic_str(&format!("Request {request_id} is no longer waiting (timed out or resolved)"));
        }
        event.emit();
    }

    /// Yield callback: settles `request_id` and returns the output to the original caller
    /// (OutLayer v0.1: `Bytes` as a base64 string, `Text` as a string, `Json` as the value;
    /// `null` on failure; the details are in `execution_completed`). A yield timeout arrives as
    /// `Err` and is settled as a failure (base fee only).
    #[private]
    pub fn on_execution_resolved(
        &mut self,
        request_id: u64,
        #[callback_result] response: Result<ExecutionResponse, PromiseError>,
    ) -> Option<Value> {
        let stored = self.large_outputs.remove(&request_id);
        let data = self.request_data.remove(&request_id);
        // Cancelled as stale before the callback ran: already refunded.
        let mut request = self.requests.remove(&request_id)?;
        if let Some(data) = data {
            request.code_source = Some(data.code_source);
            request.params = data.params;
        }
        let (timed_out, mut response) = match response {
            Ok(response) => (false, response),
            Err(_) => (
                true,
                ExecutionResponse {
                    success: false,
                    error: Some("Execution timed out: no worker resolved the request".into()),
                    ..Default::default()
                },
            ),
        };
        if response.success && response.output_stored {
            match stored.map(|b| ExecutionOutput::from_stored_bytes(request.response_format, b)) {
                Some(Ok(output)) => response.output = Some(output),
                Some(Err(e)) => {
                    response.success = false;
                    response.error = Some(e);
                }
                None => {
                    response.success = false;
                    response.error = Some("Stored output is missing".into());
                }
            }
        }
        // A worker may send JSON output as text; it must parse.
        if response.success
            && request.response_format == ResponseFormat::Json
            && let Some(ExecutionOutput::Text(text)) = &response.output
        {
            match near_sdk::serde_json::from_str(text) {
                Ok(value) => response.output = Some(ExecutionOutput::Json(value)),
                Err(_) => {
                    response.success = false;
                    response.error = Some("Output is not valid JSON".into());
                }
            }
        }
        // A compile-only request answers the built hash, with the compile time it is charged.
        if response.success && crate::github::is_compile_only(&request) {
            match crate::github::compile_only_output(response.output.as_ref(), response.resources_used.compile_time_ms.unwrap_or(0)) {
                Ok(value) => response.output = Some(ExecutionOutput::Json(value)),
                Err(e) => {
                    response.success = false;
                    response.output = None;
                    response.error = Some(e);
                }
            }
        }
        self.settle(request, response, timed_out)
    }

    /// Cancels a request still pending `stale_timeout` after it was made, refunding its whole
    /// deposit to the payer. Anyone may call it.
    pub fn cancel_stale_request(&mut self, request_id: u64) -> U128 {
        let request = self.requests.get(&request_id).unwrap_or_else(|| env::panic_str(&format!("Request {request_id} not found")));
        let age = env::block_timestamp().saturating_sub(request.created_at_ns);
        if age < self.stale_timeout_ns {
            env::panic_str(&format!(
                "Request {request_id} is not stale yet: wait {} more seconds",
                (self.stale_timeout_ns - age).div_ceil(1_000_000_000)
            ));
        }
        let request = self.requests.remove(&request_id).unwrap();
        self.large_outputs.remove(&request_id);
        self.request_data.remove(&request_id);
        transfer(&request.payer_id, request.attached);
        Event::ExecutionCancelled { request_id, payer: request.payer_id, refund: U128(request.attached.as_yoctonear()) }.emit();
        U128(request.attached.as_yoctonear())
    }
}

impl Contract {
    /// Checks that `request_id` waits for a resolution, marks it resolved and builds the resume
    /// payload, moving an output that does not fit the 1024-byte limit into `large_outputs`.
    pub(crate) fn prepare_resume(&mut self, request_id: u64, response: ExecutionResponse) -> (near_sdk::CryptoHash, Vec<u8>) {
        let mut response = response;
        let request = self.requests.get_mut(&request_id).unwrap_or_else(|| not_found(request_id));
        if request.resolved {
            env::panic_str(&format!("Request {request_id} is already resolved"));
        }
        request.resolved = true;
        let data_id = request.data_id;
        response.worker_public_key = Some(env::signer_account_pk());
        response.output_stored = false;
        if let Some(error) = &mut response.error {
            truncate_utf8(error, MAX_ERROR_BYTES);
        }
        let mut payload = near_sdk::serde_json::to_vec(&response).unwrap();
        if payload.len() > MAX_RESUME_PAYLOAD_BYTES {
            let Some(output) = response.output.take() else {
                env::panic_str(&format!(
                    "Response is {} bytes without output; the resume limit is {MAX_RESUME_PAYLOAD_BYTES}",
                    payload.len()
                ));
            };
            let bytes = output.to_stored_bytes();
            if bytes.len() > MAX_OUTPUT_BYTES {
                env::panic_str(&format!("Output is {} bytes; the limit is {MAX_OUTPUT_BYTES}", bytes.len()));
            }
            self.large_outputs.insert(request_id, bytes);
            response.output_stored = true;
            payload = near_sdk::serde_json::to_vec(&response).unwrap();
            if payload.len() > MAX_RESUME_PAYLOAD_BYTES {
                env::panic_str(&format!(
                    "Response is {} bytes without output; the resume limit is {MAX_RESUME_PAYLOAD_BYTES}",
                    payload.len()
                ));
            }
        }
        (data_id, payload)
    }

    fn request(&self, request_id: u64) -> &PendingRequest {
        self.requests.get(&request_id).unwrap_or_else(|| not_found(request_id))
    }

    fn assert_worker(&self) {
        let predecessor = env::predecessor_account_id();
        let allowed_account = predecessor == env::current_account_id() || self.worker_account.as_ref() == Some(&predecessor);
        if !allowed_account || !self.worker_keys.contains(&env::signer_account_pk()) {
            env::panic_str("Only registered worker keys can resolve executions");
        }
    }

    /// Splits the deposit into cost, developer earnings and refund, pays out, emits
    /// `execution_completed` and returns what the caller receives.
    fn settle(&mut self, request: PendingRequest, response: ExecutionResponse, timed_out: bool) -> Option<Value> {
        let attached = request.attached.as_yoctonear();
        let used = &response.resources_used;
        let compile_ms = used.compile_time_ms.unwrap_or(0);
        let compile = if crate::github::is_git(&request.source) { self.pricing.compile_cost(compile_ms) } else { 0 };
        let (cost, developer) = if crate::github::is_compile_only(&request) {
            // Nothing ran: the compile time alone is charged, success or not (no base fee).
            (compile.min(request.estimate.as_yoctonear()), 0)
        } else if response.success {
            let cost = self.pricing.cost(used.instructions, used.time_ms).saturating_add(compile).min(request.estimate.as_yoctonear());
            let dev = request.developer_payment.as_yoctonear();
            (cost, dev - guest_refund(&request, response.refund_usd))
        } else {
            (self.pricing.base_fee.0.saturating_add(compile).min(request.estimate.as_yoctonear()), 0)
        };
        let refund = attached - cost - developer;
        self.platform_fees = self.platform_fees.saturating_add(NearToken::from_yoctonear(cost));
        if developer > 0
            && let Some(owner) = &request.source.project_owner
        {
            let earned = self.developer_earnings.get(owner).copied().unwrap_or_default();
            self.developer_earnings.insert(owner.clone(), earned.saturating_add(NearToken::from_yoctonear(developer)));
        }
        transfer(&request.payer_id, NearToken::from_yoctonear(refund));
        let output_bytes = response.output.as_ref().map_or(0, |o| o.to_stored_bytes().len() as u64);
        Event::ExecutionCompleted {
            sender_id: request.sender_id.clone(),
            code_source: request.code_source.clone(),
            resources_used: response.resources_used.clone(),
            success: response.success,
            error_message: response.error.clone(),
            payment_charged: U128(cost),
            payment_refunded: U128(refund),
            compilation_note: response.compilation_note.clone(),
            timestamp: env::block_timestamp(),
            request_id: request.request_id,
            timed_out,
            payer_account_id: request.payer_id.clone(),
            developer_earnings: U128(developer),
            output_bytes,
            worker_public_key: response.worker_public_key.clone(),
        }
        .emit();
        if response.success { response.output.as_ref().map(ExecutionOutput::to_caller_value) } else { None }
    }
}

/// The part of the developer payment (yoctoNEAR) given back for the guest's `refund_usd`: the
/// same share of it as `refund_usd` is of `attached_usd` (never more than all of it).
fn guest_refund(request: &PendingRequest, refund_usd: Option<u64>) -> u128 {
    let dev = request.developer_payment.as_yoctonear();
    let attached_usd = request.params.attached_usd.map_or(0, |u| u.0);
    let refund_usd = u128::from(refund_usd.unwrap_or(0)).min(attached_usd);
    if attached_usd == 0 || refund_usd == 0 {
        return 0;
    }
    // dev × refund / attached without overflow: dev < 2^128 / 1e12 in practice; saturate anyway.
    dev.checked_mul(refund_usd).map_or(dev, |product| product / attached_usd).min(dev)
}

/// Sends `amount` to `account` unless it is zero.
pub(crate) fn transfer(account: &AccountId, amount: NearToken) {
    if !amount.is_zero() {
        Promise::new(account.clone()).transfer(amount).detach();
    }
}

fn not_found(request_id: u64) -> ! {
    env::panic_str(&format!("Request {request_id} not found"))
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

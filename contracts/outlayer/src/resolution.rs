//! Worker resolution, settlement in the yield callback, and stale-request cancellation.
//!
//! Large outputs: the worker always passes the full output to `resolve_execution`. When the
//! serialized response exceeds NEAR's 1024-byte resume limit, the contract moves the output bytes
//! into `large_outputs[request_id]`, resumes with `output: null, output_stored: true`, and the
//! callback reads (and deletes) them, rebuilding the output in the request's format.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, NearToken, Promise, PromiseError, env, near};

use crate::events::{Event, ResourcesUsed};
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
            receipt.check(self.request(request_id), &response, &signer);
        }
        let mut error_message = response.error.clone();
        if let Some(error) = &mut error_message {
            truncate_utf8(error, MAX_ERROR_BYTES);
        }
        let event = Event::ExecutionResolved {
            request_id,
            success: response.success,
            error_message,
            resources_used: ResourcesUsed { instructions: response.instructions_used, time_ms: response.time_ms },
            worker_public_key: signer,
            receipt,
        };
        let (data_id, payload) = self.prepare_resume(request_id, response);
        if !env::promise_yield_resume(&data_id, &payload) {
            env::panic_str(&format!("Request {request_id} is no longer waiting (timed out or resolved)"));
        }
        event.emit();
    }

    /// Yield callback: settles `request_id` and returns the outcome to the original caller.
    /// A yield timeout arrives as `Err` and is settled as a failure (base fee only).
    #[private]
    pub fn on_execution_resolved(
        &mut self,
        request_id: u64,
        #[callback_result] response: Result<ExecutionResponse, PromiseError>,
    ) -> ExecutionOutcome {
        let stored = self.large_outputs.remove(&request_id);
        let Some(request) = self.requests.remove(&request_id) else {
            // Cancelled as stale before the callback ran: already refunded.
            return ExecutionOutcome {
                request_id,
                success: false,
                output: None,
                error: Some(format!("Request {request_id} was cancelled")),
                instructions_used: 0,
                time_ms: 0,
                cost: U128(0),
                refund: U128(0),
                developer_earnings: U128(0),
                worker_public_key: None,
                signature: None,
            };
        };
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
            match crate::github::compile_only_output(response.output.as_ref(), response.compile_time_ms) {
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

    /// Splits the deposit into cost, developer earnings and refund, pays out and emits
    /// `execution_completed`.
    fn settle(&mut self, request: PendingRequest, response: ExecutionResponse, timed_out: bool) -> ExecutionOutcome {
        let attached = request.attached.as_yoctonear();
        let compile = if crate::github::is_git(&request.source) { self.pricing.compile_cost(response.compile_time_ms) } else { 0 };
        let (cost, developer) = if crate::github::is_compile_only(&request) {
            // Nothing ran: the compile time alone is charged, success or not (no base fee).
            (compile.min(request.estimate.as_yoctonear()), 0)
        } else if response.success {
            let cost = self
                .pricing
                .cost(response.instructions_used, response.time_ms)
                .saturating_add(compile)
                .min(request.estimate.as_yoctonear());
            let dev = request.developer_payment.as_yoctonear();
            let guest_refund = response.refund_requested.map_or(0, |r| r.0).min(dev);
            (cost, dev - guest_refund)
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
            request_id: request.request_id,
            success: response.success,
            timed_out,
            error: response.error.clone(),
            payer: request.payer_id.clone(),
            instructions_used: response.instructions_used,
            time_ms: response.time_ms,
            cost: U128(cost),
            refund: U128(refund),
            developer_earnings: U128(developer),
            output_bytes,
            worker_public_key: response.worker_public_key.clone(),
        }
        .emit();
        ExecutionOutcome {
            request_id: request.request_id,
            success: response.success,
            output: if response.success { response.output } else { None },
            error: response.error,
            instructions_used: response.instructions_used,
            time_ms: response.time_ms,
            cost: U128(cost),
            refund: U128(refund),
            developer_earnings: U128(developer),
            worker_public_key: response.worker_public_key,
            signature: response.signature,
        }
    }
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

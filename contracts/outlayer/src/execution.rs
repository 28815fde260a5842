//! `request_execution`: validate, reserve the estimate, create the yield, emit
//! `execution_requested`.

use near_sdk::json_types::{U64, U128};
use near_sdk::serde_json::json;
use near_sdk::{AccountId, CryptoHash, Gas, GasWeight, NearToken, env, near};

use crate::events::Event;
use crate::limits::*;
use crate::projects::{normalize_sha256, validate_url};
use crate::secrets::{SecretAccessor, secret_key};
use crate::types::*;
use crate::{Contract, ContractExt};

/// Register the yield's data id is read from.
const DATA_ID_REGISTER: u64 = 0;

/// Name of the yield callback.
pub(crate) const RESOLVE_CALLBACK: &str = "on_execution_resolved";

#[near]
impl Contract {
    /// Asks for an execution of `source`. The attached deposit must cover the estimate
    /// (`base_fee + max_instructions × per_million_instructions / 1e6 + max_seconds × 1000 ×
    /// per_ms`) plus `params.developer_payment`. Attach at least 50 TGas.
    ///
    /// The call's result is the [`ExecutionOutcome`] returned by `on_execution_resolved` once a
    /// worker resolves the request or the yield times out. Refunds go to `payer` (default: the
    /// caller).
    #[payable]
    #[allow(clippy::too_many_arguments)]
    pub fn request_execution(
        &mut self,
        source: ExecutionSource,
        resource_limits: Option<ResourceLimits>,
        input: Option<String>,
        secrets_ref: Option<SecretsRef>,
        response_format: Option<ResponseFormat>,
        payer: Option<AccountId>,
        params: Option<ExecutionParams>,
    ) {
        self.assert_not_paused();
        if env::prepaid_gas() < Gas::from_tgas(MIN_REQUEST_TGAS) {
            env::panic_str(&format!("Attach at least {MIN_REQUEST_TGAS} TGas to request_execution"));
        }
        let limits = resource_limits.unwrap_or_default().resolve();
        if let Some(input) = &input {
            // Measured as it appears in the event log, where escaping can multiply its size.
            let escaped = near_sdk::serde_json::to_string(input).map_or(usize::MAX, |j| j.len() - 2);
            if escaped > MAX_INPUT_BYTES {
                env::panic_str(&format!("Input is {escaped} bytes once JSON-escaped; the limit is {MAX_INPUT_BYTES}"));
            }
        }
        let source = self.resolve_source(source);
        if let Some(secrets) = &secrets_ref {
            self.assert_secrets_exist(secrets, &source);
        }
        let developer_payment = params.unwrap_or_default().developer_payment.map_or(0, |p| p.0);
        if developer_payment > 0 && source.project_owner.is_none() {
            env::panic_str("A developer payment needs a project source");
        }
        let mut estimate = self.pricing.estimate(&limits);
        if crate::github::is_git(&source) {
            estimate = estimate.saturating_add(self.pricing.compile_cost(crate::pricing::COMPILE_MS_CAP));
        }
        let required = estimate.saturating_add(developer_payment);
        let attached = env::attached_deposit();
        if attached.as_yoctonear() < required {
            env::panic_str(&format!(
                "Attached deposit {} yoctoNEAR is less than the required {required} yoctoNEAR \
                 (estimated cost {estimate} + developer payment {developer_payment})",
                attached.as_yoctonear()
            ));
        }

        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let args = json!({ "request_id": request_id }).to_string();
        let yield_index =
            env::promise_yield_create(RESOLVE_CALLBACK, args, Gas::from_tgas(RESOLVE_CALLBACK_TGAS), GasWeight(0), DATA_ID_REGISTER);
        let data_id: CryptoHash = env::read_register(DATA_ID_REGISTER)
            .and_then(|bytes| bytes.try_into().ok())
            .unwrap_or_else(|| env::panic_str("Yield did not return a data id"));

        let sender = env::predecessor_account_id();
        let payer = payer.unwrap_or_else(|| sender.clone());
        let response_format = response_format.unwrap_or_default();
        let request = PendingRequest {
            request_id,
            data_id,
            sender_id: sender.clone(),
            signer_id: env::signer_account_id(),
            payer_id: payer.clone(),
            source: source.clone(),
            limits: limits.clone(),
            response_format,
            secrets_ref: secrets_ref.clone(),
            attached,
            estimate: NearToken::from_yoctonear(estimate),
            developer_payment: NearToken::from_yoctonear(developer_payment),
            created_at_ns: env::block_timestamp(),
            block_height: env::block_height(),
            resolved: false,
        };
        self.requests.insert(request_id, request);

        Event::ExecutionRequested {
            request_id,
            data_id: hex_encode(&data_id),
            sender,
            signer: env::signer_account_id(),
            payer,
            source,
            resource_limits: limits,
            input,
            secrets_ref,
            response_format,
            attached: U128(attached.as_yoctonear()),
            developer_payment: U128(developer_payment),
            block_height: env::block_height(),
            block_timestamp: U64(env::block_timestamp()),
        }
        .emit();
        // The caller receives whatever the yield callback returns.
        env::promise_return(yield_index);
    }

    /// The cost reserved for a request with `resource_limits` (yoctoNEAR), developer payment
    /// excluded.
    pub fn estimate_cost(&self, resource_limits: Option<ResourceLimits>) -> U128 {
        U128(self.pricing.estimate(&resource_limits.unwrap_or_default().resolve()))
    }
}

impl Contract {
    fn resolve_source(&self, source: ExecutionSource) -> ResolvedSource {
        match source {
            ExecutionSource::WasmUrl { url, sha256 } => {
                validate_url(&url);
                ResolvedSource { project_id: None, project_owner: None, wasm_url: url, wasm_sha256: normalize_sha256(&sha256) }
            }
            ExecutionSource::GitHub { repo, commit, build_target } => crate::github::resolve(&repo, &commit, build_target.as_deref()),
            ExecutionSource::Project { project_id, version } => {
                let project = self.projects.get(&project_id).unwrap_or_else(|| env::panic_str(&format!("Project {project_id} not found")));
                let wanted = match version {
                    Some(v) => normalize_sha256(&v),
                    None => project
                        .active_version
                        .clone()
                        .unwrap_or_else(|| env::panic_str(&format!("Project {project_id} has no active version"))),
                };
                let found =
                    project.version(&wanted).unwrap_or_else(|| env::panic_str(&format!("Version {wanted} not found in {project_id}")));
                ResolvedSource {
                    project_id: Some(project_id.clone()),
                    project_owner: Some(project.owner.clone()),
                    wasm_url: found.source_url.clone(),
                    wasm_sha256: found.wasm_sha256.clone(),
                }
            }
        }
    }

    fn assert_secrets_exist(&self, secrets: &SecretsRef, source: &ResolvedSource) {
        let by_project = source.project_id.as_ref().map(|project_id| {
            secret_key(&secrets.account_id, &SecretAccessor::Project { project_id: project_id.clone() }, &secrets.profile)
        });
        let by_wasm = secret_key(&secrets.account_id, &SecretAccessor::Wasm { sha256: source.wasm_sha256.clone() }, &secrets.profile);
        let exists = by_project.is_some_and(|k| self.secrets.contains_key(&k)) || self.secrets.contains_key(&by_wasm);
        if !exists {
            env::panic_str(&format!("No secrets of {} with profile {} for this source", secrets.account_id, secrets.profile));
        }
    }
}

/// Lowercase hex of bytes (no extra dependency in the contract).
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

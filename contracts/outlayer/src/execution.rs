//! `request_execution`: validate, reserve the estimate, create the yield, emit
//! `execution_requested`.

use near_sdk::json_types::U128;
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
    /// Asks for an execution of `source` (OutLayer v0.1's arguments). The attached deposit must
    /// cover the estimate (`base_fee + max_instructions × per_million_instructions / 1e6 +
    /// max_seconds × 1000 × per_ms`), plus the compile cap for a `GitHub` source, plus
    /// `params.attached_usd` converted at the `payment_rate`, plus the storage of an input kept
    /// in state only (10,000 bytes or more; held until settlement, then refunded). Attach at
    /// least 50 TGas.
    ///
    /// `params.compile_only` (a `GitHub` source, no `resource_limits`, no `secrets_ref`) builds
    /// without running: only the compile cap is reserved, and the answer is the JSON output
    /// `{"wasm_sha256", "compile_time_ms"}`. `params.force_rebuild` (a `GitHub` source) has the
    /// builder rebuild a cached build.
    ///
    /// The call's result is what `on_execution_resolved` returns once a worker resolves the
    /// request or the yield times out: the output (`Bytes` as base64, `Text` as a string, `Json`
    /// as the value), `null` on failure. Refunds go to `payer_account_id` (default: the caller).
    #[payable]
    #[allow(clippy::too_many_arguments)]
    pub fn request_execution(
        &mut self,
        source: ExecutionSource,
        resource_limits: Option<ResourceLimits>,
        input_data: Option<String>,
        secrets_ref: Option<SecretsRef>,
        response_format: Option<ResponseFormat>,
        payer_account_id: Option<AccountId>,
        params: Option<RequestParams>,
    ) {
        self.assert_not_paused();
        if env::prepaid_gas() < Gas::from_tgas(MIN_REQUEST_TGAS) {
            env::panic_str(&format!("Attach at least {MIN_REQUEST_TGAS} TGas to request_execution"));
        }
        let params = params.unwrap_or_default();
        let compile_only = params.compile_only;
        if compile_only && resource_limits.is_some() {
            env::panic_str("A compile-only request runs nothing: it takes no resource_limits");
        }
        if compile_only && secrets_ref.is_some() {
            env::panic_str("A compile-only request runs nothing: it takes no secrets_ref");
        }
        let limits = if compile_only { ResolvedLimits::COMPILE_ONLY } else { resource_limits.clone().unwrap_or_default().resolve() };
        let input_data = input_data.unwrap_or_default();
        if input_data.len() > MAX_INPUT_BYTES {
            env::panic_str(&format!("Input is {} bytes; the limit is {MAX_INPUT_BYTES}", input_data.len()));
        }
        let code_source = source.clone();
        let source = self.resolve_source(source);
        let git = crate::github::is_git(&source);
        if compile_only && !git {
            env::panic_str("compile_only needs a GitHub source: only a GitHub source is built");
        }
        if params.force_rebuild && !git {
            env::panic_str("force_rebuild needs a GitHub source: only a GitHub source is built");
        }
        if let Some(secrets) = &secrets_ref {
            self.assert_secrets_exist(secrets, &source);
        }
        let attached_usd = params.attached_usd.map_or(0, |u| u.0);
        if attached_usd > 0 && source.project_owner.is_none() {
            env::panic_str("attached_usd (a payment to the project developer) needs a Project source");
        }
        let developer_payment = self.usd_to_yocto(attached_usd);
        let compile_cap = if git { self.pricing.compile_cost(crate::pricing::COMPILE_MS_CAP) } else { 0 };
        // A compile-only request reserves the compile charge alone: nothing runs.
        let estimate = if compile_only { compile_cap } else { self.pricing.estimate(&limits).saturating_add(compile_cap) };
        // OutLayer's rule: an input of 10,000 bytes or more is not logged; it is read from state.
        // Its storage is held from the deposit until settlement (smaller inputs ride on the
        // contract's own balance, like the request record itself).
        let input_data_in_state = input_in_state(&input_data);
        let input_hold = if input_data_in_state { env::storage_byte_cost().as_yoctonear() * input_data.len() as u128 } else { 0 };
        let required = estimate.saturating_add(developer_payment).saturating_add(input_hold);
        let attached = env::attached_deposit();
        if attached.as_yoctonear() < required {
            env::panic_str(&format!(
                "Attached deposit {} yoctoNEAR is less than the required {required} yoctoNEAR \
                 (estimated cost {estimate} + developer payment {developer_payment} + input storage {input_hold})",
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
        let payer = payer_account_id.unwrap_or_else(|| sender.clone());
        // A compile-only request always answers JSON (`{"wasm_sha256", "compile_time_ms"}`).
        let response_format = if compile_only { ResponseFormat::Json } else { response_format.unwrap_or_default() };
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
            code_source: None,
            input_data: None,
            input_data_in_state: false,
            params: RequestParams::default(),
        };
        self.requests.insert(request_id, request);
        let event_input = if input_data_in_state { String::new() } else { input_data.clone() };
        self.request_data.insert(request_id, RequestData { code_source: code_source.clone(), input_data, params: params.clone() });

        let request_data = json!({
            "request_id": request_id,
            "sender_id": sender,
            "predecessor_id": sender,
            "code_source": code_source,
            "resource_limits": limits,
            "input_data": event_input,
            "input_data_in_state": input_data_in_state,
            "secrets_ref": secrets_ref,
            "response_format": response_format,
            "payment": U128(attached.as_yoctonear()),
            "attached_usd": U128(attached_usd),
            "timestamp": env::block_timestamp(),
            "compile_only": compile_only,
            "force_rebuild": params.force_rebuild,
            "store_on_fastfs": params.store_on_fastfs,
            "use_bound_identity": params.use_bound_identity,
            "project_uuid": params.project_uuid,
            "project_id": source.project_id,
            // Ours, after OutLayer's fields.
            "signer_id": env::signer_account_id(),
            "payer_account_id": payer,
            "wasm_url": source.wasm_url,
            "wasm_sha256": source.wasm_sha256,
            "developer_payment": U128(developer_payment),
            "block_height": env::block_height(),
        });
        Event::ExecutionRequested { request_data: request_data.to_string(), data_id, timestamp: env::block_timestamp() }.emit();
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
            ExecutionSource::WasmUrl { url, hash, build_target } => {
                validate_url(&url);
                if let Some(target) = &build_target
                    && !crate::github::BUILD_TARGETS.contains(&target.as_str())
                {
                    env::panic_str(&format!("build_target must be one of {}", crate::github::BUILD_TARGETS.join(", ")));
                }
                ResolvedSource { project_id: None, project_owner: None, wasm_url: url, wasm_sha256: normalize_sha256(&hash) }
            }
            ExecutionSource::GitHub { repo, commit, build_target } => crate::github::resolve(&repo, &commit, build_target.as_deref()),
            ExecutionSource::Project { project_id, version_key } => {
                let project = self.projects.get(&project_id).unwrap_or_else(|| env::panic_str(&format!("Project {project_id} not found")));
                let wanted = match version_key {
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

    /// The yoctoNEAR value of `micro_usd` at the payment rate (rounded up); panics when an
    /// amount is asked for and no rate is set.
    pub(crate) fn usd_to_yocto(&self, micro_usd: u128) -> u128 {
        if micro_usd == 0 {
            return 0;
        }
        if self.payment_rate == 0 {
            env::panic_str("attached_usd needs a payment rate: the owner has not set one (set_payment_rate)");
        }
        micro_usd.saturating_mul(ONE_NEAR_YOCTO).div_ceil(self.payment_rate)
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

/// OutLayer's rule (plus the log limit): whether `input` is kept out of the event.
pub(crate) fn input_in_state(input: &str) -> bool {
    input.len() >= EVENT_INPUT_MAX_BYTES || escaped_twice_len(input) > EVENT_INPUT_MAX_ESCAPED_BYTES
}

/// Length of `input` once escaped in `request_data` (a JSON string inside a JSON string).
fn escaped_twice_len(input: &str) -> usize {
    let once = near_sdk::serde_json::to_string(input).unwrap_or_default();
    near_sdk::serde_json::to_string(&once).map_or(usize::MAX, |s| s.len())
}

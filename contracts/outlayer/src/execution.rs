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
    /// per_ms`) plus `params.developer_payment`, plus the compile cap for a `GitHub` source.
    /// Attach at least 50 TGas.
    ///
    /// `params.compile_only` (a `GitHub` source, no `resource_limits`, no `secrets_ref`) builds
    /// without running: only the compile cap is reserved, and the answer is the JSON output
    /// `{"wasm_sha256", "compile_time_ms"}`. `params.force_rebuild` (a `GitHub` source) has the
    /// builder rebuild a cached build.
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
        let params = params.unwrap_or_default();
        let compile_only = params.compile_only;
        if compile_only && resource_limits.is_some() {
            env::panic_str("A compile-only request runs nothing: it takes no resource_limits");
        }
        if compile_only && secrets_ref.is_some() {
            env::panic_str("A compile-only request runs nothing: it takes no secrets_ref");
        }
        let limits = if compile_only { ResolvedLimits::COMPILE_ONLY } else { resource_limits.unwrap_or_default().resolve() };
        if let Some(input) = &input {
            // Measured as it appears in the event log, where escaping can multiply its size.
            let escaped = near_sdk::serde_json::to_string(input).map_or(usize::MAX, |j| j.len() - 2);
            if escaped > MAX_INPUT_BYTES {
                env::panic_str(&format!("Input is {escaped} bytes once JSON-escaped; the limit is {MAX_INPUT_BYTES}"));
            }
        }
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
        let developer_payment = params.developer_payment.map_or(0, |p| p.0);
        if developer_payment > 0 && source.project_owner.is_none() {
            env::panic_str("A developer payment needs a project source");
        }
        let compile_cap = if git { self.pricing.compile_cost(crate::pricing::COMPILE_MS_CAP) } else { 0 };
        // A compile-only request reserves the compile charge alone: nothing runs.
        let estimate = if compile_only { compile_cap } else { self.pricing.estimate(&limits).saturating_add(compile_cap) };
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
            compile_only,
            force_rebuild: params.force_rebuild,
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

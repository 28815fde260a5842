//! # Example: calling OutLayer from a NEAR contract
//!
//! [`Caller::run`] forwards the attached deposit to `request_execution` on the OutLayer
//! contract, naming the user as `payer_account_id` (so OutLayer refunds the unused part straight
//! to them), and chains [`Caller::on_outlayer_result`], which receives the output once a worker
//! resolved the request (`null` if it failed or the yield timed out) and records it.
//!
//! It is an OutLayer v0.1 client: it defines the JSON shapes of OutLayer's published interface
//! itself ([`outlayer_api`]) instead of depending on the OutLayer crate, as a contract written
//! for OutLayer does, and it runs unchanged against this contract.

mod outlayer_api;

use near_sdk::serde_json::Value;
use near_sdk::store::IterableMap;
use near_sdk::{AccountId, BorshStorageKey, Gas, NearToken, PanicOnDefault, Promise, PromiseError, env, near};

pub use outlayer_api::{ExecutionSource, RequestParams, ResourceLimits, ResponseFormat, SecretsRef, ext_outlayer, output_text};

/// Gas given to OutLayer's `request_execution` (it reserves 30 TGas for its yield callback).
pub const REQUEST_TGAS: u64 = 100;
/// Gas for our own callback.
pub const CALLBACK_TGAS: u64 = 15;

/// Prefixes of the contract's collections.
#[near(serializers = [borsh])]
#[derive(BorshStorageKey)]
pub enum StorageKey {
    /// [`Caller::jobs`].
    Jobs,
}

/// State of one job.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for OutLayer.
    Pending,
    /// Finished; `output` is the guest's output as text (JSON text for JSON outputs, base64
    /// for bytes: what OutLayer returns, see [`output_text`]).
    Done {
        /// The output.
        output: String,
    },
    /// Failed or timed out (OutLayer's `execution_completed` event says why), or the call to
    /// OutLayer itself failed.
    Failed {
        /// Why.
        error: String,
    },
}

/// A job started by [`Caller::run`].
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The user who paid.
    pub requester: AccountId,
    /// What was sent to the guest.
    pub input: String,
    /// Deposit forwarded to OutLayer.
    pub deposit: NearToken,
    /// Current state.
    pub status: JobStatus,
}

/// The example contract.
#[near(contract_state)]
#[derive(PanicOnDefault)]
pub struct Caller {
    /// The OutLayer contract.
    outlayer: AccountId,
    /// The project every job runs (`owner/name`).
    project_id: String,
    /// Id of the next job.
    next_job_id: u64,
    /// Jobs by id.
    jobs: IterableMap<u64, Job>,
}

#[near]
impl Caller {
    /// Creates the example for OutLayer contract `outlayer` and project `project_id`.
    #[init]
    pub fn new(outlayer: AccountId, project_id: String) -> Self {
        Self { outlayer, project_id, next_job_id: 0, jobs: IterableMap::new(StorageKey::Jobs) }
    }

    /// Runs the project with `input`. Attach OutLayer's estimate (see its `estimate_cost`
    /// view) and at least 150 TGas. Returns the job id; the transaction's final result is the
    /// output (or `null` on failure).
    #[payable]
    pub fn run(&mut self, input: String) -> Promise {
        let deposit = env::attached_deposit();
        if deposit.is_zero() {
            env::panic_str("Attach a deposit for OutLayer's execution fee");
        }
        let requester = env::predecessor_account_id();
        let job_id = self.next_job_id;
        self.next_job_id += 1;
        self.jobs.insert(job_id, Job { requester: requester.clone(), input: input.clone(), deposit, status: JobStatus::Pending });
        ext_outlayer::ext(self.outlayer.clone())
            .with_attached_deposit(deposit)
            .with_static_gas(Gas::from_tgas(REQUEST_TGAS))
            .request_execution(
                ExecutionSource::Project { project_id: self.project_id.clone(), version_key: None },
                None,
                Some(input),
                None,
                Some(ResponseFormat::Text),
                Some(requester),
                None,
            )
            .then(Self::ext(env::current_account_id()).with_static_gas(Gas::from_tgas(CALLBACK_TGAS)).on_outlayer_result(job_id))
    }

    /// OutLayer's answer for `job_id`: the output, or `null` when the execution failed or timed
    /// out (already refunded by OutLayer, minus its fee). On success stores and returns the
    /// output; on failure records it. If the call to OutLayer itself failed (e.g. the deposit
    /// was below its estimate) the deposit came back to this contract and is returned to the
    /// user.
    #[private]
    pub fn on_outlayer_result(&mut self, job_id: u64, #[callback_result] result: Result<Option<Value>, PromiseError>) -> Option<String> {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            env::log_str(&format!("Unknown job {job_id}"));
            return None;
        };
        match result {
            Ok(Some(output)) => {
                let output = output_text(output);
                job.status = JobStatus::Done { output: output.clone() };
                Some(output)
            }
            Ok(None) => {
                job.status =
                    JobStatus::Failed { error: "the execution failed or timed out (see OutLayer's execution_completed event)".into() };
                None
            }
            Err(_) => {
                job.status = JobStatus::Failed { error: "OutLayer call failed; deposit returned".into() };
                Promise::new(job.requester.clone()).transfer(job.deposit).detach();
                None
            }
        }
    }

    /// A job.
    pub fn get_job(&self, job_id: u64) -> Option<Job> {
        self.jobs.get(&job_id).cloned()
    }
}

#[cfg(test)]
mod tests;

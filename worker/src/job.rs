//! Translating between the protocol's job/result and the host's request/report: the one place
//! where a leased job becomes an execution, whichever source it came from.

use outlayer_host::caps::payment::PaymentGrant;
use outlayer_host::{ExecutionReport, ExecutionRequest, GrantError, Grants, Limits};
use outlayer_protocol::secrets::{JobProof, ReleasedKeys};
use outlayer_protocol::{Capability, ExecutionResult, Job};
use outlayer_storage::EncryptedStorage;
use std::sync::Arc;

use crate::Backends;

/// Bytes of stderr reported with a result (the log tail shown as a failed call's message).
pub const STDERR_TAIL_BYTES: usize = 4096;

/// Why a job cannot be run as given.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job's limits are outside the host's caps.
    #[error("limits: {0}")]
    Limits(#[from] outlayer_host::limits::LimitError),
    /// The grants could not be built.
    #[error("grants: {0}")]
    Grants(#[from] GrantError),
    /// The keystore's keys are unusable.
    #[error("{0}")]
    Keys(#[from] crate::keys::KeysError),
}

/// Whether a job proved by `proof` cannot run without the keystore (it reads secrets). An
/// on-chain proof says nothing by itself: the near source refuses such requests itself.
pub fn needs_secrets(proof: &JobProof) -> bool {
    matches!(proof, JobProof::Ticket(t) if t.ticket.secrets.is_some())
}

/// The host request for a leased job: its limits (the output capped at what the receiver of the
/// result accepts), its grants drawn from this worker's backends, its context. With `keys`
/// from the keystore, storage is the project's (encrypted with its key) and the secrets are
/// the job's.
pub fn request(job: &Job, backends: &Backends, keys: Option<&ReleasedKeys>) -> Result<ExecutionRequest, JobError> {
    let mut limits = Limits::from(job.limits);
    limits.max_stdout_bytes = limits.max_stdout_bytes.min(job.max_output_bytes);
    limits.validate()?;
    // Only what this worker has a backend for: the rest stays ungranted, so the guest's calls
    // are denied (and reported) rather than the whole job refused.
    let granted = job.grants.iter().copied();
    let payment = PaymentGrant { currency: job.context.kind.currency(), attached: job.attached_deposit, budget: 0 };
    let with_keys_caps;
    let caps = match keys {
        Some(keys) => {
            with_keys_caps = with_keys(&backends.caps, backends.project_storage.as_ref(), keys)?;
            &with_keys_caps
        }
        None => &backends.caps,
    };
    let granted: Vec<Capability> = granted.filter(|c| caps.serves(*c)).collect();
    let grants = Grants::build(&granted, caps, payment)?.allow_http(&job.http_allowlist)?;
    let mut context = job.context.clone();
    if let Some(project) = context.project.as_mut() {
        project.id = project_storage_id(project);
    }
    Ok(ExecutionRequest { input: job.input.clone().into_bytes(), limits, grants, context })
}

/// The id a project's storage is kept under, on both paths: `owner/name` (the on-chain path's
/// project id, and the `project:{owner}/{name}` the keystore derives the storage key for), so a
/// chain call and an HTTPS call of one project read and write the same scopes. The HTTPS path's
/// jobs carry the coordinator's row id (a UUID) instead; it becomes `owner/name` here, and so
/// does the guest's `OUTLAYER_PROJECT_UUID`, as on chain. A reference without an owner or name
/// keeps its id.
pub fn project_storage_id(project: &outlayer_protocol::ProjectRef) -> String {
    if project.owner.is_empty() || project.name.is_empty() {
        return project.id.clone();
    }
    format!("{}/{}", project.owner, project.name)
}

/// `caps` with the job's secrets and its project's storage (over `storage`, encrypted with the
/// released key; values sealed under the legacy key stay readable).
fn with_keys(
    caps: &outlayer_host::Backends,
    storage: Option<&crate::ProjectStorage>,
    keys: &ReleasedKeys,
) -> Result<outlayer_host::Backends, JobError> {
    let mut caps = caps.clone();
    caps.secrets = Some(Arc::new(keys.secrets.clone().unwrap_or_default()));
    if let Some(storage) = storage {
        let mut encrypted = EncryptedStorage::new(storage.inner.clone(), *crate::keys::storage_key(keys)?);
        if let Some(old) = &storage.legacy_key {
            encrypted = encrypted.with_legacy_key(*old);
        }
        caps.storage = Some(Arc::new(encrypted));
    }
    Ok(caps)
}

/// What to report for a host report: the output only of a successful run (a failed execution's
/// partial output is not a result), the stderr tail (or the outcome's own message) as the log.
pub fn result(report: ExecutionReport) -> ExecutionResult {
    let mut tail = tail(&report.stderr);
    if tail.is_empty()
        && let Some(message) = report.outcome.message()
    {
        tail = message.to_owned();
    }
    let ok = report.outcome.is_ok();
    ExecutionResult {
        output: if ok { report.output } else { Vec::new() },
        stderr_tail: (!tail.is_empty()).then_some(tail),
        instructions: report.instructions,
        wall_ms: report.wall.as_millis() as u64,
        peak_memory_bytes: report.peak_memory_bytes,
        refund: report.refund.unwrap_or(0),
        http: (!report.host_calls.http.is_idle()).then(|| report.host_calls.http.clone()),
        outcome: report.outcome,
    }
}

/// The last [`STDERR_TAIL_BYTES`] of stderr, as text.
fn tail(stderr: &[u8]) -> String {
    let start = stderr.len().saturating_sub(STDERR_TAIL_BYTES);
    String::from_utf8_lossy(&stderr[start..]).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use outlayer_protocol::{ExecutionKind, JobContext, ProjectRef};

    /// A job of project `alice.near/app` whose reference carries `id`, as `kind` leases it.
    fn job(kind: ExecutionKind, id: &str) -> Job {
        Job {
            call_id: "c".into(),
            lease_id: "l".into(),
            lease_expires_at_ms: 0,
            wasm_sha256: "00".repeat(32),
            input: String::new(),
            limits: Default::default(),
            max_output_bytes: 1024,
            grants: vec![],
            http_allowlist: vec![],
            attached_deposit: 0,
            context: JobContext {
                kind,
                project: Some(ProjectRef { owner: "alice.near".into(), name: "app".into(), id: id.into() }),
                ..JobContext::default()
            },
            keys: None,
            settles_writes: false,
        }
    }

    #[test]
    fn both_paths_name_a_projects_storage_owner_slash_name() {
        let backends = Backends::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        // The coordinator's job carries its row id (a UUID); the chain's carries owner/name.
        let https = request(&job(ExecutionKind::Https, "5f0c7f4e-3a52-4c1b-9d57-0d1f2b8f3c11"), &backends, None).unwrap();
        let chain = request(&job(ExecutionKind::Near, "alice.near/app"), &backends, None).unwrap();
        let id = |r: &ExecutionRequest| r.context.project.as_ref().unwrap().id.clone();
        assert_eq!(id(&https), "alice.near/app");
        assert_eq!(id(&chain), "alice.near/app");
        let home = |r: &ExecutionRequest| outlayer_host::context::storage_home(&r.context, "00");
        assert_eq!(home(&https), home(&chain), "one storage scope for the project on both paths");
        // A reference without an owner keeps what it has.
        let bare = ProjectRef { owner: String::new(), name: "app".into(), id: "x/app".into() };
        assert_eq!(project_storage_id(&bare), "x/app");
    }
}

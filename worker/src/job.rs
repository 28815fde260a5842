//! Translating between the protocol's job/result and the host's request/report: the one place
//! where a leased job becomes an execution, whichever source it came from.

use outlayer_host::caps::payment::PaymentGrant;
use outlayer_host::{ExecutionReport, ExecutionRequest, GrantError, Grants, Limits};
use outlayer_protocol::secrets::{JobProof, ReleasedKeys};
use outlayer_protocol::{Capability, ExecutionResult, Job};
use outlayer_storage::{EncryptedStorage, StagedStorage, StorageBackend};
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

/// The storage stage of one execution: the guest's writes, held until its result is accepted,
/// and the store they are committed to.
#[derive(Clone)]
pub struct Stage {
    /// The writes (ciphertexts when the project's storage is encrypted).
    pub staged: StagedStorage,
    /// The store the stage reads through to, where the writes are committed.
    pub store: Arc<dyn StorageBackend>,
}

/// The host request for a leased job: its limits (the output capped at what the receiver of the
/// result accepts), its grants drawn from this worker's backends, its context. With `keys`
/// from the keystore, storage is the project's (encrypted with its key) and the secrets are
/// the job's. Storage writes go straight to the store: for runs that settle nothing (tests);
/// the worker runs jobs with [`staged_request`].
pub fn request(job: &Job, backends: &Backends, keys: Option<&ReleasedKeys>) -> Result<ExecutionRequest, JobError> {
    Ok(build(job, backends, keys, false)?.0)
}

/// [`request`], with the guest's storage writes kept in a [`Stage`] (returned when the job may
/// use storage) instead of written: they take effect when committed with the result.
pub fn staged_request(job: &Job, backends: &Backends, keys: Option<&ReleasedKeys>) -> Result<(ExecutionRequest, Option<Stage>), JobError> {
    build(job, backends, keys, true)
}

fn build(job: &Job, backends: &Backends, keys: Option<&ReleasedKeys>, staged: bool) -> Result<(ExecutionRequest, Option<Stage>), JobError> {
    let mut limits = Limits::from(job.limits);
    limits.max_stdout_bytes = limits.max_stdout_bytes.min(job.max_output_bytes);
    limits.validate()?;
    let payment = PaymentGrant { currency: job.context.kind.currency(), attached: job.attached_deposit, budget: 0 };
    let mut caps = backends.caps.clone();
    if let Some(keys) = keys {
        caps.secrets = Some(Arc::new(keys.secrets.clone().unwrap_or_default()));
    }
    let wants_storage = job.grants.contains(&Capability::Storage);
    let (storage, stage) = if wants_storage { storage(backends, keys, staged)? } else { (None, None) };
    caps.storage = storage;
    // Only what this worker has a backend for: the rest stays ungranted, so the guest's calls
    // are denied (and reported) rather than the whole job refused.
    let granted: Vec<Capability> = job.grants.iter().copied().filter(|c| caps.serves(*c)).collect();
    let grants = Grants::build(&granted, &caps, payment)?.allow_http(&job.http_allowlist)?;
    let mut context = job.context.clone();
    if let Some(project) = context.project.as_mut() {
        project.id = project_storage_id(project);
    }
    Ok((ExecutionRequest { input: job.input.clone().into_bytes(), limits, grants, context }, stage))
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

/// The store a guest's storage capability talks to.
type GuestStore = Arc<dyn StorageBackend>;

/// The storage a job's guest sees, and its stage when `staged`: the project's store encrypted
/// with the keystore's key for it (values sealed under the legacy key stay readable), or with
/// this worker's operator key without a keystore; a plain store as configured. The stage always
/// sits under the encryption, so a write set holds ciphertexts only.
fn storage(backends: &Backends, keys: Option<&ReleasedKeys>, staged: bool) -> Result<(Option<GuestStore>, Option<Stage>), JobError> {
    let stage_over = |store: &Arc<dyn StorageBackend>| -> (Arc<dyn StorageBackend>, Option<Stage>) {
        if staged {
            let stage = Stage { staged: StagedStorage::new(store.clone()), store: store.clone() };
            (Arc::new(stage.staged.clone()), Some(stage))
        } else {
            (store.clone(), None)
        }
    };
    if let Some(project) = &backends.project_storage {
        let key = match keys {
            Some(keys) => *crate::keys::storage_key(keys)?,
            None => match project.operator_key {
                Some(key) => key,
                // A keystore worker without the job's keys has no key to read the project's data.
                None => return Ok((None, None)),
            },
        };
        let (base, stage) = stage_over(&project.inner);
        let mut encrypted = EncryptedStorage::new(base, key);
        if let Some(old) = &project.legacy_key {
            encrypted = encrypted.with_legacy_key(*old);
        }
        return Ok((Some(Arc::new(encrypted)), stage));
    }
    Ok(match &backends.caps.storage {
        Some(plain) => {
            let (store, stage) = stage_over(plain);
            (Some(store), stage)
        }
        None => (None, None),
    })
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

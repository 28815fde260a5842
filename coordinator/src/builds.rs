//! Builds from source: asking for one (a project version from `POST
//! /projects/{owner}/{name}/versions` with a JSON `source`, or a chain build from `POST /builds`),
//! leasing them to builders, recording their reports, and the in-process
//! [`EmbeddedBuildSource`] `outlayer serve` hands its builder.
//!
//! A builder is trusted for what it reports: the coordinator checks that the wasm hashes to the
//! reported sha256 and has a wasm header, and nothing else (see docs/builder.md). A successful
//! project build adds the wasm as a version exactly like an upload (active when the project has
//! none), then marks the build succeeded, so a succeeded build's version always exists.

use std::time::Duration;

use outlayer_protocol::build::{
    BuildErrorCode, BuildFailure, BuildFuture, BuildJob, BuildReport, BuildSource, BuildStatus, BuildView, GitSource,
};
use outlayer_protocol::receipt::sha256_hex;

use crate::db::ProjectRow;
use crate::db::builds::{BuildOutcome, BuildRow};
use crate::error::ApiError;
use crate::limits::looks_like_wasm;
use crate::notify::Hub;
use crate::state::{AppState, now_ms};

/// How long a builder holds a build before it may be leased again: above the builder's default
/// 600 s build limit plus the report upload.
pub const BUILD_LEASE: Duration = Duration::from_secs(900);
/// Leases a build gets before it fails with `internal` (a build that kills every builder).
pub const MAX_BUILD_ATTEMPTS: i64 = 2;
/// How often a long-polling builder re-reads the queue.
pub const BUILD_RECHECK_INTERVAL: Duration = Duration::from_millis(250);
/// Longest long poll of `POST /builder/lease`.
pub const MAX_BUILD_LEASE_WAIT: Duration = Duration::from_secs(30);

/// The wire view of a build row.
pub fn view(row: &BuildRow) -> BuildView {
    let status = BuildStatus::parse(&row.status).unwrap_or(BuildStatus::Failed);
    let error = row.error_code.as_deref().map(|code| BuildFailure {
        code: BuildErrorCode::parse(code).unwrap_or(BuildErrorCode::Internal),
        message: row.error_message.clone().unwrap_or_default(),
    });
    BuildView {
        id: row.id.clone(),
        project: row.project_owner.as_ref().zip(row.project_name.as_ref()).map(|(o, n)| format!("{o}/{n}")),
        source: source_of(row),
        force_rebuild: row.force_rebuild,
        status,
        wasm_sha256: row.wasm_sha256.clone(),
        toolchain: row.toolchain.clone(),
        cache_hit: row.cache_hit,
        reproducible: row.reproducible,
        previous_sha256: row.previous_sha256.clone(),
        error,
        log: row.log.clone(),
        duration_ms: row.duration_ms.map(|d| d.max(0) as u64),
        created_at_ms: row.created_ms,
        finished_at_ms: row.finished_ms,
    }
}

fn source_of(row: &BuildRow) -> GitSource {
    GitSource {
        git: row.git.clone(),
        commit: row.commit.clone(),
        path: row.path.clone(),
        build_target: row.build_target.parse().unwrap_or_default(),
    }
}

impl AppState {
    /// Queues a build of `source` (validated here: 400 `invalid_source`) for `project` (`None`:
    /// a chain build whose wasm is served by `GET /builds/{id}/wasm`).
    pub async fn request_build(&self, project: Option<&ProjectRow>, source: GitSource, force_rebuild: bool) -> Result<BuildRow, ApiError> {
        let source = source.validate().map_err(|e| ApiError::bad_request("invalid_source", e.to_string()))?;
        let row = BuildRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.map(|p| p.id.clone()),
            project_owner: project.map(|p| p.owner.clone()),
            project_name: project.map(|p| p.name.clone()),
            git: source.git,
            commit: source.commit,
            path: source.path,
            build_target: source.build_target.triple().to_owned(),
            force_rebuild,
            status: BuildStatus::Queued.as_str().to_owned(),
            lease_expires_ms: None,
            attempts: 0,
            wasm_sha256: None,
            toolchain: None,
            cache_hit: false,
            reproducible: None,
            previous_sha256: None,
            error_code: None,
            error_message: None,
            log: String::new(),
            duration_ms: None,
            created_ms: now_ms(),
            finished_ms: None,
        };
        self.db.create_build(&row).await?;
        tracing::info!(build_id = %row.id, git = %row.git, commit = %row.commit, "build queued");
        Ok(row)
    }

    /// The build `id` or 404 `build_not_found`.
    pub async fn find_build(&self, id: &str) -> Result<BuildRow, ApiError> {
        self.db.build(id).await?.ok_or_else(|| ApiError::not_found("build_not_found", format!("no build {id}")))
    }

    /// Leases the oldest queued build, waiting up to `wait` (capped at [`MAX_BUILD_LEASE_WAIT`])
    /// for one; `None` when none came or shutdown began.
    pub async fn lease_build(&self, wait: Duration) -> Result<Option<BuildJob>, ApiError> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_BUILD_LEASE_WAIT);
        let stop = self.hub.shutdown_signal();
        loop {
            let now = now_ms();
            if let Some(row) = self.db.lease_build(now, now + BUILD_LEASE.as_millis() as i64, MAX_BUILD_ATTEMPTS).await? {
                let force_rebuild = row.force_rebuild;
                return Ok(Some(BuildJob { build_id: row.id.clone(), source: source_of(&row), force_rebuild }));
            }
            if tokio::time::Instant::now() >= deadline || *stop.borrow() {
                return Ok(None);
            }
            tokio::select! {
                _ = tokio::time::sleep(BUILD_RECHECK_INTERVAL) => {}
                _ = Hub::until_shutdown(stop.clone()) => return Ok(None),
            }
        }
    }

    /// Records a builder's report: 404 `build_not_found`, 409 `build_not_running` when it is
    /// already finished (or was never leased), 400 `invalid_build_report` when the wasm does not
    /// hash to its sha256 or is not wasm. A success of a project build adds the version first.
    pub async fn complete_build(&self, report: &BuildReport) -> Result<BuildRow, ApiError> {
        let row = self.find_build(&report.build_id).await?;
        if row.status != BuildStatus::Running.as_str() {
            return Err(ApiError::conflict("build_not_running", format!("build {} is {}", row.id, row.status)));
        }
        let now = now_ms();
        let outcome = match &report.result {
            Ok(built) => {
                if sha256_hex(&built.wasm) != built.wasm_sha256 || !looks_like_wasm(&built.wasm) {
                    return Err(ApiError::bad_request("invalid_build_report", "the wasm does not hash to wasm_sha256, or is not wasm"));
                }
                match &row.project_id {
                    Some(project_id) => {
                        self.db.add_version(project_id, &built.wasm_sha256, &built.wasm, now).await?;
                        let project =
                            self.db.project(row.project_owner.as_deref().unwrap_or(""), row.project_name.as_deref().unwrap_or("")).await?;
                        if project.is_some_and(|p| p.active_version.is_none()) {
                            self.db.set_active(project_id, &built.wasm_sha256).await?;
                        }
                    }
                    None => self.db.put_wasm(&built.wasm_sha256, &built.wasm, now).await?,
                }
                BuildOutcome {
                    status: BuildStatus::Succeeded.as_str().to_owned(),
                    wasm_sha256: Some(built.wasm_sha256.clone()),
                    toolchain: Some(built.toolchain.clone()),
                    cache_hit: built.cache_hit,
                    reproducible: built.reproducible,
                    previous_sha256: built.previous_sha256.clone(),
                    error_code: None,
                    error_message: None,
                    log: report.log.clone(),
                    duration_ms: report.duration_ms as i64,
                    finished_ms: now,
                }
            }
            Err(failure) => BuildOutcome {
                status: BuildStatus::Failed.as_str().to_owned(),
                wasm_sha256: None,
                toolchain: None,
                cache_hit: false,
                reproducible: None,
                previous_sha256: None,
                error_code: Some(failure.code.as_str().to_owned()),
                error_message: Some(failure.message.clone()),
                log: report.log.clone(),
                duration_ms: report.duration_ms as i64,
                finished_ms: now,
            },
        };
        let finished = self
            .db
            .finish_build(&row.id, &outcome)
            .await?
            .ok_or_else(|| ApiError::conflict("build_not_running", format!("build {} finished meanwhile", row.id)))?;
        tracing::info!(build_id = %finished.id, status = %finished.status, sha256 = ?finished.wasm_sha256, "build finished");
        Ok(finished)
    }
}

/// The coordinator of this process as a builder's [`BuildSource`] (`outlayer serve`): the same
/// calls as the HTTP builder API, without the loopback hop or a token.
#[derive(Clone)]
pub struct EmbeddedBuildSource {
    state: AppState,
}

impl EmbeddedBuildSource {
    /// A source on `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

fn source_error(e: ApiError) -> outlayer_protocol::SourceError {
    outlayer_protocol::SourceError(format!("{}: {}", e.code, e.message))
}

impl BuildSource for EmbeddedBuildSource {
    fn lease(&self, wait: Duration) -> BuildFuture<'_, Option<BuildJob>> {
        Box::pin(async move { self.state.lease_build(wait).await.map_err(source_error) })
    }
    fn complete<'a>(&'a self, report: &'a BuildReport) -> BuildFuture<'a, ()> {
        Box::pin(async move { self.state.complete_build(report).await.map(|_| ()).map_err(source_error) })
    }
}

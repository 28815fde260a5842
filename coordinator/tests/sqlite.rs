//! End-to-end tests on the SQLite backend (a temp file, in-process wake-ups).

mod common;

use anyhow::Result;
use common::scenarios;

fn config() -> (tempfile::TempDir, outlayer_coordinator::CoordinatorConfig) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::sqlite_config(&dir);
    (dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_end_to_end() -> Result<()> {
    let (_dir, c) = config();
    scenarios::end_to_end(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_error_codes() -> Result<()> {
    let (_dir, c) = config();
    scenarios::error_codes(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rate_limit_in_process() -> Result<()> {
    let (_dir, c) = config();
    scenarios::rate_limit(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_200_concurrent_calls_keep_the_ledger() -> Result<()> {
    let (_dir, c) = config();
    scenarios::concurrent_calls(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_expired_lease_goes_to_another_worker_once() -> Result<()> {
    let (_dir, c) = config();
    scenarios::lease_expiry(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_bad_signature_is_refused() -> Result<()> {
    let (_dir, c) = config();
    scenarios::bad_signature(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_exhausted_job_fails_with_worker_lost() -> Result<()> {
    let (_dir, c) = config();
    scenarios::worker_lost(c).await
}

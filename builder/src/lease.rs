//! The builder's loop: lease a build from a [`BuildSource`], build it, report it; again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use outlayer_protocol::build::BuildSource;

use crate::builder::Builder;

/// How long one lease request waits on the coordinator.
pub const LEASE_WAIT: Duration = Duration::from_secs(20);
/// Pause after a failed exchange with the source.
pub const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// Leases and runs builds one at a time until `shutdown` resolves (a build in progress is
/// abandoned; its lease expires and it is leased again).
pub async fn run_builder(source: Arc<dyn BuildSource>, builder: Arc<Builder>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let step = async {
            match source.lease(LEASE_WAIT).await {
                Ok(Some(job)) => {
                    tracing::info!(build_id = %job.build_id, git = %job.source.git, commit = %job.source.commit, "build leased");
                    let report = builder.build(&job).await;
                    if let Err(e) = source.complete(&report).await {
                        tracing::warn!(build_id = %job.build_id, error = %e, "reporting a build failed");
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "leasing a build failed");
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = step => {}
        }
    }
}

//! `outlayer conformance [--host URL] [--cases DIR]`: the arguments and the command.
//!
//! Wire into the `outlayer` binary with a subcommand holding [`ConformanceArgs`] whose handler
//! calls [`main`] and exits with the code it returns.

use crate::host::ConformanceHost;
use crate::{ConformanceError, HttpHost, InProcessHost, default_cases_dir, run_all};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run the conformance suite against a host and print a pass/fail table.
#[derive(Debug, Clone, clap::Args)]
pub struct ConformanceArgs {
    /// Base URL of a running worker exposing `POST /conformance/run`; without it, the suite runs
    /// against the host built into this binary.
    #[arg(long, env = "OUTLAYER_CONFORMANCE_HOST")]
    pub host: Option<String>,
    /// Folder of cases (one sub-folder with a `case.toml` per case).
    #[arg(long, default_value_os_t = default_cases_dir())]
    pub cases: PathBuf,
}

/// Run the suite as `args` say, print the table to stdout, and return success only when every
/// case passed.
pub async fn main(args: ConformanceArgs) -> Result<ExitCode, ConformanceError> {
    let host: Box<dyn ConformanceHost> = match &args.host {
        Some(url) => Box::new(HttpHost::new(url)),
        None => Box::new(InProcessHost::new()?),
    };
    let report = run_all(host.as_ref(), &args.cases).await?;
    print!("{report}");
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// [`main`] for a synchronous caller (the `outlayer` binary's `main`): runs it on a new tokio
/// runtime.
pub fn main_blocking(args: ConformanceArgs) -> Result<ExitCode, ConformanceError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ConformanceError::Node)?;
    runtime.block_on(main(args))
}

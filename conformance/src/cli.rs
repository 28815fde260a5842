//! `outlayer conformance [--host URL] [--cases DIR] [--guests DIR]`: the arguments and the
//! command.
//!
//! Wire into the `outlayer` binary with a subcommand holding [`ConformanceArgs`] whose handler
//! calls [`main`] and exits with the code it returns.
//!
//! The binary carries neither the cases nor the guests: `--cases` and `--guests` name them, and
//! each one not given comes from the checkout of this repository around the current directory
//! (or around the binary): its `conformance/cases`, and its guests built on demand
//! ([`crate::guests::build_in_checkout`]).

use crate::guests::{build_in_checkout, checkout_cases, find_checkout};
use crate::host::ConformanceHost;
use crate::{ConformanceError, HttpHost, InProcessHost, run_all};
use std::path::PathBuf;
use std::process::ExitCode;

/// Run the conformance suite against a host and print a pass/fail table.
#[derive(Debug, Clone, clap::Args)]
pub struct ConformanceArgs {
    /// Base URL of a running worker exposing `POST /conformance/run`; without it, the suite runs
    /// against the host built into this binary.
    #[arg(long, env = "OUTLAYER_CONFORMANCE_HOST")]
    pub host: Option<String>,
    /// Folder of cases (one sub-folder with a `case.toml` per case) [default: conformance/cases
    /// of the checkout around the current directory].
    #[arg(long, env = "OUTLAYER_CONFORMANCE_CASES")]
    pub cases: Option<PathBuf>,
    /// Directory of built guests, one `<name>.wasm` per guest the cases name [default: build
    /// the guests of the checkout around the current directory, adding the wasm targets with
    /// rustup when missing].
    #[arg(long, env = "OUTLAYER_CONFORMANCE_GUESTS")]
    pub guests: Option<PathBuf>,
}

/// Run the suite as `args` say, print the table to stdout, and return success only when every
/// case passed.
pub async fn main(args: ConformanceArgs) -> Result<ExitCode, ConformanceError> {
    let checkout = match (&args.cases, &args.guests) {
        (Some(_), Some(_)) => None,
        _ => find_checkout(),
    };
    let cases = match (args.cases, &checkout) {
        (Some(dir), _) => dir,
        (None, Some(root)) => checkout_cases(root),
        (None, None) => return Err(ConformanceError::NoCheckout),
    };
    let guests = match (args.guests, &checkout) {
        (Some(dir), _) => dir,
        // Blocks on cargo (minutes the first time): nothing else runs on the runtime yet.
        (None, Some(root)) => build_in_checkout(root)?,
        (None, None) => return Err(ConformanceError::NoCheckout),
    };
    let host: Box<dyn ConformanceHost> = match &args.host {
        Some(url) => Box::new(HttpHost::new(url)),
        None => Box::new(InProcessHost::new()?),
    };
    let report = run_all(host.as_ref(), &cases, &guests).await?;
    print!("{report}");
    Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// [`main`] for a synchronous caller (the `outlayer` binary's `main`): runs it on a new tokio
/// runtime.
pub fn main_blocking(args: ConformanceArgs) -> Result<ExitCode, ConformanceError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ConformanceError::Node)?;
    runtime.block_on(main(args))
}

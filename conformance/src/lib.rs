//! The OutLayer conformance suite: what any OutLayer host must do, as data.
//!
//! Each folder of `cases/` is one case: a `case.toml` naming a guest, its input, context, grants
//! and limits, and the result a user must observe (outcome, output, stderr, numbers). The format
//! is described in `conformance/README.md`. Hosts plug in through [`ConformanceHost`]: this crate
//! ships [`InProcessHost`] (the `outlayer-host` runtime in this process) and [`HttpHost`] (a
//! worker reached over HTTP at `POST {url}/conformance/run`, see [`wire`] and [`server`]).
//!
//! Guests are read at run time from a directory of built `.wasm` files ([`guests`]): this crate
//! does not build them. Its tests take the directory from `outlayer-guest-artifacts` (a
//! dev-dependency, which builds them); `outlayer conformance` takes `--guests DIR` or builds them
//! in the checkout it runs in ([`guest_build`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), outlayer_conformance::ConformanceError> {
//! use outlayer_conformance::{InProcessHost, default_cases_dir, run_all};
//! use std::path::Path;
//! let host = InProcessHost::new()?;
//! let guests = Path::new("target/guests/wasm"); // <name>.wasm for each guest the cases name
//! let report = run_all(&host, &default_cases_dir(), guests).await?;
//! println!("{report}");
//! assert_eq!(report.failed(), 0);
//! # Ok(()) }
//! ```
//!
//! `cargo test -p outlayer-conformance` runs every case against [`InProcessHost`], one test per
//! folder, and the whole suite once more through [`HttpHost`] against [`server::router`].

#![warn(missing_docs)]

pub mod case;
pub mod check;
pub mod cli;
pub mod guest_build;
pub mod guests;
pub mod host;
pub mod http;
pub mod http_server;
pub mod inprocess;
pub mod node;
pub mod report;
pub mod runner;
pub mod server;
pub mod wire;

pub use case::{Case, CaseError};
pub use cli::ConformanceArgs;
pub use host::{ConformanceHost, HostFailure};
pub use http::HttpHost;
pub use inprocess::InProcessHost;
pub use report::{CaseOutcome, Report};
pub use runner::{RunEnv, run_all, run_case};
pub use wire::{CaseRequest, CaseResult, GrantsSpec};

use std::path::PathBuf;

/// Why the suite could not run at all (individual case failures are in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The cases folder could not be read.
    #[error("cannot read cases from {path}: {source}")]
    Cases {
        /// The folder.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The in-process host could not start.
    #[error("cannot start the in-process host: {0}")]
    Host(#[from] outlayer_host::HostError),
    /// The tokio runtime or the recorded NEAR RPC node could not start.
    #[error("cannot start the suite's runtime or recorded NEAR RPC node: {0}")]
    Node(std::io::Error),
    /// The guests directory given does not exist.
    #[error("{0} is not a directory of built guests (<name>.wasm files)")]
    GuestsDir(PathBuf),
    /// `--guests` or `--cases` was not given, and there is no checkout to take them from.
    #[error(
        "not inside a checkout of the OutLayer repository: pass --guests DIR (built guest .wasm files) and --cases DIR (case folders), or run `outlayer conformance` in a checkout, which builds the guests"
    )]
    NoCheckout,
    /// Building the guests in the checkout failed (the source says why).
    #[error("cannot build the guests of this checkout (--guests DIR takes built ones)")]
    GuestBuild(#[from] guest_build::GuestBuildError),
}

/// The cases in this crate's source folder (`conformance/cases`), for tests and tools built in
/// this repository. The `outlayer` binary does not use it: it finds the cases of the checkout it
/// runs in (see [`guests::find_checkout`]) or takes `--cases`.
pub fn default_cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases")
}

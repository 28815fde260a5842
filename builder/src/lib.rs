//! # outlayer-builder
//!
//! Turns a git repository at a commit into a wasm component, outside the TEE: the builder is its
//! own process (`outlayer builder`), never the worker that holds secrets. It leases build jobs
//! from the coordinator ([`outlayer_protocol::build::BuildSource`]) like a worker leases calls,
//! builds each in a bubblewrap sandbox with the pinned toolchain, and reports the wasm, its
//! sha256, the log and the duration. Results are content-addressed by (repository, commit, path,
//! target, toolchain): a repeated build is a cache hit; `force_rebuild` builds again and says
//! whether the hash matched. What the sandbox enforces is listed in [`sandbox`] and
//! `docs/builder.md`.
//!
//! # Layout
//!
//! - [`config`]: [`BuilderConfig`], [`BuildLimits`] and their defaults.
//! - [`builder`]: [`Builder`], one build from job to report.
//! - [`git`]: fetching the repository at the commit.
//! - [`sandbox`]: the bubblewrap command line (what a build can see).
//! - [`compile`]: the cargo phases, finding and checking the wasm.
//! - [`process`]: running one process with rlimits and a deadline that kills its group.
//! - [`cache`]: the content-addressed result cache.
//! - [`error`]: [`BuildError`], one variant per failure code.
//! - [`lease`]: the lease → build → report loop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), outlayer_builder::BuildError> {
//! use outlayer_builder::{Builder, BuilderConfig};
//! use outlayer_protocol::build::{BuildJob, BuildTarget, GitSource};
//! let builder = Builder::new(BuilderConfig::new("/var/lib/outlayer/builder", "/root/.cargo")).await?;
//! let source = GitSource {
//!     git: "https://github.com/owner/guest".into(),
//!     commit: "0123456789abcdef0123456789abcdef01234567".into(),
//!     path: None,
//!     build_target: BuildTarget::Wasip2,
//! };
//! let report = builder.build(&BuildJob { build_id: "b1".into(), source, force_rebuild: false }).await;
//! println!("{:?}", report.result.map(|w| w.wasm_sha256));
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod builder;
pub mod cache;
pub mod compile;
pub mod config;
pub mod error;
pub mod git;
pub mod lease;
pub mod process;
pub mod sandbox;

pub use builder::{Builder, PINNED_TOOLCHAIN, Toolchain};
pub use config::{BuildLimits, BuilderConfig};
pub use error::BuildError;
pub use lease::run_builder;

//! # outlayer-protocol
//!
//! The wire model every OutLayer service shares and none owns: the coordinator serves it, workers
//! (and, next, the keystore) speak it, clients read it. It holds data types and the rules that
//! belong to the data (receipt digests, limit defaults and caps), never I/O.
//!
//! # Layout
//!
//! - [`capability`]: [`Capability`], what an execution may be granted.
//! - [`limits`]: [`Limits`] of a job and [`LimitsRequest`], what a caller asks for.
//! - [`outcome`]: [`Outcome`], how an execution ended (one enum for host, worker and coordinator).
//! - [`status`]: [`CallStatus`] of a call.
//! - [`http`]: the http allowlist ([`http::Allowlist`]): entry rules, parsing and matching.
//! - [`job`]: [`Job`], what a worker leases, with its [`JobContext`].
//! - [`result`]: [`ExecutionResult`], what a worker observed, [`receipt_of`] (the receipt of a
//!   result) and [`Completion`], the report with its signed receipt.
//! - [`receipt`]: the signed receipt (v2), re-exported from `outlayer-attest` (the one
//!   implementation, shared with the contracts and `outlayer verify`).
//! - [`worker`]: the other worker-API bodies (challenge, attested register, lease, heartbeat).
//! - [`api`]: what callers of the HTTPS API send and get back ([`CallRequest`], [`CallView`]).
//! - [`secrets`]: sealed secrets, access conditions, tickets and the keystore's bodies.
//! - [`build`]: builds from source: [`build::GitSource`], what a builder leases and reports,
//!   the typed failures, [`build::BuildSource`].
//! - [`source`]: [`JobSource`], the worker's side of the protocol as a trait (HTTP client, a
//!   coordinator in the same process, the chain).
//! - `client` (feature `client`): the HTTP client of the worker API, a [`JobSource`] — the
//!   pattern of tonic's generated clients: the protocol crate carries its client, never a server.
//!
//! ```
//! use outlayer_protocol::{Capability, CallStatus, Limits, Outcome};
//! assert_eq!("storage".parse::<Capability>().unwrap(), Capability::Storage);
//! assert!(CallStatus::Completed.is_final());
//! assert_eq!(Outcome::Timeout.kind(), "timeout");
//! assert_eq!(Limits::default().max_memory_mb, 128);
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod build;
pub mod capability;
#[cfg(feature = "client")]
pub mod client;
pub mod http;
pub mod job;
#[cfg(feature = "client")]
pub mod keystore_client;
pub mod limits;
pub mod logflood;
pub mod outcome;
pub use outlayer_attest::receipt;
pub mod result;
pub mod secrets;
pub mod source;
pub mod status;
pub mod worker;

mod bytes_b64;
mod u128_str;

pub use api::{CallReceipt, CallRequest, CallView, ErrorBody, SettledResult, WorkerAttestation, WorkerList, WorkerRef, WorkerSummary};
pub use capability::{Capability, UnknownCapability};
pub use job::{ExecutionKind, Job, JobContext, ProjectRef};
pub use limits::{LimitError, Limits, LimitsRequest};
pub use outcome::Outcome;
pub use outlayer_storage::{Write, WriteSet};
pub use receipt::{Receipt, SignedReceipt};
pub use result::{Completion, ExecutionResult, Signer, WritesError, receipt_of, writes_message};
pub use source::{CompleteAndLease, JobSource, SourceError, SourceFuture};
pub use status::CallStatus;
pub use worker::{DEV_MEASUREMENTS, HeartbeatResponse, RegisterRequest, RegisterResponse};

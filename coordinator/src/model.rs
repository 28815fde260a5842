//! Wire types of the HTTP API: the shared wire model (`outlayer-protocol`), re-exported so that
//! handlers and embedders name one set of types.

pub use outlayer_protocol::api::{
    CallReceipt, CallRequest, CallView, ErrorBody, SettledResult, WorkerAttestation, WorkerList, WorkerRef, WorkerSummary,
};
pub use outlayer_protocol::job::{ExecutionKind, Job, JobContext, ProjectRef};
pub use outlayer_protocol::limits::{Limits, LimitsRequest};
pub use outlayer_protocol::receipt::{Receipt, SignedReceipt};
pub use outlayer_protocol::result::{Completion, ExecutionResult, Signer, receipt_of};
pub use outlayer_protocol::worker::{HeartbeatRequest, HeartbeatResponse, LeaseRequest, RegisterRequest, RegisterResponse};
pub use outlayer_protocol::{CallStatus, Capability, Outcome};

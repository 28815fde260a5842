//! Wire types of the HTTP API: the shared wire model (`outlayer-protocol`), re-exported so that
//! handlers and embedders name one set of types.

pub use outlayer_protocol::api::{CallRequest, CallView, ErrorBody, Receipt, SettledResult, WorkerRef};
pub use outlayer_protocol::job::{ExecutionKind, Job, JobContext, ProjectRef};
pub use outlayer_protocol::limits::{Limits, LimitsRequest};
pub use outlayer_protocol::result::{Completion, ExecutionResult};
pub use outlayer_protocol::worker::{HeartbeatRequest, HeartbeatResponse, LeaseRequest, RegisterRequest, RegisterResponse};
pub use outlayer_protocol::{CallStatus, Capability, Outcome};

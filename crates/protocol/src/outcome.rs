//! How an execution ended: one enum for the host that observes it, the worker that reports it and
//! the coordinator that settles it.

use crate::capability::Capability;
use serde::{Deserialize, Serialize};

/// How an execution ended. Every failure is typed; only `Ok` is a success.
///
/// Serialized with its kind in `outcome` and the details beside it, e.g.
/// `{"outcome": "trap", "message": "unreachable"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Finished; the output is the result.
    Ok,
    /// Used up its instruction budget.
    OutOfInstructions,
    /// Ran past its wall-clock limit.
    Timeout,
    /// Asked for more linear memory than allowed.
    MemoryLimit,
    /// Grew a table past its limit.
    TableLimit,
    /// Wrote more than allowed to stdout or stderr.
    OutputTooLarge {
        /// `stdout` or `stderr`.
        stream: String,
    },
    /// The input was larger than allowed; the guest did not run.
    InputTooLarge,
    /// Trapped (wasm trap, panic, stack overflow, host failure), or could not be run at all.
    Trap {
        /// What happened.
        message: String,
    },
    /// A command exited with a non-zero status; stderr explains.
    Exit {
        /// The exit status.
        code: i32,
    },
    /// A typed guest returned an error.
    GuestError {
        /// The guest's error kind.
        kind: String,
        /// The guest's message.
        message: String,
    },
    /// Failed after being denied a capability it was not granted.
    Denied {
        /// The capabilities it was refused.
        capabilities: Vec<Capability>,
        /// What the host said.
        message: String,
    },
    /// The keystore refused the job's secrets: an access condition failed (the guest never ran).
    AccessDenied {
        /// The condition that failed (its JSON `type`, e.g. `near_balance`).
        condition: String,
        /// The keystore's explanation.
        message: String,
    },
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// The kebab-case name (`ok`, `out-of-instructions`, ...), also signed in receipts.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OutOfInstructions => "out-of-instructions",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::TableLimit => "table-limit",
            Outcome::OutputTooLarge { .. } => "output-too-large",
            Outcome::InputTooLarge => "input-too-large",
            Outcome::Trap { .. } => "trap",
            Outcome::Exit { .. } => "exit",
            Outcome::GuestError { .. } => "guest-error",
            Outcome::Denied { .. } => "denied",
            Outcome::AccessDenied { .. } => "access-denied",
        }
    }

    /// The stable error code a failed call carries (`out_of_instructions`, ...).
    pub fn error_code(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OutOfInstructions => "out_of_instructions",
            Outcome::Timeout => "timeout",
            Outcome::MemoryLimit => "memory_limit",
            Outcome::TableLimit => "table_limit",
            Outcome::OutputTooLarge { .. } => "output_too_large",
            Outcome::InputTooLarge => "input_too_large",
            Outcome::Trap { .. } => "trap",
            Outcome::Exit { .. } => "exit",
            Outcome::GuestError { .. } => "guest_error",
            Outcome::Denied { .. } => "denied",
            Outcome::AccessDenied { .. } => "access_denied",
        }
    }

    /// The message the outcome carries itself, if any (a trap's, a guest error's, a denial's).
    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Trap { message }
            | Outcome::GuestError { message, .. }
            | Outcome::Denied { message, .. }
            | Outcome::AccessDenied { message, .. } => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_the_serialized_tag_and_details_round_trip() {
        let all = [
            Outcome::Ok,
            Outcome::OutOfInstructions,
            Outcome::Timeout,
            Outcome::MemoryLimit,
            Outcome::TableLimit,
            Outcome::OutputTooLarge { stream: "stdout".into() },
            Outcome::InputTooLarge,
            Outcome::Trap { message: "unreachable".into() },
            Outcome::Exit { code: 3 },
            Outcome::GuestError { kind: "invalid-input".into(), message: "no".into() },
            Outcome::Denied { capabilities: vec![Capability::Rpc], message: "rpc not granted".into() },
            Outcome::AccessDenied { condition: "near_balance".into(), message: "balance below 1".into() },
        ];
        for o in all {
            let json = serde_json::to_value(&o).unwrap();
            assert_eq!(json["outcome"], o.kind());
            assert_eq!(o.error_code(), o.kind().replace('-', "_"));
            assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), o);
        }
    }
}

//! [`BuildError`]: why a build failed, each variant one [`BuildErrorCode`] of the wire.

use outlayer_protocol::build::BuildErrorCode;

/// Why a build failed. The text is what the user sees (`GET /builds/{id}`'s `error.message`).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The source was refused before anything ran (a hostile or malformed field).
    #[error("source refused: {0}")]
    Refused(String),
    /// The repository could not be fetched.
    #[error("could not fetch {url}: {reason}")]
    CloneFailed {
        /// The URL.
        url: String,
        /// Git's last words.
        reason: String,
    },
    /// The repository was reachable but has no such commit.
    #[error("{url} has no commit {commit}")]
    CommitNotFound {
        /// The URL.
        url: String,
        /// The commit asked for.
        commit: String,
    },
    /// cargo failed; `tail` is the last lines of its output.
    #[error("{summary}\n{tail}")]
    BuildFailed {
        /// What failed.
        summary: String,
        /// Last lines of the compiler's output.
        tail: String,
    },
    /// The build ran past its time limit; its processes were killed.
    #[error("the build did not finish within {seconds} s and was killed")]
    Timeout {
        /// The limit.
        seconds: u64,
    },
    /// The wasm is larger than allowed.
    #[error("the built wasm is {size} bytes; the limit is {limit}")]
    OutputTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The output is not what the target promises.
    #[error("{0}")]
    NotAComponent(String),
    /// The builder failed (disk, sandbox, toolchain): not the source's fault.
    #[error("builder error: {0}")]
    Internal(String),
}

impl BuildError {
    /// The wire code.
    pub fn code(&self) -> BuildErrorCode {
        match self {
            Self::Refused(_) | Self::CloneFailed { .. } => BuildErrorCode::CloneFailed,
            Self::CommitNotFound { .. } => BuildErrorCode::CommitNotFound,
            Self::BuildFailed { .. } => BuildErrorCode::BuildFailed,
            Self::Timeout { .. } => BuildErrorCode::BuildTimeout,
            Self::OutputTooLarge { .. } => BuildErrorCode::OutputTooLarge,
            Self::NotAComponent(_) => BuildErrorCode::NotAComponent,
            Self::Internal(_) => BuildErrorCode::Internal,
        }
    }

    pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Internal(format!("{what}: {e}"))
    }
}

//! [`Error`]: every way an SDK call can fail, in one enum.

use crate::bindings::outlayer::{payment, rpc, secrets, storage, vrf};
use std::fmt;

/// The result type of every fallible SDK function.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A capability a guest can be granted.
///
/// ```
/// use outlayer_sdk::Capability;
/// assert_eq!(Capability::Storage.to_string(), "storage");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `outlayer:storage/store`.
    Storage,
    /// `outlayer:secrets/secrets`.
    Secrets,
    /// `outlayer:rpc/rpc`.
    Rpc,
    /// `outlayer:payment/payment`.
    Payment,
    /// `outlayer:vrf/vrf`.
    Vrf,
    /// `wasi:http/outgoing-handler` (hosts of the project's allowlist).
    Http,
}

impl Capability {
    /// Every capability a guest can be granted (besides `context`, which every guest has).
    ///
    /// The SDK keeps its own list so that it depends on nothing but its WIT; its tests check that
    /// it names the same capabilities, in the same order, as `outlayer_protocol::Capability::ALL`.
    pub const ALL: [Capability; 6] =
        [Capability::Storage, Capability::Secrets, Capability::Rpc, Capability::Payment, Capability::Vrf, Capability::Http];

    /// The lower-case name, as `outlayer run --grant` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Storage => "storage",
            Capability::Secrets => "secrets",
            Capability::Rpc => "rpc",
            Capability::Payment => "payment",
            Capability::Vrf => "vrf",
            Capability::Http => "http",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an SDK call (or a guest's own logic) failed.
///
/// Each capability's WIT error converts into it with `From`, so `?` works across
/// capabilities. The `Display` text is what [`run_json`](crate::run_json) prints to stderr and
/// what a typed guest's caller sees.
///
/// ```
/// use outlayer_sdk::{Capability, Error};
/// assert_eq!(Error::Denied(Capability::Storage).to_string(), "storage: capability not granted");
/// assert_eq!(Error::invalid_input("name is empty").to_string(), "invalid input: name is empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This execution was not granted the capability.
    #[error("{0}: capability not granted")]
    Denied(Capability),
    /// This execution has used up its budget of calls to the capability.
    #[error("{0}: call limit exceeded")]
    LimitExceeded(Capability),
    /// The named thing (a secret) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The guest's input could not be understood.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A host call's argument was malformed (the text says which).
    #[error("{capability}: invalid argument: {message}")]
    InvalidArgument {
        /// The capability that refused the argument.
        capability: Capability,
        /// What was wrong.
        message: String,
    },
    /// The NEAR node answered with an error.
    #[error("rpc: node error {name}/{cause}: {message}")]
    Node {
        /// The error's name, for example `HANDLER_ERROR`.
        name: String,
        /// The cause's name, for example `UNKNOWN_ACCOUNT`.
        cause: String,
        /// The node's human-readable message.
        message: String,
    },
    /// The NEAR node did not answer in time.
    #[error("rpc: timeout")]
    Timeout,
    /// The storage key is empty, too long or not valid text.
    #[error("storage: invalid key: {0}")]
    InvalidKey(String),
    /// The storage value is larger than the host's limit (in bytes).
    #[error("storage: value larger than {0} bytes")]
    ValueTooLarge(u64),
    /// The storage scope would exceed its quota.
    #[error("storage: quota exceeded")]
    QuotaExceeded,
    /// `increment` found a value that is not an 8-byte little-endian integer.
    #[error("storage: value is not an integer")]
    NotAnInteger,
    /// `increment` would overflow a signed 64-bit integer.
    #[error("storage: integer overflow")]
    Overflow,
    /// `refund` was already called in this execution.
    #[error("payment: already refunded")]
    AlreadyRefunded,
    /// The refund is larger than what the caller attached.
    #[error("payment: refund exceeds the attached deposit")]
    ExceedsAttached,
    /// The vrf seed is longer than the host accepts (the limit in bytes).
    #[error("vrf: seed longer than {0} bytes")]
    SeedTooLong(u32),
    /// Bytes from the host (a stored value, a node answer) are not what the guest expected,
    /// for example not the JSON type asked for.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded (`storage value "key"`, `rpc result`...).
        what: String,
        /// The decoder's message.
        message: String,
    },
    /// An outbound HTTP request failed with this `wasi:http` error code (its WIT name, for
    /// example `destination-IP-prohibited`, `connection-read-timeout`,
    /// `HTTP-response-body-size`), or the URL could not be used. Requests the grant does not
    /// allow are [`Error::Denied`]`(Http)`; past the request budget, [`Error::LimitExceeded`].
    #[error("http: {0}")]
    Http(String),
    /// Any other failure (host failures come with the capability's name).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An [`Error::InvalidInput`] with `message`.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Error::InvalidInput(message.to_string())
    }

    /// An [`Error::Other`] with `message`.
    pub fn other(message: impl fmt::Display) -> Self {
        Error::Other(message.to_string())
    }

    /// An [`Error::Decode`] for `what`.
    pub(crate) fn decode(what: impl fmt::Display, message: impl fmt::Display) -> Self {
        Error::Decode { what: what.to_string(), message: message.to_string() }
    }

    /// The capability this error is about, if any.
    ///
    /// ```
    /// use outlayer_sdk::{Capability, Error};
    /// assert_eq!(Error::QuotaExceeded.capability(), Some(Capability::Storage));
    /// assert_eq!(Error::invalid_input("x").capability(), None);
    /// ```
    pub fn capability(&self) -> Option<Capability> {
        match self {
            Error::Denied(c) | Error::LimitExceeded(c) => Some(*c),
            Error::InvalidArgument { capability, .. } => Some(*capability),
            Error::Node { .. } | Error::Timeout => Some(Capability::Rpc),
            Error::InvalidKey(_) | Error::ValueTooLarge(_) | Error::QuotaExceeded | Error::NotAnInteger | Error::Overflow => {
                Some(Capability::Storage)
            }
            Error::AlreadyRefunded | Error::ExceedsAttached => Some(Capability::Payment),
            Error::SeedTooLong(_) => Some(Capability::Vrf),
            Error::Http(_) => Some(Capability::Http),
            Error::NotFound(_) | Error::InvalidInput(_) | Error::Decode { .. } | Error::Other(_) => None,
        }
    }
}

impl From<storage::store::Error> for Error {
    fn from(e: storage::store::Error) -> Self {
        use storage::store::Error as E;
        match e {
            E::Denied => Error::Denied(Capability::Storage),
            E::InvalidKey(m) => Error::InvalidKey(m),
            E::ValueTooLarge(n) => Error::ValueTooLarge(n),
            E::QuotaExceeded => Error::QuotaExceeded,
            E::LimitExceeded => Error::LimitExceeded(Capability::Storage),
            E::NotAnInteger => Error::NotAnInteger,
            E::Overflow => Error::Overflow,
            E::Other(m) => Error::Other(format!("storage: {m}")),
        }
    }
}

impl From<secrets::secrets::Error> for Error {
    fn from(e: secrets::secrets::Error) -> Self {
        use secrets::secrets::Error as E;
        match e {
            E::Denied => Error::Denied(Capability::Secrets),
            E::NotFound => Error::NotFound("secret".into()),
            E::LimitExceeded => Error::LimitExceeded(Capability::Secrets),
            E::Other(m) => Error::Other(format!("secrets: {m}")),
        }
    }
}

impl From<rpc::rpc::Error> for Error {
    fn from(e: rpc::rpc::Error) -> Self {
        use rpc::rpc::Error as E;
        match e {
            E::Denied => Error::Denied(Capability::Rpc),
            E::LimitExceeded => Error::LimitExceeded(Capability::Rpc),
            E::Timeout => Error::Timeout,
            E::InvalidArgument(message) => Error::InvalidArgument { capability: Capability::Rpc, message },
            E::Node(n) => Error::Node { name: n.name, cause: n.cause, message: n.message },
            E::Other(m) => Error::Other(format!("rpc: {m}")),
        }
    }
}

impl From<payment::payment::Error> for Error {
    fn from(e: payment::payment::Error) -> Self {
        use payment::payment::Error as E;
        match e {
            E::Denied => Error::Denied(Capability::Payment),
            E::AlreadyRefunded => Error::AlreadyRefunded,
            E::ExceedsAttached => Error::ExceedsAttached,
            E::InvalidAmount(message) => Error::InvalidArgument { capability: Capability::Payment, message },
            E::Other(m) => Error::Other(format!("payment: {m}")),
        }
    }
}

impl From<vrf::vrf::Error> for Error {
    fn from(e: vrf::vrf::Error) -> Self {
        use vrf::vrf::Error as E;
        match e {
            E::Denied => Error::Denied(Capability::Vrf),
            E::LimitExceeded => Error::LimitExceeded(Capability::Vrf),
            E::SeedTooLong(n) => Error::SeedTooLong(n),
            E::Other(m) => Error::Other(format!("vrf: {m}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_errors_convert_to_the_matching_variant() {
        let e: Error = storage::store::Error::Denied.into();
        assert_eq!(e, Error::Denied(Capability::Storage));
        let e: Error = rpc::rpc::Error::Node(rpc::rpc::NodeError {
            name: "HANDLER_ERROR".into(),
            cause: "UNKNOWN_ACCOUNT".into(),
            message: "no such account".into(),
        })
        .into();
        assert_eq!(e.to_string(), "rpc: node error HANDLER_ERROR/UNKNOWN_ACCOUNT: no such account");
        let e: Error = vrf::vrf::Error::Other("key missing".into()).into();
        assert_eq!(e.to_string(), "vrf: key missing");
        let e: Error = payment::payment::Error::InvalidAmount("-1".into()).into();
        assert_eq!(e.capability(), Some(Capability::Payment));
    }
}

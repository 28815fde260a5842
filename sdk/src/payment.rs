//! The money side of the execution (`outlayer:payment/payment`; needs the `payment` grant).
//!
//! Amounts are decimal integers in the execution's [`Currency`]: micro-dollars for HTTPS calls,
//! yoctoNEAR for NEAR contract calls.
//!
//! ```no_run
//! use outlayer_sdk::payment;
//! let info = payment::info()?;
//! let attached: u128 = info.attached.parse().unwrap_or(0);
//! // Charge half, give the rest back.
//! payment::refund(attached / 2)?;
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

use crate::Result;
use crate::bindings::outlayer::payment::payment as wit;

/// The unit of the amounts: `Currency::UsdMicro` or `Currency::YoctoNear`.
pub use wit::Currency;

/// What the caller put on the table: `currency`, `attached`, `budget` and `refunded`, each a
/// decimal integer string in `currency`'s unit.
pub use wit::PaymentInfo;

/// The execution's budget and attached deposit.
pub fn info() -> Result<PaymentInfo> {
    Ok(wit::info()?)
}

/// Give `amount` of the attached deposit back to the caller. At most once per execution
/// ([`Error::AlreadyRefunded`](crate::Error::AlreadyRefunded)) and never more than was attached
/// ([`Error::ExceedsAttached`](crate::Error::ExceedsAttached)).
pub fn refund(amount: u128) -> Result<()> {
    Ok(wit::refund(&amount.to_string())?)
}

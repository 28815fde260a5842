//! The payment capability: `outlayer:payment/payment@0.2.0` and `near:payment/api@0.1.0`.
//!
//! The host only keeps the books of one execution: what was attached and what the guest gives
//! back. The refund is reported in the execution report; the coordinator or contract settles it.

use super::guard::{CallGuard, Refusal, v01_refusal};
use crate::bindings::near::payment::api as v01;
use crate::bindings::outlayer::payment::payment::{self as v02, Currency as WitCurrency, Error, PaymentInfo};
use outlayer_protocol::capability::Capability;
use wasmtime::component::{HasSelf, Linker};

/// The unit of an execution's amounts (one type with the wire model).
pub use outlayer_protocol::job::Currency;

/// What the caller put on the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentGrant {
    pub currency: Currency,
    /// Deposit attached for the guest; the most it can refund.
    pub attached: u128,
    /// The most the execution may cost.
    pub budget: u128,
}

/// Per-execution payment state.
pub struct PaymentCap {
    grant: Option<PaymentGrant>,
    pub(crate) guard: CallGuard,
    refunded: Option<u128>,
}

#[derive(Debug)]
enum Fail {
    Refused(Refusal),
    Already,
    Exceeds,
    Invalid(String),
}

impl PaymentCap {
    /// State for one execution.
    pub fn new(grant: Option<PaymentGrant>, guard: CallGuard) -> Self {
        Self { grant, guard, refunded: None }
    }

    /// The refund the guest asked for, if any.
    pub fn refunded(&self) -> Option<u128> {
        self.refunded
    }

    fn refund(&mut self, amount: u128) -> Result<(), Fail> {
        self.guard.admit(self.grant.is_some()).map_err(Fail::Refused)?;
        if self.refunded.is_some() {
            return Err(Fail::Already);
        }
        if amount > self.grant.as_ref().expect("granted").attached {
            return Err(Fail::Exceeds);
        }
        self.refunded = Some(amount);
        Ok(())
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Refused(Refusal::Denied) => Error::Denied,
            Fail::Refused(Refusal::OverBudget) => Error::Other("too many payment calls".into()),
            Fail::Already => Error::AlreadyRefunded,
            Fail::Exceeds => Error::ExceedsAttached,
            Fail::Invalid(s) => Error::InvalidAmount(s),
        }
    }
}

impl v02::Host for PaymentCap {
    async fn info(&mut self) -> wasmtime::Result<Result<PaymentInfo, Error>> {
        if let Err(r) = self.guard.admit(self.grant.is_some()) {
            return Ok(Err(Fail::Refused(r).into()));
        }
        let g = self.grant.as_ref().expect("granted");
        Ok(Ok(PaymentInfo {
            currency: match g.currency {
                Currency::UsdMicro => WitCurrency::UsdMicro,
                Currency::YoctoNear => WitCurrency::YoctoNear,
            },
            attached: g.attached.to_string(),
            budget: g.budget.to_string(),
            refunded: self.refunded.unwrap_or(0).to_string(),
        }))
    }

    async fn refund(&mut self, amount: String) -> wasmtime::Result<Result<(), Error>> {
        let parsed = amount.trim().parse::<u128>().map_err(|_| Fail::Invalid(format!("{amount:?} is not a decimal integer")));
        Ok(parsed.and_then(|a| PaymentCap::refund(self, a)).map_err(Error::from))
    }
}

impl v01::Host for PaymentCap {
    async fn refund_usd(&mut self, amount: u64) -> wasmtime::Result<String> {
        if self.grant.as_ref().is_some_and(|g| g.currency != Currency::UsdMicro) {
            return Ok("refund-usd: this execution was not paid in USD".into());
        }
        Ok(match PaymentCap::refund(self, amount.into()) {
            Ok(()) => String::new(),
            Err(Fail::Refused(r)) => v01_refusal(Capability::Payment, r),
            Err(Fail::Already) => "refund already made in this execution".into(),
            Err(Fail::Exceeds) => "refund exceeds the attached amount".into(),
            Err(Fail::Invalid(s)) => s,
        })
    }
}

/// Link both payment interface versions; `f` finds the state in the store's data.
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> &mut PaymentCap) -> wasmtime::Result<()> {
    v02::add_to_linker::<T, HasSelf<PaymentCap>>(linker, f)?;
    v01::add_to_linker::<T, HasSelf<PaymentCap>>(linker, f)?;
    Ok(())
}

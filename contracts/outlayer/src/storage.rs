//! Storage-deposit accounting shared by projects and secrets.

use near_sdk::{AccountId, NearToken, Promise, env};

/// Cost of the bytes added between `before` and `after` storage usage.
pub(crate) fn storage_cost(before: u64, after: u64) -> NearToken {
    env::storage_byte_cost().saturating_mul(after.saturating_sub(before) as u128)
}

/// Takes `cost` out of `available` (panicking with a clear message when it does not cover it)
/// and refunds the rest to `account`. Returns the refund.
pub(crate) fn charge(cost: NearToken, available: NearToken, account: &AccountId) -> NearToken {
    if available < cost {
        env::panic_str(&format!(
            "Attached deposit {} yoctoNEAR does not cover the storage cost {} yoctoNEAR",
            available.as_yoctonear(),
            cost.as_yoctonear()
        ));
    }
    let refund = available.saturating_sub(cost);
    if !refund.is_zero() {
        Promise::new(account.clone()).transfer(refund).detach();
    }
    refund
}

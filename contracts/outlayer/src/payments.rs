//! Money that leaves the contract outside settlement: payment-key top-ups for the HTTPS path,
//! developer earnings and platform fees.

use near_sdk::json_types::U128;
use near_sdk::{AccountId, NearToken, env, near};

use crate::events::Event;
use crate::limits::MIN_PAYMENT_KEY_TOP_UP_YOCTO;
use crate::resolution::transfer;
use crate::{Contract, ContractExt};

fn payment_key_id(owner: &AccountId, nonce: u32) -> String {
    format!("{owner}:{nonce}")
}

#[near]
impl Contract {
    /// Adds the attached deposit to payment key `owner`/`nonce` and emits
    /// `payment_key_topped_up`, which the HTTPS coordinator reads to credit the key.
    #[payable]
    pub fn top_up_payment_key(&mut self, owner: AccountId, nonce: u32) -> U128 {
        self.assert_not_paused();
        let amount = env::attached_deposit();
        if amount.as_yoctonear() < MIN_PAYMENT_KEY_TOP_UP_YOCTO {
            env::panic_str(&format!("Top-up must be at least {MIN_PAYMENT_KEY_TOP_UP_YOCTO} yoctoNEAR (0.01 NEAR)"));
        }
        let id = payment_key_id(&owner, nonce);
        let balance = self.payment_keys.get(&id).copied().unwrap_or_default().saturating_add(amount);
        self.payment_keys.insert(id, balance);
        Event::PaymentKeyToppedUp {
            owner,
            nonce,
            amount: U128(amount.as_yoctonear()),
            balance: U128(balance.as_yoctonear()),
            payer: env::predecessor_account_id(),
        }
        .emit();
        U128(balance.as_yoctonear())
    }

    /// Sets the payment rate: micro-USD credited per 1 NEAR deposited on a payment key (what the
    /// HTTPS coordinator credits for a `payment_key_topped_up`), also the rate `attached_usd` is
    /// reserved at. Owner only; 0 = not set.
    pub fn set_payment_rate(&mut self, micro_usd_per_near: U128) {
        self.assert_owner();
        self.payment_rate = micro_usd_per_near.0;
        Event::PaymentRateSet { micro_usd_per_near }.emit();
    }

    /// The payment rate in micro-USD per NEAR (0 = not set).
    pub fn get_payment_rate(&self) -> U128 {
        U128(self.payment_rate)
    }

    /// Total ever deposited on payment key `owner`/`nonce` (spending is tracked by the
    /// coordinator).
    pub fn get_payment_key_balance(&self, owner: AccountId, nonce: u32) -> U128 {
        U128(self.payment_keys.get(&payment_key_id(&owner, nonce)).map_or(0, |b| b.as_yoctonear()))
    }

    /// Sends the caller all developer earnings credited to them.
    pub fn withdraw_developer_earnings(&mut self) -> U128 {
        let account_id = env::predecessor_account_id();
        let amount = self
            .developer_earnings
            .remove(&account_id)
            .filter(|a| !a.is_zero())
            .unwrap_or_else(|| env::panic_str("No developer earnings to withdraw"));
        transfer(&account_id, amount);
        Event::DeveloperEarningsWithdrawn { account_id, amount: U128(amount.as_yoctonear()) }.emit();
        U128(amount.as_yoctonear())
    }

    /// Developer earnings waiting for `account_id`.
    pub fn get_developer_earnings(&self, account_id: AccountId) -> U128 {
        U128(self.developer_earnings.get(&account_id).map_or(0, |a| a.as_yoctonear()))
    }

    /// Sends `amount` (default: all) of the collected execution fees to `receiver` (default:
    /// the owner).
    pub fn withdraw_platform_fees(&mut self, amount: Option<U128>, receiver: Option<AccountId>) -> U128 {
        self.assert_owner();
        let amount = amount.map_or(self.platform_fees, |a| NearToken::from_yoctonear(a.0));
        if amount.is_zero() || amount > self.platform_fees {
            env::panic_str(&format!("Amount must be between 1 and {} yoctoNEAR", self.platform_fees.as_yoctonear()));
        }
        self.platform_fees = self.platform_fees.saturating_sub(amount);
        let receiver = receiver.unwrap_or_else(|| self.owner_id.clone());
        transfer(&receiver, amount);
        Event::PlatformFeesWithdrawn { receiver, amount: U128(amount.as_yoctonear()) }.emit();
        U128(amount.as_yoctonear())
    }
}

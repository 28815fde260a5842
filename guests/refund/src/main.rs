//! `refund`: prints the execution's payment info, then refunds part of the attached deposit
//! through `outlayer:payment/payment`.
//!
//! Input: the amount to refund, a decimal integer in the payment's currency unit (surrounding
//! whitespace ignored; it is passed to the host unchanged, so the host validates it).
//!
//! Output, two lines:
//! `{"currency":"usd-micro","attached":"1000000","budget":"...","refunded":"0"}` then
//! `refunded <amount>`.
//!
//! A host should observe: the caller gets `<amount>` back; an amount over the deposit gives exit
//! status failure with stderr `error: Error::ExceedsAttached` (after the info line); a
//! non-integer gives `error: Error::InvalidAmount(...)`; without the payment grant,
//! `error: Error::Denied` and no stdout.

use std::io::{self, Read, Write};
use std::process::exit;

use outlayer_guest_bindings::json;
use outlayer_guest_bindings::outlayer::payment::payment::{self, Currency};

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        exit(2);
    }
    let amount = input.trim();
    let mut stdout = io::stdout().lock();

    let info = match payment::info() {
        Ok(info) => info,
        Err(e) => {
            eprintln!("error: {e:?}");
            exit(1);
        }
    };
    let currency = match info.currency {
        Currency::UsdMicro => "usd-micro",
        Currency::YoctoNear => "yocto-near",
    };
    writeln!(
        stdout,
        r#"{{"currency":{},"attached":{},"budget":{},"refunded":{}}}"#,
        json::string(currency),
        json::string(&info.attached),
        json::string(&info.budget),
        json::string(&info.refunded),
    )
    .expect("write stdout");
    stdout.flush().expect("flush stdout");

    match payment::refund(amount) {
        Ok(()) => {
            writeln!(stdout, "refunded {amount}").expect("write stdout");
            stdout.flush().expect("flush stdout");
        }
        Err(e) => {
            eprintln!("error: {e:?}");
            exit(1);
        }
    }
}

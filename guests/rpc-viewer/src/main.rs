//! `rpc-viewer`: reads an account through `outlayer:rpc/rpc.view-account` at the latest final
//! block and prints it as JSON:
//! `{"account_id":"alice.near","amount":"100","storage_usage":182,"block_height":123}`
//! (`amount` in yoctoNEAR as a decimal string).
//!
//! Input: the account id (surrounding whitespace ignored).
//!
//! A host should observe: with the rpc grant, the account's state from its node; for an unknown
//! account, exit status failure and stderr
//! `error: Error::Node(NodeError { ... cause: "UNKNOWN_ACCOUNT" ... })`; without the grant,
//! `error: Error::Denied`.

use std::io::{self, Read, Write};
use std::process::exit;

use outlayer_guest_bindings::json;
use outlayer_guest_bindings::outlayer::rpc::rpc::{self, BlockReference};

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        exit(2);
    }
    let account_id = input.trim();
    match rpc::view_account(&BlockReference::Final, account_id) {
        Ok(account) => {
            let mut stdout = io::stdout().lock();
            write!(
                stdout,
                r#"{{"account_id":{},"amount":{},"storage_usage":{},"block_height":{}}}"#,
                json::string(account_id),
                json::string(&account.amount),
                account.storage_usage,
                account.block_height,
            )
            .expect("write stdout");
            stdout.flush().expect("flush stdout");
        }
        Err(e) => {
            eprintln!("error: {e:?}");
            exit(1);
        }
    }
}

//! `sdk-caps`: one SDK call per capability besides storage (secrets, vrf, payment, rpc), so host
//! tests can see what each SDK wrapper gives a guest. A command guest using `run_json`.
//!
//! Input (JSON), output (JSON):
//! - `{"op":"secret","name":N}` → `{"value":V}` (null when no such secret: `get_optional`)
//! - `{"op":"secret","name":N,"required":true}` → `{"value":V}`, or fails with
//!   `error: not found: secret "N"` (`get`)
//! - `{"op":"secrets"}` → `{"names":[...]}`
//! - `{"op":"roll","seed":S,"min":A,"max":B}` → `{"value":X,"output":HEX,"alpha":TEXT}` with
//!   X = `vrf::uniform(output, A..=B)`
//! - `{"op":"refund","amount":N}` → `{"attached":T,"refunded":N}` (refunded as read back from
//!   `payment::info` after the refund)
//! - `{"op":"view","contract":C,"method":M,"args":J}` → `{"result":R}` (`rpc::view_json`)
//! - `{"op":"account","id":A}` → `{"amount":T,"block_height":H}` (`rpc::view_account`)
//!
//! Any SDK error fails the execution with `error: <its Display>` on stderr, for example
//! `error: vrf: capability not granted` or
//! `error: rpc: node error HANDLER_ERROR/UNKNOWN_ACCOUNT: ...`.

use outlayer_sdk::{payment, rpc, secrets, vrf};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Secret {
        name: String,
        #[serde(default)]
        required: bool,
    },
    Secrets,
    Roll {
        seed: String,
        min: u64,
        max: u64,
    },
    Refund {
        amount: u64,
    },
    View {
        contract: String,
        method: String,
        args: Value,
    },
    Account {
        id: String,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    outlayer_sdk::run_json(|request: Request| {
        Ok(match request {
            Request::Secret {
                name,
                required: true,
            } => json!({ "value": secrets::get(&name)? }),
            Request::Secret {
                name,
                required: false,
            } => json!({ "value": secrets::get_optional(&name)? }),
            Request::Secrets => json!({ "names": secrets::names()? }),
            Request::Roll { seed, min, max } => {
                if min > max {
                    return Err(outlayer_sdk::Error::invalid_input("min > max"));
                }
                let r = vrf::generate(&seed)?;
                json!({ "value": r.uniform(min..=max), "output": hex(&r.output), "alpha": r.alpha })
            }
            Request::Refund { amount } => {
                payment::refund(amount.into())?;
                let info = payment::info()?;
                json!({ "attached": info.attached, "refunded": info.refunded })
            }
            Request::View {
                contract,
                method,
                args,
            } => {
                let result: Value = rpc::view_json(&contract, &method, &args)?;
                json!({ "result": result })
            }
            Request::Account { id } => {
                let account = rpc::view_account(&id)?;
                json!({ "amount": account.amount, "block_height": account.block_height })
            }
        })
    });
}

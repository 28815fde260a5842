//! One script line → one capability call → one output line.

use base64_lite::decode;
use outlayer_guest_bindings::json::hex;
use outlayer_guest_bindings::outlayer::payment::payment;
use outlayer_guest_bindings::outlayer::rpc::rpc::{self, BlockReference, WaitUntil};
use outlayer_guest_bindings::outlayer::secrets::secrets;
use outlayer_guest_bindings::outlayer::storage::store::{self, Scope};
use outlayer_guest_bindings::outlayer::vrf::vrf;

mod base64_lite;

/// Run one line; `Err` carries the WIT error's case and payload (`Denied`, `InvalidKey("..")`)
/// or a usage message.
pub fn run(line: &str) -> Result<String, String> {
    let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
    let arity = |n: usize| -> Result<Vec<&str>, String> {
        let args: Vec<&str> = if n == 0 { Vec::new() } else { rest.splitn(n, ' ').collect() };
        if args.len() != n {
            return Err(format!("usage: {op} takes {n} arguments"));
        }
        Ok(args)
    };
    // The WIT error's case as text: `Denied`, `InvalidKey("...")` (without Rust's `Error::`).
    let e = |e: &dyn std::fmt::Debug| {
        let text = format!("{e:?}");
        text.strip_prefix("Error::").map(str::to_string).unwrap_or(text)
    };
    Ok(match op {
        "get" => {
            let a = arity(2)?;
            match store::get(scope(a[0])?, a[1]).map_err(|x| e(&x))? {
                Some(v) => format!("some {}", text(&v)),
                None => "none".into(),
            }
        }
        "set" => {
            let a = arity(3)?;
            store::set(scope(a[0])?, a[1], a[2].as_bytes()).map_err(|x| e(&x))?;
            "ok".into()
        }
        "has" => {
            let a = arity(2)?;
            store::has(scope(a[0])?, a[1]).map_err(|x| e(&x))?.to_string()
        }
        "delete" => {
            let a = arity(2)?;
            store::delete(scope(a[0])?, a[1]).map_err(|x| e(&x))?.to_string()
        }
        "list" => {
            let a = arity(4)?;
            let limit: u32 = a[3].parse().map_err(|_| format!("bad limit {:?}", a[3]))?;
            let prefix = if a[1] == "-" { "" } else { a[1] };
            let page = store::list_keys(scope(a[0])?, prefix, opt(a[2]).as_deref(), limit).map_err(|x| e(&x))?;
            format!("keys {} next {}", page.keys.join(","), page.next_cursor.as_deref().unwrap_or("-"))
        }
        "set-if-absent" => {
            let a = arity(3)?;
            store::set_if_absent(scope(a[0])?, a[1], a[2].as_bytes()).map_err(|x| e(&x))?.to_string()
        }
        "cas" => {
            let a = arity(4)?;
            let expected = opt(a[2]).map(String::into_bytes);
            let r = store::compare_and_swap(scope(a[0])?, a[1], expected.as_deref(), a[3].as_bytes()).map_err(|x| e(&x))?;
            format!("swapped {} current {}", r.swapped, r.current.as_deref().map_or("-".into(), text))
        }
        "incr" => {
            let a = arity(3)?;
            let delta: i64 = a[2].parse().map_err(|_| format!("bad delta {:?}", a[2]))?;
            store::increment(scope(a[0])?, a[1], delta).map_err(|x| e(&x))?.to_string()
        }
        "secret" => secrets::get(arity(1)?[0]).map_err(|x| e(&x))?,
        "secret-names" => secrets::list_names().map_err(|x| e(&x))?.join(","),
        "pay-info" => {
            let i = payment::info().map_err(|x| e(&x))?;
            let currency = match i.currency {
                payment::Currency::UsdMicro => "usd-micro",
                payment::Currency::YoctoNear => "yocto-near",
            };
            format!("{currency} attached {} budget {} refunded {}", i.attached, i.budget, i.refunded)
        }
        "refund" => {
            payment::refund(arity(1)?[0]).map_err(|x| e(&x))?;
            "ok".into()
        }
        "vrf" => {
            let r = vrf::generate(arity(1)?[0]).map_err(|x| e(&x))?;
            format!("alpha {} output {} proof-bytes {}", r.alpha, hex(&r.output), r.proof.len())
        }
        "vrf-key" => hex(&vrf::public_key().map_err(|x| e(&x))?),
        "rpc-view" => {
            let a = arity(3)?;
            let r = rpc::view_call(&BlockReference::Final, a[0], a[1], a[2].as_bytes()).map_err(|x| e(&x))?;
            format!("value {} height {}", text(&r.value), r.block_height)
        }
        "rpc-account" => {
            let a = rpc::view_account(&BlockReference::Final, arity(1)?[0]).map_err(|x| e(&x))?;
            format!("amount {} storage {} height {}", a.amount, a.storage_usage, a.block_height)
        }
        "rpc-key" => {
            let a = arity(2)?;
            rpc::view_access_key(&BlockReference::Final, a[0], a[1]).map_err(|x| e(&x))?
        }
        "rpc-keys" => rpc::view_access_key_list(&BlockReference::Final, arity(1)?[0]).map_err(|x| e(&x))?,
        "rpc-block" => {
            let at = match arity(1)?[0] {
                "final" => BlockReference::Final,
                h => BlockReference::Height(h.parse().map_err(|_| format!("bad height {h:?}"))?),
            };
            rpc::block(&at).map_err(|x| e(&x))?
        }
        "rpc-send" => {
            let tx = decode(arity(1)?[0]).ok_or("bad base64")?;
            rpc::send_transaction(&tx, WaitUntil::IncludedFinal).map_err(|x| e(&x))?
        }
        "rpc-raw" => {
            let a = arity(2)?;
            rpc::raw(a[0], a[1]).map_err(|x| e(&x))?
        }
        other => return Err(format!("unknown op {other:?}")),
    })
}

fn scope(s: &str) -> Result<Scope, String> {
    match s {
        "caller" => Ok(Scope::Caller),
        "component" => Ok(Scope::Component),
        other => Err(format!("unknown scope {other:?}")),
    }
}

fn opt(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

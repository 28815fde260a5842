//! `context-dump`: prints `outlayer:context/context.get()` as one JSON object, with the
//! environment variables whose names start with `NEAR_` or `OUTLAYER_` under `"env"`:
//!
//! ```json
//! {"request_id":"..","kind":"local","network":"testnet","caller":null,
//!  "project":{"owner":"..","name":"..","id":".."},"wasm_hash":"..",
//!  "block_height":null,"block_timestamp_ns":null,
//!  "limits":{"max_instructions":..,"max_memory_bytes":..,"max_wall_ms":..,
//!            "max_stdout_bytes":..,"max_input_bytes":..},
//!  "env":{"NEAR_SENDER_ID":".."}}
//! ```
//!
//! `kind` is `near`, `https` or `local`; absent options are `null`. Ignores stdin.
//!
//! A host should observe: what it put in the context, with no grant needed; `wasm_hash` equal to
//! the sha256 of this component; the limits it enforces; only the environment it chose to expose
//! (no host variables).

use std::io::{self, Write};

use outlayer_guest_bindings::json;
use outlayer_guest_bindings::outlayer::context::context::{self, ExecutionKind};

fn main() {
    let ctx = context::get();
    let kind = match ctx.kind {
        ExecutionKind::Near => "near",
        ExecutionKind::Https => "https",
        ExecutionKind::Local => "local",
    };
    let project = match &ctx.project {
        Some(p) => format!(
            r#"{{"owner":{},"name":{},"id":{}}}"#,
            json::string(&p.owner),
            json::string(&p.name),
            json::string(&p.id)
        ),
        None => "null".to_string(),
    };
    let l = &ctx.limits;
    let limits = format!(
        r#"{{"max_instructions":{},"max_memory_bytes":{},"max_wall_ms":{},"max_stdout_bytes":{},"max_input_bytes":{}}}"#,
        l.max_instructions,
        l.max_memory_bytes,
        l.max_wall_ms,
        l.max_stdout_bytes,
        l.max_input_bytes
    );
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("NEAR_") || k.starts_with("OUTLAYER_"))
        .collect();
    env.sort();
    let env: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{}:{}", json::string(k), json::string(v)))
        .collect();

    let mut stdout = io::stdout().lock();
    write!(
        stdout,
        r#"{{"request_id":{},"kind":{},"network":{},"caller":{},"project":{},"wasm_hash":{},"block_height":{},"block_timestamp_ns":{},"limits":{},"env":{{{}}}}}"#,
        json::string(&ctx.request_id),
        json::string(kind),
        json::string(&ctx.network),
        json::opt_string(ctx.caller.as_deref()),
        project,
        json::string(&ctx.wasm_hash),
        json::opt_u64(ctx.block_height),
        json::opt_u64(ctx.block_timestamp_ns),
        limits,
        env.join(","),
    )
    .expect("write stdout");
    stdout.flush().expect("flush stdout");
}

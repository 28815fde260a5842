//! `sdk-typed-greeter`: a typed guest (world `outlayer:guest/typed`) written with
//! `outlayer-sdk`'s `Handler` trait and `export_typed!`, reading the execution context.
//!
//! Input: JSON `{"name":N}`. Output: JSON
//! `{"greeting":"Hello, N!","caller":C,"network":NET,"request_id":ID,"kind":"local"|"near"|"https"}`
//! where C is the calling account or null.
//!
//! A host should observe: the greeting and the context it passed in; input that is not that
//! JSON gives `run-error::invalid-input` with serde's message; an empty name gives
//! `run-error::invalid-input("name is empty")`. It imports no capability besides context.

use outlayer_sdk::context::{self, ExecutionKind};
use outlayer_sdk::typed::{self, Handler};
use outlayer_sdk::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    greeting: String,
    caller: Option<String>,
    network: String,
    request_id: String,
    kind: ExecutionKind,
}

struct Greeter;

impl Handler for Greeter {
    fn run(input: Vec<u8>) -> Result<Vec<u8>> {
        typed::json(&input, |input: Input| {
            if input.name.trim().is_empty() {
                return Err(Error::invalid_input("name is empty"));
            }
            let ctx = context::get();
            Ok(Greeting {
                greeting: format!("Hello, {}!", input.name),
                caller: ctx.caller,
                network: ctx.network,
                request_id: ctx.request_id,
                kind: ctx.kind,
            })
        })
    }
}

outlayer_sdk::export_typed!(Greeter);

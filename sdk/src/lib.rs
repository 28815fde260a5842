//! Write OutLayer guests in Rust.
//!
//! An OutLayer guest is a WebAssembly component (`wasm32-wasip2`) that the worker runs under
//! hard limits, with only the capabilities its execution was granted. This crate gives it:
//!
//! - entry points: [`run_json`], [`run_bytes`], [`run_text`] for a command guest (`fn main`,
//!   stdin → stdout) and [`export_typed!`] with [`typed::Handler`] for a typed guest;
//! - [`input`] / [`output`] helpers (bytes, text, JSON);
//! - one module per capability: [`context`] (always available), [`storage`], [`secrets`],
//!   [`rpc`], [`payment`], [`vrf`], [`http`] (outbound requests over `wasi:http`);
//! - one error type, [`Error`], that every capability's error converts into.
//!
//! A complete command guest (`src/main.rs` of a binary crate depending on `outlayer-sdk` and
//! `serde`):
//!
//! ```no_run
//! use outlayer_sdk::storage::{self, Scope};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Input { name: String }
//!
//! #[derive(Serialize)]
//! struct Output { greeting: String, visits: i64 }
//!
//! fn main() {
//!     outlayer_sdk::run_json(|input: Input| {
//!         if input.name.is_empty() {
//!             return Err(outlayer_sdk::Error::invalid_input("name is empty"));
//!         }
//!         let visits = storage::increment(Scope::Caller, "visits", 1)?;
//!         Ok(Output { greeting: format!("Hello, {}!", input.name), visits })
//!     });
//! }
//! ```
//!
//! Build it with `outlayer build .` (or `cargo build --release --target wasm32-wasip2`) and run
//! it with `outlayer run target/wasm32-wasip2/release/NAME.wasm --input '{"name":"Ada"}'
//! --grant storage`. Without `--grant storage` the guest fails with `error: storage:
//! capability not granted` on stderr.
//!
//! The bindings are generated once, from the WIT files shipped in this crate (`wit/`, a copy of
//! the OutLayer repository's `wit/`), in [`bindings`]. On targets other than `wasm32` the host
//! calls compile to stubs that panic, so guest code type-checks and its pure logic can be
//! unit-tested on the host.
#![warn(missing_docs)]

pub mod bindings;
pub mod command;
pub mod context;
mod error;
pub mod http;
pub mod input;
pub mod output;
pub mod payment;
pub mod rpc;
pub mod secrets;
pub mod storage;
pub mod typed;
pub mod vrf;

pub use command::{run_bytes, run_json, run_text};

/// The examples of `README.md`, compiled as documentation tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub use error::{Capability, Error, Result};

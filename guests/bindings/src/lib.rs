//! Bindings for the `outlayer:guest/command` world, generated once from the root `wit/` folder
//! and shared by every command guest (a `fn main` WASI command that may call the capability
//! interfaces).
//!
//! The generated modules follow the WIT package names: `outlayer::storage::store`,
//! `outlayer::secrets::secrets`, `outlayer::rpc::rpc`, `outlayer::payment::payment`,
//! `outlayer::vrf::vrf` and `outlayer::context::context`. The WIT type information is linked
//! into each guest that uses this crate, so the component built by `wasm32-wasip2` imports the
//! interfaces the guest calls (and only those).
//!
//! Typed guests (world `outlayer:guest/typed`) run their own `generate!` because they export
//! `run`.
//!
//! [`json`] holds a few helpers to print JSON without pulling a serializer into small guests.

wit_bindgen::generate!({
    path: "../../wit",
    world: "outlayer:guest/command",
    generate_all,
});

pub mod json;

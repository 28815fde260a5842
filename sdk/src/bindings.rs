//! The raw bindings, generated once from the crate's `wit/` folder: a copy of the OutLayer
//! repository's `wit/` (kept in step by `scripts/sync-sdk-wit.sh`, checked by this crate's tests)
//! so the published crate is self-contained.
//!
//! They are generated for the `outlayer:guest/typed` world, which imports every capability
//! interface of `outlayer:guest/command` and exports `run`. The export is only linked into a
//! guest that calls [`export_typed!`](crate::export_typed): a plain command guest using this
//! crate exports `wasi:cli/run` and nothing else.
//!
//! Prefer the typed modules of this crate ([`storage`](crate::storage),
//! [`rpc`](crate::rpc), ...); these bindings are here for what they do not cover. The
//! generated modules follow the WIT package names: `outlayer::storage::store`,
//! `outlayer::secrets::secrets`, `outlayer::rpc::rpc`, `outlayer::payment::payment`,
//! `outlayer::vrf::vrf`, `outlayer::context::context` and `outlayer::guest::types`.
//!
//! On targets other than `wasm32` the imports compile to stubs that panic when called, so code
//! using them builds (and its documentation tests compile) on the host.

#![allow(missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "wit",
    world: "outlayer:guest/typed",
    generate_all,
    // The `run` export is emitted by the macro below, in the guest crate that invokes it, so
    // guests that never call `export_typed!` do not export `run`.
    pub_export_macro: true,
    export_macro_name: "__export_typed_world",
    default_bindings_module: "outlayer_sdk::bindings",
});

/// `wasi:http@0.2.12` and the `wasi:io` / `wasi:clocks` types it uses (world
/// `outlayer:guest/http-client`): what [`crate::http`] is built on. Generated apart from the
/// OutLayer worlds so a guest that never sends a request does not import `wasi:http`.
pub mod wasi_http {
    wit_bindgen::generate!({
        path: "wit",
        world: "outlayer:guest/http-client",
        generate_all,
    });
}

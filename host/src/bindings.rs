//! Host bindings generated from the root `wit/` folder: one `bindgen!` for the `host` world,
//! which imports every published interface version and exports the typed `run`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "outlayer:guest/runtime",
    imports: { default: async | trappable },
    exports: { default: async },
});

//! Paths of the guests in `guests/`, built by this crate's `build.rs` (components for
//! `wasm32-wasip2`, the `p1-*` crates as preview1 core modules for `wasm32-wasip1`) so that
//! tests, examples and benchmarks always run freshly built guests.
//!
//! Use it as a dev-dependency only: it compiles every guest, so a crate that depended on it
//! normally would need the wasm targets to build, and would carry this machine's paths. The
//! `outlayer` binary does not; `outlayer conformance` builds the guests at run time with the same
//! code (`conformance/src/guest_build.rs`, which this crate's build script compiles in).
//!
//! Each guest `guests/<name>/` gets a constant named after it in SCREAMING_SNAKE case holding the
//! absolute path of its component (`ECHO` for `echo`, `LOOP_FOREVER` for `loop-forever`), [`ALL`]
//! lists them all, and [`DIR`] is the directory holding them, each as `<name>.wasm` (the
//! directory `outlayer conformance --guests DIR` takes):
//!
//! ```
//! let wasm = outlayer_guest_artifacts::read(outlayer_guest_artifacts::ECHO);
//! assert_eq!(&wasm[0..4], b"\0asm");
//! ```
//!
//! # The guests
//!
//! WASI commands (input on stdin, output on stdout, stderr is a log):
//! - `echo`: stdout = stdin, unchanged.
//! - `big-input`: prints the number of bytes read from stdin.
//! - `print-bytes`: reads a byte count N and prints a JSON string exactly N bytes long.
//! - `counter`, `secret-reader`, `rpc-viewer`, `refund`, `vrf-dice`, `context-dump`: one
//!   capability each; see the doc comment at the top of each guest's `src/main.rs`.
//!
//! Outbound HTTP: `http-fetch` (written with the SDK's `http` module: one request per script
//! line, including a JSON fetch-and-transform; see its `src/main.rs`).
//!
//! Typed guests (world `outlayer:guest/typed`, export `run`): `echo-typed`, `counter-typed`.
//!
//! Written with the SDK (`outlayer-sdk`, `sdk/`): `sdk-kv` (a command guest: JSON key-value
//! service over the storage JSON helpers), `sdk-caps` (a command guest making one SDK call per
//! other capability) and `sdk-typed-greeter` (a typed guest using `export_typed!` and the
//! execution context).
//!
//! OutLayer v0.1 guests (plain `wit-bindgen` on the frozen `near:*@0.1.0` WIT, as their authors
//! wrote them; see `docs/compat-v0.1.md`): `v01-storage` (a JSON script of storage operations),
//! `v01-rpc` (rpc functions by name), `v01-vrf-payment` (the full worker world), `v01-env`
//! (prints the v0.1 environment variables), `v01-http` (v0.1 payment plus `wasi:http` imported by
//! hand: GETs the URL on stdin).
//!
//! WASI preview1 core modules (`wasm32-wasip1`, `_start`): `p1-echo` (stdin to stdout, exit
//! status kept) and `p1-loop` (hostile: a busy loop).
//!
//! Hostile guests, one per host limit: `loop-forever` (fuel / wall clock), `memory-bomb`
//! (memory), `stack-overflow` (wasm stack), `output-flood` (stdout size), `stderr-flood`
//! (stderr size), `sleep-forever` (wall clock while blocked in WASI), `trap`, `panic`,
//! `exit-code` (a failing exit status, not a trap). And `memory-residue`: one execution fills
//! grown memory with a marker (`fill`), the next looks for it (`scan`, prints the count).
//!
//! # Adding a guest
//!
//! 1. Create `guests/<name>/` with a `Cargo.toml` using the workspace fields
//!    (`version.workspace = true`, ...) and a doc comment at the top of its source saying what
//!    it demonstrates or attacks and what a host should observe.
//!    - A WASI command: `src/main.rs` with `fn main`; add
//!      `outlayer-guest-bindings.workspace = true` to call capabilities.
//!    - A typed guest: `[lib] crate-type = ["cdylib"]`, its own `wit_bindgen::generate!` for
//!      `outlayer:guest/typed` and `export!` (copy `guests/echo-typed`).
//! 2. Add `"<name>"` to `members` in `guests/Cargo.toml`.
//!    - A WASI preview1 core module: name the crate `p1-<something>`; it is built for
//!      `wasm32-wasip1`.
//! 3. Build any test of the main workspace: the constant `<NAME>` appears here. Write the test
//!    that uses it.
//!
//! The guests are built with `cargo build --release --target wasm32-wasip2 --workspace --exclude
//! 'p1-*'` then `cargo build --release --target wasm32-wasip1 -p 'p1-*'` in the `guests/`
//! workspace, into `<target dir>/guests/wasm32-wasip{2,1}/release/`, then copied to
//! `<target dir>/guests/wasm/<name>.wasm` ([`DIR`]). Missing wasm targets are added with `rustup
//! target add` first. A guest that fails to compile fails this crate's build with the compiler's
//! errors.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The path of the guest called `name` (as in `guests/<name>/`), if there is one.
pub fn path(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// The bytes of the component at `path` (one of this crate's constants).
///
/// # Panics
///
/// When the file cannot be read, naming the path: a missing file means the build script did not
/// run or its target directory was deleted after the build.
pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read guest component {path}: {e}"))
}

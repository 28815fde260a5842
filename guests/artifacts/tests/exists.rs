//! Every generated constant points at valid WebAssembly a host can load: components (command
//! guests export `wasi:cli/run`, typed guests export `run`), except the preview1 guests, which
//! are core modules exporting `_start`.

use wasmparser::{ComponentExternalKind, ExternalKind, Parser, Payload, Validator};

/// Bytes 4..8 of a component: its layer and version (`0x0d 0x00 0x01 0x00`).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
/// Bytes 4..8 of a core module (version 1).
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// WASI command guests (world `outlayer:guest/command`): they export `wasi:cli/run`.
const COMMANDS: &[&str] = &[
    "echo",
    "big-input",
    "print-bytes",
    "counter",
    "secret-reader",
    "rpc-viewer",
    "refund",
    "vrf-dice",
    "context-dump",
    "cap-ops",
    "loop-forever",
    "memory-bomb",
    "memory-residue",
    "stack-overflow",
    "output-flood",
    "stderr-flood",
    "sleep-forever",
    "trap",
    "panic",
    "exit-code",
    "v01-storage",
    "v01-rpc",
    "v01-vrf-payment",
    "v01-env",
    "v01-http",
    "http-fetch",
    "sdk-kv",
    "sdk-caps",
];

/// Typed guests (world `outlayer:guest/typed`): they export the function `run`.
const TYPED: &[&str] = &["echo-typed", "counter-typed", "sdk-typed-greeter"];

/// WASI preview1 core modules (`wasm32-wasip1`): they export the function `_start`.
const PREVIEW1: &[&str] = &["p1-echo", "p1-loop"];

#[test]
fn all_lists_exactly_the_known_guests() {
    let mut built: Vec<&str> = outlayer_guest_artifacts::ALL.iter().map(|(n, _)| *n).collect();
    let mut known: Vec<&str> = COMMANDS.iter().chain(TYPED).chain(PREVIEW1).copied().collect();
    built.sort();
    known.sort();
    assert_eq!(built, known, "a guest was added or removed: update COMMANDS / TYPED / PREVIEW1 here");
}

#[test]
fn every_guest_is_a_valid_component() {
    let components = outlayer_guest_artifacts::ALL.iter().filter(|(name, _)| !PREVIEW1.contains(name));
    for (name, path) in components {
        assert!(std::path::Path::new(path).is_absolute(), "{name}: {path}");
        let bytes = outlayer_guest_artifacts::read(path);
        assert_eq!(&bytes[0..4], b"\0asm", "{name} is not wasm: {path}");
        assert_ne!(bytes[4..8], CORE_MODULE_VERSION, "{name} is a core module, not a component");
        assert_eq!(bytes[4..8], COMPONENT_VERSION, "{name} is not a component");
        Validator::new().validate_all(&bytes).unwrap_or_else(|e| panic!("{name} is not a valid component: {e}"));
    }
}

#[test]
fn preview1_guests_are_core_modules_exporting_start() {
    for name in PREVIEW1 {
        let path = outlayer_guest_artifacts::path(name).unwrap_or_else(|| panic!("no guest {name}"));
        let bytes = outlayer_guest_artifacts::read(path);
        assert_eq!(&bytes[0..4], b"\0asm", "{name} is not wasm: {path}");
        assert_eq!(bytes[4..8], CORE_MODULE_VERSION, "{name} is not a core module");
        Validator::new().validate_all(&bytes).unwrap_or_else(|e| panic!("{name} is not a valid module: {e}"));
        let mut exports = Vec::new();
        let mut imports = Vec::new();
        for payload in Parser::new(0).parse_all(&bytes) {
            match payload.unwrap_or_else(|e| panic!("{name}: {e}")) {
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.unwrap_or_else(|e| panic!("{name}: {e}"));
                        exports.push((export.name.to_string(), export.kind));
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.unwrap_or_else(|e| panic!("{name}: {e}"));
                        imports.push(import.module.to_string());
                    }
                }
                _ => {}
            }
        }
        assert!(
            exports.iter().any(|(e, k)| e == "_start" && *k == ExternalKind::Func),
            "{name} exports {exports:?}, not the function _start"
        );
        assert!(
            imports.iter().all(|m| m == "wasi_snapshot_preview1"),
            "{name} imports from modules other than wasi_snapshot_preview1: {imports:?}"
        );
    }
}

#[test]
fn constants_and_lookup_agree() {
    assert_eq!(outlayer_guest_artifacts::path("echo"), Some(outlayer_guest_artifacts::ECHO));
    assert_eq!(outlayer_guest_artifacts::path("echo-typed"), Some(outlayer_guest_artifacts::ECHO_TYPED));
    assert!(outlayer_guest_artifacts::ECHO.ends_with("/echo.wasm"));
    assert_eq!(outlayer_guest_artifacts::path("no-such-guest"), None);
}

/// `DIR` is the directory `outlayer conformance --guests DIR` takes: every guest as
/// `<name>.wasm`, and nothing else.
#[test]
fn dir_holds_every_guest_by_name() {
    let dir = std::path::Path::new(outlayer_guest_artifacts::DIR);
    for (name, path) in outlayer_guest_artifacts::ALL {
        assert_eq!(std::path::Path::new(path), dir.join(format!("{name}.wasm")));
        assert!(std::path::Path::new(path).is_file(), "{path}");
    }
    let wasm_files = std::fs::read_dir(dir)
        .expect("list DIR")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .count();
    assert_eq!(wasm_files, outlayer_guest_artifacts::ALL.len());
}

#[test]
fn command_guests_export_wasi_cli_run() {
    for name in COMMANDS {
        let exports = top_level_exports(name);
        assert!(
            exports.iter().any(|(e, k)| e.starts_with("wasi:cli/run@0.2") && *k == ComponentExternalKind::Instance),
            "{name} exports {exports:?}, not wasi:cli/run"
        );
    }
}

#[test]
fn typed_guests_export_run() {
    for name in TYPED {
        let exports = top_level_exports(name);
        assert!(
            exports.iter().any(|(e, k)| e == "run" && *k == ComponentExternalKind::Func),
            "{name} exports {exports:?}, not the function run"
        );
    }
}

/// The SDK generates its bindings for the typed world, whose `run` export is only emitted by
/// `export_typed!`: a command guest written with the SDK exports `wasi:cli/run` and nothing
/// else, and a typed one `run` and nothing else.
#[test]
fn sdk_guests_export_only_their_own_world() {
    let names = |guest| -> Vec<String> { top_level_exports(guest).into_iter().map(|(n, _)| n).collect() };
    let command = names("sdk-kv");
    assert!(command.len() == 1 && command[0].starts_with("wasi:cli/run@0.2"), "sdk-kv exports {command:?}");
    assert_eq!(names("sdk-typed-greeter"), ["run"]);
}

/// The names and kinds the outermost component of guest `name` exports.
fn top_level_exports(name: &str) -> Vec<(String, ComponentExternalKind)> {
    let path = outlayer_guest_artifacts::path(name).unwrap_or_else(|| panic!("no guest {name}"));
    let bytes = outlayer_guest_artifacts::read(path);
    let mut depth = 0usize;
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.unwrap_or_else(|e| panic!("{name}: {e}")) {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.unwrap_or_else(|e| panic!("{name}: {e}"));
                    exports.push((export.name.name.to_string(), export.kind));
                }
            }
            _ => {}
        }
    }
    exports
}

//! Every generated constant points at a WebAssembly component (not a core module) that a host
//! can load, and the typed guests export `run`.

/// Bytes 4..8 of a component: its layer and version (`0x0d 0x00 0x01 0x00`).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
/// Bytes 4..8 of a core module (version 1).
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Guests that the tests of the host and the SDK rely on.
const EXPECTED: &[&str] = &[
    "echo",
    "big-input",
    "loop-forever",
    "memory-bomb",
    "stack-overflow",
    "output-flood",
    "stderr-flood",
    "sleep-forever",
    "trap",
    "panic",
    "exit-code",
];

/// Typed guests: they export the world-level function `run`.
const TYPED: &[&str] = &[];

#[test]
fn every_expected_guest_is_built() {
    for name in EXPECTED.iter().chain(TYPED) {
        assert!(
            outlayer_guest_artifacts::path(name).is_some(),
            "guest {name} missing from ALL: {:?}",
            outlayer_guest_artifacts::ALL
        );
    }
}

#[test]
fn every_guest_is_a_component() {
    assert!(!outlayer_guest_artifacts::ALL.is_empty());
    for (name, path) in outlayer_guest_artifacts::ALL {
        assert!(path.ends_with(".wasm"), "{name}: {path}");
        let bytes = outlayer_guest_artifacts::read(path);
        assert_eq!(&bytes[0..4], b"\0asm", "{name} is not wasm: {path}");
        assert_ne!(bytes[4..8], CORE_MODULE_VERSION, "{name} is a core module, not a component");
        assert_eq!(bytes[4..8], COMPONENT_VERSION, "{name} is not a component");
    }
}

#[test]
fn constants_match_all() {
    assert_eq!(outlayer_guest_artifacts::path("echo"), Some(outlayer_guest_artifacts::ECHO));
    assert!(outlayer_guest_artifacts::ECHO.ends_with("/echo.wasm"));
    assert_eq!(outlayer_guest_artifacts::path("no-such-guest"), None);
}

#[test]
fn typed_guests_export_run() {
    for name in TYPED {
        let bytes = outlayer_guest_artifacts::read(outlayer_guest_artifacts::path(name).unwrap());
        assert!(contains(&bytes, b"run"), "{name} does not mention an export named run");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

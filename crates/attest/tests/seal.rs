//! The sealing format v1: round trips, every refusal, and the test vectors of docs/secrets.md.

use outlayer_attest::seal::{self, OVERHEAD, SealError, VERSION};

const SCOPE: &str = "project:demo/secret:API_KEY";

fn recipient_secret() -> [u8; 32] {
    std::array::from_fn(|i| i as u8 + 1) // 01 02 … 20
}

fn ephemeral_secret() -> [u8; 32] {
    std::array::from_fn(|i| i as u8 + 0x21) // 21 22 … 40
}

/// The vectors printed in docs/secrets.md ("Sealing format v1"); reproduced there independently
/// with Python's `cryptography`.
#[test]
fn test_vectors_are_byte_exact() {
    let r = recipient_secret();
    assert_eq!(hex::encode(r), "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
    let public = seal::public_key(&r);
    assert_eq!(hex::encode(public), "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c");
    assert_eq!(hex::encode(seal::public_key(&ephemeral_secret())), "5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b");

    let sealed = seal::seal_with_ephemeral(&public, SCOPE, b"hello, outlayer", ephemeral_secret()).unwrap();
    assert_eq!(
        hex::encode(&sealed),
        "015869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b38ab630af84baa29d2a57aad8c2035bb4ed0ea6e395e29f5958960f00ad3d3"
    );
    assert_eq!(seal::open(&r, SCOPE, &sealed).unwrap(), b"hello, outlayer");

    let empty = seal::seal_with_ephemeral(&public, "", b"", ephemeral_secret()).unwrap();
    assert_eq!(hex::encode(&empty), "015869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b797408bfea3c2d04ed58f44ffac2d563");
    assert_eq!(empty.len(), OVERHEAD);
    assert_eq!(seal::open(&r, "", &empty).unwrap(), b"");
}

#[test]
fn round_trip_with_fresh_ephemeral_keys() {
    let r = recipient_secret();
    let public = seal::public_key(&r);
    for plaintext in [&b""[..], b"x", &[0xa5; 10_000][..]] {
        let a = seal::seal(&public, SCOPE, plaintext).unwrap();
        let b = seal::seal(&public, SCOPE, plaintext).unwrap();
        assert_eq!(a.len(), plaintext.len() + OVERHEAD);
        assert_eq!(a[0], VERSION);
        assert_ne!(a, b, "each seal draws a new ephemeral key");
        assert_eq!(seal::open(&r, SCOPE, &a).unwrap(), plaintext);
        assert_eq!(seal::open(&r, SCOPE, &b).unwrap(), plaintext);
    }
}

#[test]
fn wrong_scope_or_key_cannot_decrypt() {
    let r = recipient_secret();
    let sealed = seal::seal(&seal::public_key(&r), SCOPE, b"secret").unwrap();
    for scope in ["project:demo/secret:API_KEY2", "project:other/secret:API_KEY", "", "project:demo/secret:api_key"] {
        assert_eq!(seal::open(&r, scope, &sealed), Err(SealError::Decrypt), "scope {scope:?}");
    }
    let mut other = r;
    other[0] ^= 0x80; // a bit X25519 clamping does not clear
    assert_eq!(seal::open(&other, SCOPE, &sealed), Err(SealError::Decrypt));
    assert_eq!(seal::open(&[7; 32], SCOPE, &sealed), Err(SealError::Decrypt));
}

#[test]
fn any_flipped_byte_is_refused() {
    let r = recipient_secret();
    let sealed = seal::seal(&seal::public_key(&r), SCOPE, b"hello, outlayer").unwrap();
    for i in 0..sealed.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = sealed.clone();
            bad[i] ^= flip;
            let err = seal::open(&r, SCOPE, &bad).unwrap_err();
            if i == 0 {
                assert_eq!(err, SealError::UnsupportedVersion(VERSION ^ flip));
            } else {
                assert_eq!(err, SealError::Decrypt, "byte {i} ^ {flip:#x}");
            }
        }
    }
}

#[test]
fn truncated_values_are_too_short() {
    let r = recipient_secret();
    let sealed = seal::seal(&seal::public_key(&r), SCOPE, b"hi").unwrap();
    assert_eq!(seal::open(&r, SCOPE, &[]), Err(SealError::TooShort { len: 0 }));
    for len in 1..OVERHEAD {
        assert_eq!(seal::open(&r, SCOPE, &sealed[..len]), Err(SealError::TooShort { len }), "len {len}");
    }
    // Long enough to parse but cut: the tag no longer matches.
    assert_eq!(seal::open(&r, SCOPE, &sealed[..sealed.len() - 1]), Err(SealError::Decrypt));
}

#[test]
fn other_versions_are_unsupported() {
    let r = recipient_secret();
    let mut sealed = seal::seal(&seal::public_key(&r), SCOPE, b"hi").unwrap();
    sealed[0] = 2;
    assert_eq!(seal::open(&r, SCOPE, &sealed), Err(SealError::UnsupportedVersion(2)));
    assert_eq!(seal::open(&r, SCOPE, &[2]), Err(SealError::UnsupportedVersion(2)));
    assert_eq!(seal::open(&r, SCOPE, &[0; 100]), Err(SealError::UnsupportedVersion(0)));
}

/// The u-coordinates of the low-order points of Curve25519 (and the non-canonical encodings of
/// 0 and 1): X25519 with any of them gives an all-zero shared secret.
fn low_order_points() -> Vec<[u8; 32]> {
    let mut points = vec![[0u8; 32]];
    let mut one = [0u8; 32];
    one[0] = 1;
    points.push(one);
    for h in [
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p − 1
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p (= 0)
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p + 1 (= 1)
    ] {
        points.push(hex::decode(h).unwrap().try_into().unwrap());
    }
    points
}

#[test]
fn low_order_recipient_keys_are_refused() {
    for key in low_order_points() {
        assert_eq!(seal::seal(&key, SCOPE, b"secret"), Err(SealError::LowOrderKey), "{}", hex::encode(key));
        assert_eq!(seal::seal_with_ephemeral(&key, SCOPE, b"secret", ephemeral_secret()), Err(SealError::LowOrderKey));
    }
}

#[test]
fn a_low_order_ephemeral_key_is_just_a_forgery() {
    let r = recipient_secret();
    let sealed = seal::seal(&seal::public_key(&r), SCOPE, b"hi").unwrap();
    for key in low_order_points() {
        let mut forged = sealed.clone();
        forged[1..33].copy_from_slice(&key);
        assert_eq!(seal::open(&r, SCOPE, &forged), Err(SealError::Decrypt));
    }
}

#[test]
fn error_codes_and_messages_are_stable() {
    let cases = [
        (SealError::TooShort { len: 3 }, "sealed_too_short"),
        (SealError::UnsupportedVersion(2), "unsupported_version"),
        (SealError::LowOrderKey, "low_order_key"),
        (SealError::Decrypt, "cannot_decrypt"),
    ];
    for (err, code) in cases {
        assert_eq!(err.code(), code);
    }
    assert_eq!(SealError::Decrypt.to_string(), "cannot decrypt: wrong key, wrong scope or tampered");
    assert_eq!(SealError::UnsupportedVersion(2).to_string(), "unsupported sealing format version 2 (supported: 1)");
}

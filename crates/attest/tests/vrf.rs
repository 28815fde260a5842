//! ECVRF-EDWARDS25519-SHA512-TAI against RFC 9381 Appendix B.3, and the ways a proof must fail.

use outlayer_attest::vrf::{OUTPUT_LEN, PROOF_LEN, VrfError, VrfSecretKey, proof_to_hash, verify};

struct Vector {
    sk: &'static str,
    pk: &'static str,
    alpha: &'static str,
    pi: &'static str,
    beta: &'static str,
}

/// RFC 9381 Appendix B.3, Examples 16, 17 and 18.
const RFC_9381_B3: [Vector; 3] = [
    Vector {
        sk: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        pk: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        alpha: "",
        pi: "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
        beta: "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae",
    },
    Vector {
        sk: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        pk: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        alpha: "72",
        pi: "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
        beta: "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031",
    },
    Vector {
        sk: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        pk: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        alpha: "af82",
        pi: "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
        beta: "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f",
    },
];

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn rfc_9381_vectors_prove_hash_and_verify_byte_exact() {
    for v in &RFC_9381_B3 {
        let key = VrfSecretKey::from_seed(arr(v.sk));
        let alpha = hex::decode(v.alpha).unwrap();
        assert_eq!(hex::encode(key.public_key()), v.pk, "PK of {}", v.sk);
        let pi = key.prove(&alpha);
        assert_eq!(hex::encode(pi), v.pi, "pi for alpha {:?}", v.alpha);
        assert_eq!(hex::encode(proof_to_hash(&pi).unwrap()), v.beta, "beta for alpha {:?}", v.alpha);
        let beta = verify(&arr(v.pk), &alpha, &arr::<PROOF_LEN>(v.pi)).unwrap();
        assert_eq!(hex::encode(beta), v.beta);
    }
}

#[test]
fn proof_for_one_alpha_does_not_verify_for_another() {
    let v = &RFC_9381_B3[2];
    let pi: [u8; PROOF_LEN] = arr(v.pi);
    assert_eq!(verify(&arr(v.pk), &[0xaf, 0x83], &pi), Err(VrfError::VerificationFailed));
    assert_eq!(verify(&arr(v.pk), b"", &pi), Err(VrfError::VerificationFailed));
    let key = VrfSecretKey::from_seed([42; 32]);
    let proof = key.prove(b"outlayer-vrf:v2:request-1:seed");
    assert!(verify(&key.public_key(), b"outlayer-vrf:v2:request-1:seed", &proof).is_ok());
    assert_eq!(verify(&key.public_key(), b"outlayer-vrf:v2:request-2:seed", &proof), Err(VrfError::VerificationFailed));
}

#[test]
fn a_flipped_bit_in_any_byte_of_gamma_c_or_s_fails() {
    let v = &RFC_9381_B3[1];
    let (pk, alpha) = (arr(v.pk), hex::decode(v.alpha).unwrap());
    let pi: [u8; PROOF_LEN] = arr(v.pi);
    // One bit in every byte (a different bit position from byte to byte): all 80 bytes, all 8
    // bit positions, fast enough for a debug build.
    for byte in 0..PROOF_LEN {
        let bit = byte * 8 + byte % 8;
        let mut bad = pi;
        bad[bit / 8] ^= 1 << (bit % 8);
        let err = verify(&pk, &alpha, &bad).unwrap_err();
        // A changed Gamma may no longer decode; a changed s may be past the group order; the
        // rest decodes and fails the challenge.
        assert!(matches!(err, VrfError::InvalidProof | VrfError::VerificationFailed), "bit {bit}: {err:?}");
        if (32..48).contains(&(bit / 8)) {
            assert_eq!(err, VrfError::VerificationFailed, "bit {bit} of c");
        }
    }
}

#[test]
fn s_at_or_past_the_group_order_is_refused() {
    let v = &RFC_9381_B3[0];
    let mut pi: [u8; PROOF_LEN] = arr(v.pi);
    pi[48..].copy_from_slice(&[0xff; 32]);
    assert_eq!(verify(&arr(v.pk), b"", &pi), Err(VrfError::InvalidProof));
    assert_eq!(proof_to_hash(&pi), Err(VrfError::InvalidProof));
}

#[test]
fn wrong_public_key_fails() {
    let v = &RFC_9381_B3[0];
    let other = VrfSecretKey::from_seed([1; 32]).public_key();
    assert_eq!(verify(&other, b"", &arr::<PROOF_LEN>(v.pi)), Err(VrfError::VerificationFailed));
    assert_eq!(verify(&arr(RFC_9381_B3[1].pk), b"", &arr::<PROOF_LEN>(v.pi)), Err(VrfError::VerificationFailed));
}

#[test]
fn small_order_and_non_canonical_public_keys_are_refused() {
    let v = &RFC_9381_B3[0];
    let pi: [u8; PROOF_LEN] = arr(v.pi);
    // The identity (order 1), the point of order 2 (y = −1), and a point of order 4 (y = 0).
    let identity = arr("0100000000000000000000000000000000000000000000000000000000000000");
    let order_2 = arr("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    let order_4 = [0u8; 32];
    // A point of order 8 (from the list of small-order encodings used by ed25519 test suites).
    let order_8 = arr("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    for key in [identity, order_2, order_4, order_8] {
        assert_eq!(verify(&key, b"", &pi), Err(VrfError::InvalidPublicKey), "{}", hex::encode(key));
    }
    // All eight points of the torsion subgroup, as curve25519-dalek lists them.
    for point in curve25519_dalek::constants::EIGHT_TORSION {
        let key = point.compress().to_bytes();
        assert_eq!(verify(&key, b"", &pi), Err(VrfError::InvalidPublicKey), "{}", hex::encode(key));
    }
    // y = p + 1 is the identity again, non-canonically encoded; an off-curve y does not decode.
    let non_canonical = arr("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_eq!(verify(&non_canonical, b"", &pi), Err(VrfError::InvalidPublicKey));
    let mut pk_with_sign_flipped: [u8; 32] = arr(v.pk);
    pk_with_sign_flipped[31] ^= 0x80;
    // The negated key is a valid point, so this one decodes and simply fails.
    assert_eq!(verify(&pk_with_sign_flipped, b"", &pi), Err(VrfError::VerificationFailed));
}

#[test]
fn proof_length_is_checked() {
    let v = &RFC_9381_B3[0];
    let pi = hex::decode(v.pi).unwrap();
    assert_eq!(verify(&arr(v.pk), b"", &pi[..79]), Err(VrfError::BadProofLength(79)));
    let mut long = pi.clone();
    long.push(0);
    assert_eq!(verify(&arr(v.pk), b"", &long), Err(VrfError::BadProofLength(81)));
}

#[test]
fn output_is_deterministic_and_key_dependent() {
    let a = VrfSecretKey::from_seed([3; 32]);
    let b = VrfSecretKey::from_seed([4; 32]);
    let pa: [u8; OUTPUT_LEN] = proof_to_hash(&a.prove(b"x")).unwrap();
    assert_eq!(pa, proof_to_hash(&a.prove(b"x")).unwrap());
    assert_ne!(pa, proof_to_hash(&b.prove(b"x")).unwrap());
    assert_ne!(pa, proof_to_hash(&a.prove(b"y")).unwrap());
}

#[test]
fn debug_does_not_show_the_seed() {
    let seed = [0xab; 32];
    let key = VrfSecretKey::from_seed(seed);
    let shown = format!("{key:?}");
    assert!(!shown.contains(&hex::encode(seed)), "{shown}");
    assert!(!shown.contains("171, 171") && !shown.contains("seed"), "{shown}"); // 0xab in decimal
    assert!(shown.contains(&hex::encode(key.public_key())), "{shown}");
}

//! Verifiable randomness bound to the request (`outlayer:vrf/vrf`; needs the `vrf` grant).
//!
//! The host proves `outlayer-vrf:v2:{request-id}:{seed}` with its ECVRF key
//! (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381); the output is the proof's 64-byte hash (`beta`).
//! The same request and seed always give the same output, so a guest cannot roll again, and
//! anyone can verify the proof against the public key (`outlayer verify --vrf`). The SDK has no
//! verifier: a guest trusts the host that runs it anyway, and verification belongs to the
//! parties outside (contracts, clients), so guests do not carry curve arithmetic they never use.
//!
//! ```no_run
//! let die = outlayer_sdk::vrf::roll("die", 1..=6)?;
//! assert!((1..=6).contains(&die));
//! # Ok::<(), outlayer_sdk::Error>(())
//! ```

use crate::Result;
use crate::bindings::outlayer::vrf::vrf as wit;
use std::ops::RangeInclusive;

/// One verifiable random value: `output` (64 bytes, the VRF hash), `proof` (80-byte ECVRF
/// proof), `alpha` (the VRF input) and `public_key` (32 bytes).
pub use wit::Randomness;

impl Randomness {
    /// The output mapped uniformly onto `range` (see [`uniform`]).
    pub fn uniform(&self, range: RangeInclusive<u64>) -> u64 {
        uniform(&self.output, range)
    }
}

/// Randomness for `seed` within this request.
pub fn generate(seed: &str) -> Result<Randomness> {
    Ok(wit::generate(seed)?)
}

/// The ECVRF public key (32 bytes) that proves this worker's randomness.
pub fn public_key() -> Result<Vec<u8>> {
    Ok(wit::public_key()?)
}

/// A number in `range` from the randomness for `seed`: `roll("d6", 1..=6)`.
pub fn roll(seed: &str, range: RangeInclusive<u64>) -> Result<u64> {
    Ok(generate(seed)?.uniform(range))
}

/// Map random bytes onto `range` without the bias of `byte % n`.
///
/// The bytes are read as one big-endian integer and reduced modulo the size of the range. With
/// the 64 bytes of a vrf output that integer is below 2^512, so no value of a range of up to
/// 2^64 numbers is more likely than another by more than 2^-448: unobservable, unlike reducing
/// a single byte (for a die, 1 and 2..4 would come up 43/256 vs 42/256 of the time).
///
/// ```
/// use outlayer_sdk::vrf::uniform;
/// assert_eq!(uniform(&[0; 32], 1..=6), 1);
/// assert_eq!(uniform(&[7], 1..=6), 2); // 7 % 6 = 1
/// assert_eq!(uniform(&[0xff; 32], 5..=5), 5);
/// assert!(uniform(&[0xff; 32], 0..=u64::MAX) > 0);
/// ```
///
/// # Panics
///
/// When `range` is empty.
pub fn uniform(bytes: &[u8], range: RangeInclusive<u64>) -> u64 {
    let (lo, hi) = range.into_inner();
    assert!(lo <= hi, "empty range {lo}..={hi}");
    let span = u128::from(hi - lo) + 1;
    let offset = bytes.iter().fold(0u128, |acc, b| ((acc << 8) | u128::from(*b)) % span);
    lo + offset as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_a_small_range_is_reached_equally_often_over_all_byte_pairs() {
        // All 65536 two-byte inputs: 65536 = 6 * 10922 + 4, so counts differ by at most one.
        let mut counts = [0u32; 6];
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                counts[(uniform(&[a, b], 1..=6) - 1) as usize] += 1;
            }
        }
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(max - min <= 1, "{counts:?}");
    }

    #[test]
    fn full_range_keeps_the_low_64_bits() {
        let mut bytes = [0u8; 32];
        bytes[24..].copy_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
        assert_eq!(uniform(&bytes, 0..=u64::MAX), 0x0123_4567_89ab_cdef);
    }
}

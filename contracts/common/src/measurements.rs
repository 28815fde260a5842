//! The five TDX measurement registers as the contracts store them (hex strings, borsh + JSON),
//! converted to and from `outlayer_attest::Measurements`.

use near_sdk::near;

use crate::attestation::AttestationError;

pub use outlayer_attest::MEASUREMENT_BYTES;

/// One approved set of TDX measurements, each a lowercase hex string of 48 bytes (96 chars).
///
/// A quote matches a set only when all five registers are equal. Kept as strings so the
/// contracts' stored state and JSON stay as they were.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurements {
    /// MRTD: the measurement of the initial TD contents (firmware).
    pub mrtd: String,
    /// RTMR0: firmware configuration.
    pub rtmr0: String,
    /// RTMR1: OS loader / kernel.
    pub rtmr1: String,
    /// RTMR2: kernel command line / initrd.
    pub rtmr2: String,
    /// RTMR3: application (the OutLayer worker or keystore image).
    pub rtmr3: String,
}

impl Measurements {
    /// Returns a copy with every register in lowercase hex, or an error naming the first register
    /// that is not 48 bytes of hex.
    pub fn normalized(&self) -> Result<Self, AttestationError> {
        self.to_attest().map(Self::from)
    }

    /// The typed form `outlayer-attest` verifies against.
    pub fn to_attest(&self) -> Result<outlayer_attest::Measurements, AttestationError> {
        outlayer_attest::Measurements::from_hex(&self.mrtd, &self.rtmr0, &self.rtmr1, &self.rtmr2, &self.rtmr3)
            .map_err(|e| AttestationError::BadMeasurements(e.register.to_string()))
    }

    /// Builds the lowercase-hex set from raw registers.
    pub fn from_registers(mrtd: &[u8; MEASUREMENT_BYTES], rtmrs: [&[u8; MEASUREMENT_BYTES]; 4]) -> Self {
        outlayer_attest::Measurements::from_registers(mrtd, rtmrs).into()
    }
}

impl From<outlayer_attest::Measurements> for Measurements {
    fn from(m: outlayer_attest::Measurements) -> Self {
        Self { mrtd: m.mrtd.to_hex(), rtmr0: m.rtmr0.to_hex(), rtmr1: m.rtmr1.to_hex(), rtmr2: m.rtmr2.to_hex(), rtmr3: m.rtmr3.to_hex() }
    }
}

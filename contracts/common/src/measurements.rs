//! The five TDX measurement registers that identify a worker or keystore image.

use near_sdk::near;

use crate::attestation::AttestationError;

/// Length in bytes of each TDX measurement register (SHA-384).
pub const MEASUREMENT_BYTES: usize = 48;

/// One approved set of TDX measurements, each a lowercase hex string of 48 bytes (96 chars).
///
/// A quote matches a set only when all five registers are equal.
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
        let check = |name: &str, value: &str| -> Result<String, AttestationError> {
            let lower = value.to_ascii_lowercase();
            match hex::decode(&lower) {
                Ok(bytes) if bytes.len() == MEASUREMENT_BYTES => Ok(lower),
                _ => Err(AttestationError::BadMeasurements(name.to_string())),
            }
        };
        Ok(Self {
            mrtd: check("mrtd", &self.mrtd)?,
            rtmr0: check("rtmr0", &self.rtmr0)?,
            rtmr1: check("rtmr1", &self.rtmr1)?,
            rtmr2: check("rtmr2", &self.rtmr2)?,
            rtmr3: check("rtmr3", &self.rtmr3)?,
        })
    }

    /// Builds the lowercase-hex set from raw registers.
    pub fn from_registers(
        mrtd: &[u8; MEASUREMENT_BYTES],
        rtmrs: [&[u8; MEASUREMENT_BYTES]; 4],
    ) -> Self {
        Self {
            mrtd: hex::encode(mrtd),
            rtmr0: hex::encode(rtmrs[0]),
            rtmr1: hex::encode(rtmrs[1]),
            rtmr2: hex::encode(rtmrs[2]),
            rtmr3: hex::encode(rtmrs[3]),
        }
    }
}

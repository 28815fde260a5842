//! `vrf-dice`: rolls a six-sided die with `outlayer:vrf/vrf.generate` and prints the roll with
//! everything needed to verify it:
//! `{"roll":4,"output_hex":"..","proof_hex":"..","alpha":"outlayer-vrf:v2:<request-id>:<seed>","public_key_hex":".."}`.
//!
//! Input: the seed (surrounding whitespace ignored). `roll` = (the first 8 bytes of `output` as
//! a little-endian u64) mod 6 + 1.
//!
//! A host should observe: the same roll for the same request id and seed, `proof` (80-byte
//! ECVRF proof) verifying against `public_key` over `alpha`, `output` = its 64-byte VRF hash;
//! without the vrf grant, exit status failure and stderr `error: Error::Denied`.

use std::io::{self, Read, Write};
use std::process::exit;

use outlayer_guest_bindings::json;
use outlayer_guest_bindings::outlayer::vrf::vrf;

fn main() {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("error: cannot read stdin: {e}");
        exit(2);
    }
    let seed = input.trim();
    let randomness = match vrf::generate(seed) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:?}");
            exit(1);
        }
    };
    let Some(first) = randomness.output.first_chunk::<8>() else {
        eprintln!(
            "error: vrf output has {} bytes, expected 64",
            randomness.output.len()
        );
        exit(1);
    };
    let roll = u64::from_le_bytes(*first) % 6 + 1;
    let mut stdout = io::stdout().lock();
    write!(
        stdout,
        r#"{{"roll":{roll},"output_hex":{},"proof_hex":{},"alpha":{},"public_key_hex":{}}}"#,
        json::string(&json::hex(&randomness.output)),
        json::string(&json::hex(&randomness.proof)),
        json::string(&randomness.alpha),
        json::string(&json::hex(&randomness.public_key)),
    )
    .expect("write stdout");
    stdout.flush().expect("flush stdout");
}

//! `outlayer verify --vrf`: check a vrf proof offline (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381).
//!
//! ```text
//! outlayer verify --vrf --pubkey HEX (--alpha STRING | --request-id ID --seed S) --proof HEX [--output HEX] [--json]
//! ```
//!
//! Exit status as the other verify modes: 0 the proof verifies (and its output is `--output`
//! when given), 1 it does not, 3 usage (bad hex, a public key that is not 32 bytes, alpha given
//! twice or not at all).

use clap::Parser;
use outlayer_attest::vrf::{self, VrfError};

use super::EXIT_USAGE;

/// Exit status: the proof verifies.
const EXIT_PROVEN: u8 = 0;
/// Exit status: the proof (or the expected output) does not verify.
const EXIT_FAILED: u8 = 1;

/// Verify a vrf proof (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381) offline: the guest's
/// `proof_hex`, `public_key_hex` and `alpha` (or the request id and seed the host built it from).
/// Exit status: 0 proven, 1 failed, 3 usage.
#[derive(Parser, Debug)]
#[command(name = "outlayer verify --vrf")]
struct VrfCli {
    /// The VRF public key (32 bytes, hex).
    #[arg(long)]
    pubkey: String,
    /// The VRF input exactly as returned with the randomness (e.g. outlayer-vrf:v2:REQ:SEED).
    #[arg(long, conflicts_with_all = ["request_id", "seed"], required_unless_present = "request_id")]
    alpha: Option<String>,
    /// The request id the randomness was drawn in (alpha = outlayer-vrf:v2:{request id}:{seed}).
    #[arg(long, requires = "seed")]
    request_id: Option<String>,
    /// The seed the guest passed (with --request-id).
    #[arg(long, requires = "request_id")]
    seed: Option<String>,
    /// The proof (80 bytes, hex).
    #[arg(long)]
    proof: String,
    /// The output the guest received (64 bytes, hex): must equal the proof's output.
    #[arg(long)]
    output: Option<String>,
    /// Machine output.
    #[arg(long)]
    json: bool,
}

/// Runs `outlayer verify --vrf ARGS` (`args` without `--vrf`); returns the exit status.
pub fn main(args: Vec<String>) -> u8 {
    let cli = match VrfCli::try_parse_from(std::iter::once("outlayer verify --vrf".to_owned()).chain(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { EXIT_PROVEN };
        }
    };
    match Checked::from_cli(&cli) {
        Ok(checked) => checked.report(cli.json),
        Err(message) => {
            eprintln!("usage error: {message}");
            EXIT_USAGE
        }
    }
}

/// The parsed inputs and the result of the check.
struct Checked {
    public_key: [u8; 32],
    alpha: String,
    result: Result<[u8; vrf::OUTPUT_LEN], VrfError>,
    expected_output: Option<Vec<u8>>,
}

impl Checked {
    fn from_cli(cli: &VrfCli) -> Result<Self, String> {
        let public_key = decode_hex("--pubkey", &cli.pubkey)?;
        let public_key: [u8; 32] =
            public_key.try_into().map_err(|k: Vec<u8>| format!("--pubkey must be 32 bytes (64 hex digits), got {} bytes", k.len()))?;
        let alpha = match (&cli.alpha, &cli.request_id, &cli.seed) {
            (Some(alpha), None, None) => alpha.clone(),
            (None, Some(request_id), Some(seed)) => outlayer_host::caps::vrf::alpha(request_id, seed),
            _ => return Err("give --alpha, or --request-id with --seed".into()),
        };
        let proof = decode_hex("--proof", &cli.proof)?;
        let expected_output = cli.output.as_deref().map(|o| decode_hex("--output", o)).transpose()?;
        let result = vrf::verify(&public_key, alpha.as_bytes(), &proof);
        Ok(Self { public_key, alpha, result, expected_output })
    }

    /// Prints the verdict; returns the exit status.
    fn report(&self, json: bool) -> u8 {
        let (pass, reason) = match (&self.result, &self.expected_output) {
            (Err(e), _) => (false, e.to_string()),
            (Ok(beta), Some(expected)) if expected.as_slice() != beta.as_slice() => {
                (false, "the proof verifies, but its output is not the --output given".to_owned())
            }
            (Ok(_), Some(_)) => (true, "the proof verifies and its output is the --output given".to_owned()),
            (Ok(_), None) => (true, "the proof verifies".to_owned()),
        };
        let output = self.result.as_ref().ok().map(hex::encode);
        if json {
            let value = serde_json::json!({
                "vrf": if pass { "pass" } else { "fail" },
                "suite": "ECVRF-EDWARDS25519-SHA512-TAI",
                "public_key": hex::encode(self.public_key),
                "alpha": self.alpha,
                "output": output,
                "expected_output": self.expected_output.as_ref().map(hex::encode),
                "reason": reason,
            });
            println!("{value}");
        } else {
            println!("VRF {}  {reason}", if pass { "PASS" } else { "FAIL" });
            println!("  suite       ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381)");
            println!("  public key  {}", hex::encode(self.public_key));
            println!("  alpha       {}", self.alpha);
            if let Some(output) = &output {
                println!("  output      {output}");
            }
            if let Some(expected) = &self.expected_output {
                println!("  expected    {}", hex::encode(expected));
            }
        }
        if pass { EXIT_PROVEN } else { EXIT_FAILED }
    }
}

fn decode_hex(flag: &str, value: &str) -> Result<Vec<u8>, String> {
    hex::decode(value.trim()).map_err(|e| format!("{flag} is not hex: {e}"))
}

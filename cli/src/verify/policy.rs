//! The measurement policy from the flags: `--measurements FILE` (the operator's allowlist JSON)
//! or `--register-contract ACCOUNT --rpc URL` (the contract's `get_approved_measurements` view,
//! which returns the same JSON shape, read at the final block).

use anyhow::Context;
use outlayer_attest::Allowlist;
use outlayer_attest::verdict::MeasurementPolicy;
use outlayer_near::{BlockRef, RpcClient};

use super::Common;

/// The register contract's view method returning `[{"mrtd", "rtmr0", …}]`.
pub const APPROVED_MEASUREMENTS_METHOD: &str = "get_approved_measurements";

/// `Ok(None)` when no policy flag is given; `Err` for a file that cannot be read (a usage
/// error); an RPC failure is [`MeasurementPolicy::Unavailable`] (identity unproven).
pub(super) async fn from_flags(common: &Common) -> anyhow::Result<Option<MeasurementPolicy>> {
    if let Some(path) = &common.measurements {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading --measurements {}", path.display()))?;
        let allowlist =
            Allowlist::from_json(&text).with_context(|| format!("--measurements {} is not an allowlist file", path.display()))?;
        return Ok(Some(MeasurementPolicy::Allowlist { source: format!("file {}", path.display()), allowlist }));
    }
    if let (Some(account), Some(rpc)) = (&common.register_contract, &common.rpc) {
        return Ok(Some(register_contract(account, rpc).await));
    }
    Ok(None)
}

async fn register_contract(account: &str, rpc: &str) -> MeasurementPolicy {
    let source = format!("register contract {account} via {rpc}");
    let client = RpcClient::new(rpc);
    match client.view_call(&BlockRef::Final, account, APPROVED_MEASUREMENTS_METHOD, b"{}").await {
        Ok(view) => match view.json::<Allowlist>() {
            Ok(allowlist) => {
                MeasurementPolicy::Allowlist { source: format!("{source} at block {} ({})", view.block_height, view.block_hash), allowlist }
            }
            Err(e) => MeasurementPolicy::Unavailable {
                source,
                reason: format!("{APPROVED_MEASUREMENTS_METHOD} returned an unexpected shape: {e}"),
            },
        },
        Err(e) => MeasurementPolicy::Unavailable { source, reason: format!("{APPROVED_MEASUREMENTS_METHOD}: {e}") },
    }
}

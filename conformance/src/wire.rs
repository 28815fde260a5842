//! The JSON a conformance host receives and answers: one execution per request.
//!
//! Over HTTP this is `POST {url}/conformance/run` with a [`CaseRequest`] body, answered by
//! `200 OK` with a [`CaseResult`] body (any other status is a host failure, its body the reason).
//! The same types are what [`crate::ConformanceHost::run`] takes and returns in process.

use outlayer_host::caps::payment::Currency;
use outlayer_host::{ExecutionContext, Limits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One execution to run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseRequest {
    /// The component or core module (binary wasm).
    #[serde(rename = "wasm_base64", with = "b64")]
    pub wasm: Vec<u8>,
    /// The input bytes (stdin of a command, the argument of a typed guest's `run`).
    #[serde(rename = "input_base64", with = "b64")]
    pub input: Vec<u8>,
    /// The capabilities granted and how to back them; absent = denied.
    #[serde(default)]
    pub grants: GrantsSpec,
    /// The execution's limits (`outlayer_host::Limits` JSON; `max_wall` in milliseconds; missing
    /// fields take the host's defaults).
    #[serde(default)]
    pub limits: Limits,
    /// Facts about the execution (`outlayer_host::ExecutionContext` JSON).
    #[serde(default)]
    pub context: ExecutionContext,
}

/// Grants, described as data so that a remote host can build them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GrantsSpec {
    /// Storage on a fresh in-memory backend named `store`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    /// Secret name → value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, String>>,
    /// NEAR RPC through the node at `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<RpcSpec>,
    /// The payment attached to the execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentSpec>,
    /// Randomness signed by the key with this seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<VrfSpec>,
    /// Outbound HTTP (`wasi:http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSpec>,
}

/// Http grant: the allowlist, and the suite's local test server to admit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HttpSpec {
    /// Allowlist entries (`api.example.com`, `*.example.org`, `:port`, `http://` prefix).
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// TEST-ONLY: loopback `ip:port`s admitted despite the SSRF rules (the suite's test server,
    /// on the machine of the host). A host refuses any address that is not loopback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admit_loopback_for_tests: Vec<std::net::SocketAddr>,
}

/// Storage backed by an in-memory store kept by the host under the name `store`: requests with
/// the same name share the data (the steps of one case), a new name starts empty.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StorageSpec {
    /// Name of the host-side memory store.
    pub store: String,
    /// Entries written into the store before the execution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed: Vec<SeedEntry>,
}

/// One pre-seeded storage entry, addressed the way the guest addresses it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedEntry {
    /// `caller` (the execution's caller, or the anonymous caller) or `component`.
    pub scope: SeedScope,
    /// The key, as the guest names it.
    pub key: String,
    /// The value as UTF-8 text.
    #[serde(default)]
    pub value: String,
    /// The value as a little-endian i64 (what `increment` reads); wins over `value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer: Option<i64>,
}

impl SeedEntry {
    /// The bytes to store.
    pub fn bytes(&self) -> Vec<u8> {
        match self.integer {
            Some(n) => n.to_le_bytes().to_vec(),
            None => self.value.as_bytes().to_vec(),
        }
    }
}

/// Whose data a seed entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedScope {
    /// The execution's caller.
    Caller,
    /// The component's own data.
    Component,
}

/// NEAR RPC grant: the JSON-RPC endpoint the host forwards to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RpcSpec {
    /// The JSON-RPC endpoint.
    pub url: String,
}

/// Payment grant. Amounts are decimal strings in the currency's unit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PaymentSpec {
    /// `usd-micro` or `yocto-near`.
    pub currency: Currency,
    /// Deposit attached for the guest.
    pub attached: String,
    /// The most the execution may cost.
    pub budget: String,
}

/// Vrf grant: the ECVRF key (RFC 9381, edwards25519) whose 32-byte secret seed is `key_seed_hex`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VrfSpec {
    /// 32 bytes of hex.
    pub key_seed_hex: String,
}

/// What the host observed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseResult {
    /// The execution report as JSON: `outcome` (kebab-case kind) and its fields, `instructions`,
    /// `wall_ms`, `peak_memory_bytes`, `refund` (decimal string or null), `wasm_hash`,
    /// `host_calls.{storage,secrets,rpc,payment,vrf}.{calls,denied,over_budget}`.
    pub report: serde_json::Value,
    /// The output (stdout of a command, the returned bytes of a typed guest).
    #[serde(rename = "output_base64", with = "b64")]
    pub output: Vec<u8>,
    /// The guest's log.
    #[serde(rename = "stderr_base64", with = "b64")]
    pub stderr: Vec<u8>,
}

impl CaseResult {
    /// The outcome kind (`ok`, `denied`, ...), empty when the report has none.
    pub fn outcome(&self) -> &str {
        self.report["outcome"].as_str().unwrap_or("")
    }

    /// Instructions the report says were used (0 when absent).
    pub fn instructions(&self) -> u64 {
        self.report["instructions"].as_u64().unwrap_or(0)
    }
}

/// Standard base64 for byte fields.
mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

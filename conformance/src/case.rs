//! A case on disk: `cases/<name>/case.toml` (format in `conformance/README.md`).

use crate::wire::{PaymentSpec, SeedEntry, VrfSpec};
use outlayer_host::{ExecutionContext, Limits};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest file of a case folder.
pub const MANIFEST: &str = "case.toml";

/// Largest input a case may generate with `input_repeat` (bigger than every host's input cap).
pub const MAX_GENERATED_INPUT_BYTES: usize = 128 << 20;

/// One case, loaded from its folder.
#[derive(Clone, Debug)]
pub struct Case {
    /// The folder name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// The parsed `case.toml`.
    pub manifest: Manifest,
}

/// `case.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What the case shows, in one sentence.
    pub description: String,
    /// A guest by name (`guests/<name>/`), read from the suite's guests directory.
    #[serde(default)]
    pub guest: Option<String>,
    /// Or a file in the case folder: `.wat` (compiled by the suite) or `.wasm`.
    #[serde(default)]
    pub module: Option<String>,
    /// The execution context of every step (`outlayer_host::ExecutionContext` fields).
    #[serde(default)]
    pub context: ExecutionContext,
    /// Capabilities granted to every step; absent = denied.
    #[serde(default)]
    pub grants: CaseGrants,
    /// Limits of every step (`outlayer_host::Limits` fields; `max_wall` in ms).
    #[serde(default)]
    pub limits: Limits,
    /// A local HTTP server the runner starts for this case (see [`crate::http_server`]).
    #[serde(default)]
    pub http_server: Option<HttpServerSpec>,
    /// The executions, run in order; storage persists from one to the next.
    pub run: Vec<Step>,
}

/// `[http_server]`: the routes of the case's local HTTP server.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerSpec {
    /// `[[http_server.route]]`, matched in order by path (and method when given).
    #[serde(default)]
    pub route: Vec<RouteSpec>,
}

/// One route of the test server.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// The exact path (`/hello`).
    pub path: String,
    /// Only this method (`GET`, `POST`, ...); any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// The status (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    #[serde(default)]
    pub body: Option<String>,
    /// Or a body of `text` repeated `count` times.
    #[serde(default)]
    pub body_repeat: Option<Repeat>,
    /// Or the request echoed as JSON: `{"method", "path", "headers" (`x-*` and content-type),
    /// "body" (text), "json" (the body parsed, or null)}`.
    #[serde(default)]
    pub echo: bool,
    /// Wait this long before answering (a very large value: a server that never answers).
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// Grants as written in a manifest.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseGrants {
    /// Storage on a fresh in-memory store for this case.
    #[serde(default)]
    pub storage: Option<StorageGrantSpec>,
    /// Secret name → value.
    #[serde(default)]
    pub secrets: Option<BTreeMap<String, String>>,
    /// NEAR RPC.
    #[serde(default)]
    pub rpc: Option<RpcGrantSpec>,
    #[serde(default)]
    /// The payment attached.
    pub payment: Option<PaymentSpec>,
    #[serde(default)]
    /// Randomness signed by the key with this seed.
    pub vrf: Option<VrfSpec>,
    /// Outbound HTTP to the hosts of `allow`.
    #[serde(default)]
    pub http: Option<HttpGrantSpec>,
}

/// `[grants.http]`: the allowlist (`{http_server}` stands for the case's test server, which is
/// then admitted with the test-only loopback setting).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGrantSpec {
    /// Allowlist entries (`outlayer_protocol::http` rules).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `[grants.storage]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageGrantSpec {
    /// Entries present before the first step.
    #[serde(default)]
    pub seed: Vec<SeedEntry>,
}

/// `[grants.rpc]`: `node = "recorded"` (the suite's recorded node) or `url = "..."`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcGrantSpec {
    #[serde(default)]
    /// `recorded`: the suite's recorded NEAR node.
    pub node: Option<String>,
    #[serde(default)]
    /// Any JSON-RPC endpoint.
    pub url: Option<String>,
}

/// One execution and what must be observed.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Runs this guest (by name) instead of the case's, on the same storage.
    #[serde(default)]
    pub guest: Option<String>,
    /// Input as UTF-8 text.
    #[serde(default)]
    pub input: Option<String>,
    /// Input from a file in the case folder.
    #[serde(default)]
    pub input_file: Option<String>,
    /// Input made of `text` repeated `count` times.
    #[serde(default)]
    pub input_repeat: Option<Repeat>,
    /// Replaces the case's context for this step (e.g. another caller).
    #[serde(default)]
    pub context: Option<ExecutionContext>,
    /// What must be observed.
    pub expect: Expect,
}

/// Generated input.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// The text to repeat.
    pub text: String,
    /// How many times.
    pub count: usize,
}

/// What a user must observe. Every field present is checked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The outcome kind: `ok`, `out-of-instructions`, `timeout`, `memory-limit`, `table-limit`,
    /// `output-too-large`, `input-too-large`, `trap`, `exit`, `guest-error`, `denied`.
    pub outcome: String,
    /// A subset of the report JSON (outcome fields, `refund`, `host_calls`, ...).
    #[serde(default)]
    pub report: Option<serde_json::Value>,
    /// For `trap` and `denied`: text the outcome's message contains.
    #[serde(default)]
    pub message_contains: Option<String>,
    /// The exact output, as UTF-8 text.
    #[serde(default)]
    pub output: Option<String>,
    /// Texts the output contains.
    #[serde(default)]
    pub output_contains: Vec<String>,
    /// The output parses as JSON and contains this subset.
    #[serde(default)]
    pub output_json: Option<serde_json::Value>,
    /// The output's length in bytes is at most this.
    #[serde(default)]
    pub output_max_bytes: Option<u64>,
    /// Texts stderr contains.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// Bounds on reported numbers (`instructions`, `peak_memory_bytes`), inclusive.
    #[serde(default)]
    pub min: BTreeMap<String, u64>,
    #[serde(default)]
    /// Upper bounds, like `min`.
    pub max: BTreeMap<String, u64>,
}

/// A case folder that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{path}: {source}")]
    /// A file of the case could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    /// The manifest is invalid (the message says how).
    Manifest {
        /// The manifest or module file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Case {
    /// Load the case in `dir`.
    pub fn load(dir: &Path) -> Result<Case, CaseError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|source| CaseError::Io { path: path.clone(), source })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| CaseError::Manifest { path: path.clone(), message: e.to_string() })?;
        if manifest.guest.is_some() == manifest.module.is_some() {
            return Err(CaseError::Manifest { path, message: "give exactly one of `guest` and `module`".into() });
        }
        if manifest.run.is_empty() {
            return Err(CaseError::Manifest { path, message: "no [[run]] step".into() });
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Case { name, dir: dir.to_path_buf(), manifest })
    }

    /// The case folders under `cases_dir` (every folder holding a `case.toml`), sorted by name.
    pub fn folders(cases_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut dirs: Vec<PathBuf> =
            std::fs::read_dir(cases_dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(MANIFEST).is_file()).collect();
        dirs.sort();
        Ok(dirs)
    }

    /// The wasm bytes of the case's guest (from the directory `guests`, see
    /// [`crate::guests::guest_file`]) or module.
    pub fn wasm(&self, guests: &Path) -> Result<Vec<u8>, CaseError> {
        match &self.manifest.guest {
            Some(name) => self.guest_wasm(name, guests),
            None => self.module_wasm(),
        }
    }

    /// The wasm bytes of the guest `name`, read from the directory `guests`.
    pub fn guest_wasm(&self, name: &str, guests: &Path) -> Result<Vec<u8>, CaseError> {
        let path = crate::guests::guest_file(guests, name).ok_or_else(|| CaseError::Manifest {
            path: self.dir.join(MANIFEST),
            message: format!("no guest named {name:?} in {}", guests.display()),
        })?;
        std::fs::read(&path).map_err(|source| CaseError::Io { path, source })
    }

    fn module_wasm(&self) -> Result<Vec<u8>, CaseError> {
        let file = self.dir.join(self.manifest.module.as_deref().unwrap_or_default());
        let bytes = std::fs::read(&file).map_err(|source| CaseError::Io { path: file.clone(), source })?;
        if file.extension().is_some_and(|e| e == "wat") {
            return wat::parse_bytes(&bytes)
                .map(|b| b.into_owned())
                .map_err(|e| CaseError::Manifest { path: file, message: e.to_string() });
        }
        Ok(bytes)
    }

    /// The input bytes of `step`.
    pub fn input(&self, step: &Step) -> Result<Vec<u8>, CaseError> {
        let path = self.dir.join(MANIFEST);
        let given = [step.input.is_some(), step.input_file.is_some(), step.input_repeat.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(CaseError::Manifest { path, message: "give at most one of input, input_file, input_repeat".into() });
        }
        if let Some(text) = &step.input {
            return Ok(text.as_bytes().to_vec());
        }
        if let Some(file) = &step.input_file {
            let file = self.dir.join(file);
            return std::fs::read(&file).map_err(|source| CaseError::Io { path: file, source });
        }
        if let Some(r) = &step.input_repeat {
            if r.text.len().saturating_mul(r.count) > MAX_GENERATED_INPUT_BYTES {
                return Err(CaseError::Manifest { path, message: format!("input_repeat above {MAX_GENERATED_INPUT_BYTES} bytes") });
            }
            return Ok(r.text.repeat(r.count).into_bytes());
        }
        Ok(Vec::new())
    }
}

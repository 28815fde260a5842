//! Secrets and the keystore's wire model: who may read sealed secrets ([`SecretAccessor`],
//! [`SecretScope`], [`AccessCondition`]), how a worker proves a job is its own ([`Ticket`],
//! [`JobProof`]) and the keystore's request and answer bodies.
//!
//! The sealing itself (X25519 + HKDF-SHA256 + ChaCha20-Poly1305) is `outlayer_attest::seal`;
//! the format and the whole flow are specified in `docs/secrets.md`.
//!
//! ```
//! use outlayer_protocol::secrets::{SecretAccessor, SecretScope};
//! let scope: SecretScope = "project:alice.near/demo|alice.near|default".parse().unwrap();
//! assert_eq!(scope.accessor, SecretAccessor::Project { project_id: "alice.near/demo".into() });
//! assert_eq!(scope.to_string(), "project:alice.near/demo|alice.near|default");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use outlayer_attest::{Challenge, Evidence};
use serde::{Deserialize, Serialize};

/// Longest profile name.
pub const MAX_PROFILE_BYTES: usize = 64;
/// Largest sealed secrets blob (the contract's limit too).
pub const MAX_SEALED_BYTES: usize = 16 * 1024;
/// Deepest access-condition tree.
pub const MAX_CONDITION_DEPTH: usize = 8;
/// Most nodes in an access-condition tree.
pub const MAX_CONDITION_NODES: usize = 64;
/// Most accounts in one whitelist.
pub const MAX_WHITELIST_ACCOUNTS: usize = 100;
/// The only ticket format.
pub const TICKET_VERSION: u8 = 1;
/// Domain of a ticket signature: `TICKET_DOMAIN || json(ticket)`.
pub const TICKET_DOMAIN: &[u8] = b"outlayer-ticket:v1:";
/// Domain of a session-key signature: `SESSION_DOMAIN || session_key || challenge`.
pub const SESSION_DOMAIN: &[u8] = b"outlayer-keystore-session:v1:";

/// Which code may receive secrets: any version of a project, or one exact component. The JSON
/// is the `outlayer` contract's (`{"project": {"project_id": "alice.near/demo"}}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretAccessor {
    /// Any version of a project.
    Project {
        /// `owner/name`.
        project_id: String,
    },
    /// One exact component.
    Wasm {
        /// Lowercase hex sha256.
        sha256: String,
    },
}

impl fmt::Display for SecretAccessor {
    /// `project:{owner}/{name}` or `wasm:{sha256}`: the context the sealing key is derived for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Project { project_id } => write!(f, "project:{project_id}"),
            Self::Wasm { sha256 } => write!(f, "wasm:{sha256}"),
        }
    }
}

/// Why a scope or accessor string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid secret scope: {0}")]
pub struct ScopeError(pub String);

impl FromStr for SecretAccessor {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, ScopeError> {
        let bad = |why: &str| ScopeError(format!("{s:?}: {why}"));
        if let Some(id) = s.strip_prefix("project:") {
            let (owner, name) = id.split_once('/').ok_or_else(|| bad("a project accessor is project:{owner}/{name}"))?;
            if owner.is_empty() || name.is_empty() || name.contains('/') || !clean(id) {
                return Err(bad("a project accessor is project:{owner}/{name}, printable, without '|' or '@'"));
            }
            Ok(Self::Project { project_id: id.to_owned() })
        } else if let Some(sha) = s.strip_prefix("wasm:") {
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("a wasm accessor is wasm:{64 hex digits of sha256}"));
            }
            Ok(Self::Wasm { sha256: sha.to_ascii_lowercase() })
        } else {
            Err(bad("expected project:{owner}/{name} or wasm:{sha256}"))
        }
    }
}

fn clean(s: &str) -> bool {
    s.len() <= 200 && s.chars().all(|c| c.is_ascii_graphic() && c != '|')
}

/// Which secrets a job reads: the record of `account_id` under `profile` (OutLayer's
/// `secrets_ref`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretsRef {
    /// Profile name (`default`, `prod`, ...).
    pub profile: String,
    /// The account that stored the secrets.
    pub account_id: String,
}

impl SecretsRef {
    /// Checks lengths and characters (the contract's rules: 1–64 bytes, no `|`).
    pub fn validate(&self) -> Result<(), ScopeError> {
        check_profile(&self.profile)?;
        if self.account_id.is_empty() || !clean(&self.account_id) {
            return Err(ScopeError(format!("{:?}: not an account id", self.account_id)));
        }
        Ok(())
    }
}

fn check_profile(profile: &str) -> Result<(), ScopeError> {
    if profile.is_empty() || profile.len() > MAX_PROFILE_BYTES || !clean(profile) {
        return Err(ScopeError(format!("profile {profile:?} must be 1-{MAX_PROFILE_BYTES} printable characters without '|'")));
    }
    Ok(())
}

/// What a sealed secrets blob is bound to: the code that may read it, the account that stored
/// it and the profile. Its string, `{accessor}|{account_id}|{profile}`, is the sealing's
/// associated data, so a blob moved to another project, account or profile does not open.
/// The sealing key is derived for the accessor alone ([`SecretAccessor`]'s string).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretScope {
    /// The code that may read it.
    pub accessor: SecretAccessor,
    /// The account that stored it.
    pub account_id: String,
    /// The profile.
    pub profile: String,
}

impl SecretScope {
    /// The scope of `reference` for `accessor`.
    pub fn new(accessor: SecretAccessor, reference: &SecretsRef) -> Self {
        Self { accessor, account_id: reference.account_id.clone(), profile: reference.profile.clone() }
    }
}

impl fmt::Display for SecretScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}|{}", self.accessor, self.account_id, self.profile)
    }
}

impl FromStr for SecretScope {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, ScopeError> {
        let mut parts = s.split('|');
        let (Some(accessor), Some(account_id), Some(profile), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(ScopeError(format!("{s:?}: a scope is {{accessor}}|{{account_id}}|{{profile}}")));
        };
        let scope = Self { accessor: accessor.parse()?, account_id: account_id.to_owned(), profile: profile.to_owned() };
        SecretsRef { profile: scope.profile.clone(), account_id: scope.account_id.clone() }.validate()?;
        Ok(scope)
    }
}

/// Who may use secrets, evaluated by the keystore for the account a job runs for. The JSON is
/// the `outlayer` contract's (`{"type": "near_balance", "min": "1000"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AccessCondition {
    /// Anyone.
    AllowAll,
    /// Only these accounts.
    Whitelist {
        /// Allowed accounts.
        accounts: Vec<String>,
    },
    /// Accounts matching a glob where `*` matches any run of characters (`*.alice.near`).
    AccountPattern {
        /// The glob.
        pattern: String,
    },
    /// Accounts holding at least `min` yoctoNEAR.
    NearBalance {
        /// Minimum balance (decimal string).
        #[serde(with = "crate::u128_str")]
        min: u128,
    },
    /// Accounts holding at least `min` of the NEP-141 token `contract`.
    FtBalance {
        /// Token contract.
        contract: String,
        /// Minimum balance in the token's smallest unit (decimal string).
        #[serde(with = "crate::u128_str")]
        min: u128,
    },
    /// Accounts owning an NFT of `contract` (a given `token_id`, or any).
    NftOwned {
        /// NEP-171 contract.
        contract: String,
        /// Specific token, or any token of the contract.
        #[serde(default)]
        token_id: Option<String>,
    },
    /// All conditions hold.
    And {
        /// Operands.
        conditions: Vec<AccessCondition>,
    },
    /// At least one holds.
    Or {
        /// Operands.
        conditions: Vec<AccessCondition>,
    },
    /// The condition does not hold.
    Not {
        /// Operand.
        condition: Box<AccessCondition>,
    },
}

impl AccessCondition {
    /// The contract's checks: at most [`MAX_CONDITION_DEPTH`] deep and [`MAX_CONDITION_NODES`]
    /// nodes, non-empty whitelists (≤ [`MAX_WHITELIST_ACCOUNTS`]) and operand lists, patterns of
    /// 1–64 characters.
    pub fn validate(&self) -> Result<(), ScopeError> {
        let mut nodes = 0;
        self.walk(1, &mut nodes)
    }

    fn walk(&self, depth: usize, nodes: &mut usize) -> Result<(), ScopeError> {
        *nodes += 1;
        let bad = |s: String| Err(ScopeError(s));
        if depth > MAX_CONDITION_DEPTH {
            return bad(format!("access condition is deeper than {MAX_CONDITION_DEPTH} levels"));
        }
        if *nodes > MAX_CONDITION_NODES {
            return bad(format!("access condition has more than {MAX_CONDITION_NODES} nodes"));
        }
        match self {
            Self::Whitelist { accounts } if accounts.is_empty() || accounts.len() > MAX_WHITELIST_ACCOUNTS => {
                bad(format!("a whitelist holds 1 to {MAX_WHITELIST_ACCOUNTS} accounts"))
            }
            Self::AccountPattern { pattern } if pattern.is_empty() || pattern.len() > 64 => {
                bad("an account pattern is 1 to 64 characters".into())
            }
            Self::And { conditions } | Self::Or { conditions } => {
                if conditions.is_empty() {
                    return bad("and/or need at least one condition".into());
                }
                conditions.iter().try_for_each(|c| c.walk(depth + 1, nodes))
            }
            Self::Not { condition } => condition.walk(depth + 1, nodes),
            _ => Ok(()),
        }
    }

    /// The condition's kind as in its JSON `type` (`near_balance`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AllowAll => "allow_all",
            Self::Whitelist { .. } => "whitelist",
            Self::AccountPattern { .. } => "account_pattern",
            Self::NearBalance { .. } => "near_balance",
            Self::FtBalance { .. } => "ft_balance",
            Self::NftOwned { .. } => "nft_owned",
            Self::And { .. } => "and",
            Self::Or { .. } => "or",
            Self::Not { .. } => "not",
        }
    }
}

/// A sealed secrets record as the coordinator keeps it for an HTTPS project
/// (`PUT /projects/{owner}/{name}/secrets/{profile}`) and as a ticket carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecrets {
    /// The sealed JSON map (`outlayer_attest::seal`, scope [`SecretScope`]), base64 on the wire.
    #[serde(with = "crate::bytes_b64")]
    pub sealed: Vec<u8>,
    /// Who may use them (default: anyone who may call the project).
    #[serde(default = "allow_all")]
    pub access: AccessCondition,
}

fn allow_all() -> AccessCondition {
    AccessCondition::AllowAll
}

/// The secrets part of a [`Ticket`]: which record, and the record itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSecrets {
    /// The job's `secrets_ref`.
    #[serde(rename = "ref")]
    pub reference: SecretsRef,
    /// The record the coordinator holds for it.
    #[serde(flatten)]
    pub record: SealedSecrets,
}

/// What the coordinator vouches for when a worker asks the keystore for an HTTPS job's keys:
/// this job, of this project and component, runs on this worker until `expires_at_ms`, for
/// `caller`, with these secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// [`TICKET_VERSION`].
    pub version: u8,
    /// The call id.
    pub job_id: String,
    /// `owner/name` of the project (its storage key and `project:` secrets).
    pub project_id: Option<String>,
    /// The component (its `wasm:` secrets).
    pub wasm_sha256: String,
    /// The account access conditions are evaluated for (the payment key's owner).
    pub caller: String,
    /// The worker's ed25519 key, hex: only a session attested for it may use the ticket.
    pub worker_key: String,
    /// Unix ms after which the keystore refuses it.
    pub expires_at_ms: i64,
    /// The job's secrets, when it has a `secrets_ref`.
    pub secrets: Option<TicketSecrets>,
}

impl Ticket {
    /// Signs with the coordinator's ticket key.
    pub fn sign(self, key: &SigningKey) -> SignedTicket {
        let signature = key.sign(&self.signed_bytes());
        SignedTicket { ticket: self, issuer: hex::encode(key.verifying_key().to_bytes()), signature: hex::encode(signature.to_bytes()) }
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = TICKET_DOMAIN.to_vec();
        bytes.extend(serde_json::to_vec(self).expect("a ticket serializes"));
        bytes
    }
}

/// A [`Ticket`] with the coordinator's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTicket {
    /// What is vouched for.
    pub ticket: Ticket,
    /// The issuing coordinator's ed25519 key, hex.
    pub issuer: String,
    /// ed25519 over [`TICKET_DOMAIN`] `||` the ticket's JSON, hex.
    pub signature: String,
}

/// Why a ticket was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not signed by the key the keystore trusts.
    #[error("the ticket is not issued by a trusted coordinator")]
    UntrustedIssuer,
    /// The signature does not verify.
    #[error("the ticket's signature does not verify")]
    BadSignature,
    /// Unknown version.
    #[error("unsupported ticket version {0}")]
    Version(u8),
    /// Past `expires_at_ms`.
    #[error("the ticket expired")]
    Expired,
}

impl SignedTicket {
    /// Checks the signature against `trusted` (the coordinator's key) and the expiry at `now_ms`.
    pub fn verify(&self, trusted: &VerifyingKey, now_ms: i64) -> Result<&Ticket, TicketError> {
        if !self.issuer.eq_ignore_ascii_case(&hex::encode(trusted.to_bytes())) {
            return Err(TicketError::UntrustedIssuer);
        }
        let signature = hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or(TicketError::BadSignature)?;
        trusted.verify(&self.ticket.signed_bytes(), &signature).map_err(|_| TicketError::BadSignature)?;
        if self.ticket.version != TICKET_VERSION {
            return Err(TicketError::Version(self.ticket.version));
        }
        if now_ms > self.ticket.expires_at_ms {
            return Err(TicketError::Expired);
        }
        Ok(&self.ticket)
    }
}

/// `POST /sessions` on the keystore: a worker's attested session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpenSession {
    /// The worker's ed25519 key, hex (bound in the evidence's report data with the challenge).
    pub worker_key: String,
    /// The session's X25519 public key, hex: every answer is sealed to it.
    pub session_key: String,
    /// The challenge from `POST /sessions/challenge`.
    pub challenge: Challenge,
    /// Evidence whose report data is `outlayer_attest::report_data(worker_key, challenge)`.
    pub evidence: Evidence,
    /// ed25519 by `worker_key` over [`SESSION_DOMAIN`] `||` session key `||` challenge bytes, hex.
    pub signature: String,
}

impl OpenSession {
    /// The bytes `signature` signs.
    pub fn signed_bytes(session_key: &[u8; 32], challenge: &Challenge) -> Vec<u8> {
        let mut bytes = SESSION_DOMAIN.to_vec();
        bytes.extend_from_slice(session_key);
        bytes.extend_from_slice(&challenge.to_bytes());
        bytes
    }
}

/// The keystore's answer to [`OpenSession`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOpened {
    /// Quote in every release.
    pub session_id: String,
    /// Unix ms the session ends; open a new one before.
    pub expires_at_ms: i64,
    /// The keystore's VRF public key, hex (`GET /vrf/pubkey`).
    pub vrf_public_key: String,
    /// The VRF key's 32-byte seed, sealed to the session key under scope
    /// `session:{session_id}:vrf`, base64.
    #[serde(with = "crate::bytes_b64")]
    pub sealed_vrf_seed: Vec<u8>,
}

/// How a worker proves a job is its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobProof {
    /// An HTTPS job: the coordinator's ticket.
    Ticket(Box<SignedTicket>),
    /// An on-chain request: the keystore reads it from the contract itself.
    Near {
        /// The contract's request id.
        request_id: u64,
    },
}

/// `POST /release`: the keys of one job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// From [`SessionOpened`].
    pub session_id: String,
    /// Whose job this is.
    pub proof: JobProof,
}

/// The keystore's answer to [`ReleaseRequest`]: [`ReleasedKeys`] as JSON, sealed to the
/// session key under scope `session:{session_id}:job:{job_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The job the keys are for.
    pub job_id: String,
    /// Sealed [`ReleasedKeys`], base64.
    #[serde(with = "crate::bytes_b64")]
    pub sealed: Vec<u8>,
}

/// The plaintext of [`Released`], only ever seen inside the attested worker.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedKeys {
    /// The job.
    pub job_id: String,
    /// The storage key of the job's project (or component), hex.
    pub storage_key: String,
    /// The storage key's context (`project:{owner}/{name}` or `wasm:{sha256}`).
    pub storage_scope: String,
    /// The decrypted secrets, when the job has a `secrets_ref`.
    pub secrets: Option<BTreeMap<String, String>>,
}

impl fmt::Debug for ReleasedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReleasedKeys")
            .field("job_id", &self.job_id)
            .field("storage_scope", &self.storage_scope)
            .field("secrets", &self.secrets.as_ref().map(|s| s.keys().collect::<Vec<_>>()))
            .finish_non_exhaustive()
    }
}

/// `GET /pubkey?accessor=…`: the X25519 key secrets for an accessor are sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealingKey {
    /// The accessor (`project:{owner}/{name}` or `wasm:{sha256}`).
    pub accessor: String,
    /// X25519 public key, hex.
    pub public_key: String,
    /// The sealing format version it expects (`1`).
    pub seal_version: u8,
}

/// `GET /vrf/pubkey`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrfKey {
    /// The VRF public key (an edwards25519 point), hex.
    pub public_key: String,
    /// `ECVRF-EDWARDS25519-SHA512-TAI`.
    pub suite: String,
}

/// `POST /replica/join`: a new keystore asking a running one for the master secret. Both sides
/// attest: the joiner's evidence binds `session_key` and the primary's challenge; the primary
/// answers with evidence binding its sealing key and `joiner_challenge`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaJoin {
    /// The joiner's X25519 key, hex (bound in its evidence).
    pub session_key: String,
    /// The primary's challenge (`POST /replica/challenge`).
    pub challenge: Challenge,
    /// The joiner's evidence: report data = `report_data(session_key, challenge)`.
    pub evidence: Evidence,
    /// A fresh challenge of the joiner's, bound in the primary's answer.
    pub joiner_challenge: Challenge,
}

/// The primary's answer to [`ReplicaJoin`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaMaster {
    /// The master secret sealed to the joiner's session key under scope `replica:v1`, base64.
    /// Its ephemeral public key (bytes 1..33) is what `evidence` binds.
    #[serde(with = "crate::bytes_b64")]
    pub sealed_master: Vec<u8>,
    /// The primary's evidence: report data = `report_data(ephemeral key, joiner_challenge)`.
    pub evidence: Evidence,
    /// The derivation id both must agree on (`hkdf-sha256/v1`).
    pub derivation: String,
}

/// HTTPS project secrets: `PUT /projects/{owner}/{name}/secrets/{profile}` body.
pub type PutSecrets = SealedSecrets;

/// A stored record as `GET /projects/{owner}/{name}/secrets/{profile}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretsRecord {
    /// The profile.
    pub profile: String,
    /// The scope it must be sealed for (`project:{owner}/{name}|{owner}|{profile}`).
    pub scope: String,
    /// The sealed blob and its access condition.
    #[serde(flatten)]
    pub record: SealedSecrets,
    /// sha256 of the sealed blob, hex.
    pub sealed_sha256: String,
    /// Last update, unix ms.
    pub updated_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessor_and_scope_round_trip_and_refuse_garbage() {
        let wasm = format!("wasm:{}", "AB".repeat(32));
        assert_eq!(wasm.parse::<SecretAccessor>().unwrap().to_string(), format!("wasm:{}", "ab".repeat(32)));
        for bad in ["", "project:", "project:a", "project:/b", "project:a/b/c", "wasm:12", "account:x", "project:a|b/c"] {
            assert!(bad.parse::<SecretAccessor>().is_err(), "{bad} accepted");
        }
        for bad in ["project:a/b|acc", "project:a/b|acc|", "project:a/b||p", "project:a/b|a|p|x"] {
            assert!(bad.parse::<SecretScope>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn access_condition_json_is_the_contracts() {
        let json = r#"{"type":"and","conditions":[{"type":"near_balance","min":"1000"},{"type":"not","condition":{"type":"whitelist","accounts":["bob.near"]}},{"type":"nft_owned","contract":"nft.near","token_id":null}]}"#;
        let c: AccessCondition = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), json);
        c.validate().unwrap();
        let mut deep = AccessCondition::AllowAll;
        for _ in 0..MAX_CONDITION_DEPTH {
            deep = AccessCondition::Not { condition: Box::new(deep) };
        }
        assert!(deep.validate().unwrap_err().0.contains("deeper"));
        assert!(AccessCondition::Whitelist { accounts: vec![] }.validate().is_err());
    }

    #[test]
    fn a_ticket_verifies_only_unchanged_unexpired_and_from_the_trusted_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let ticket = Ticket {
            version: TICKET_VERSION,
            job_id: "c1".into(),
            project_id: Some("alice/demo".into()),
            wasm_sha256: "00".repeat(32),
            caller: "alice".into(),
            worker_key: "11".repeat(32),
            expires_at_ms: 1_000,
            secrets: None,
        };
        let signed = ticket.sign(&key);
        assert!(signed.verify(&key.verifying_key(), 999).is_ok());
        assert_eq!(signed.verify(&key.verifying_key(), 1_001).unwrap_err(), TicketError::Expired);
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(signed.verify(&other.verifying_key(), 0).unwrap_err(), TicketError::UntrustedIssuer);
        let mut changed = signed.clone();
        changed.ticket.project_id = Some("mallory/x".into());
        assert_eq!(changed.verify(&key.verifying_key(), 0).unwrap_err(), TicketError::BadSignature);
    }
}

//! Projects (`owner/name`) and their versions (a wasm sha256 plus the URL to fetch it from),
//! and each project's http allowlist (the hosts its guests may reach over `wasi:http` when a
//! worker runs its requests).

use near_sdk::{AccountId, env, near};

use crate::events::Event;
use crate::limits::{MAX_HTTP_ALLOWLIST_ENTRIES, MAX_HTTP_ALLOWLIST_ENTRY_BYTES, MAX_VERSIONS_PER_PROJECT};
use crate::storage::{charge, storage_cost};
use crate::{Contract, ContractExt};

/// One uploaded version of a project.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectVersion {
    /// Lowercase hex sha256 of the component.
    pub wasm_sha256: String,
    /// Where workers download it.
    pub source_url: String,
    /// Block timestamp when added, ns.
    pub added_at_ns: u64,
}

/// A named project owned by an account.
#[near(serializers = [borsh, json])]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// `owner/name`.
    pub project_id: String,
    /// Owner, who adds versions and receives developer payments.
    pub owner: AccountId,
    /// Project name.
    pub name: String,
    /// sha256 of the version run when a request names no version.
    pub active_version: Option<String>,
    /// All versions, oldest first.
    pub versions: Vec<ProjectVersion>,
    /// Hosts the project's guests may reach over http (`set_project_http_allowlist`). Not part
    /// of the stored record (kept in [`Contract::project_http_allowlists`] since state version 2,
    /// so the records stored before keep their layout); filled in by the views.
    #[borsh(skip)]
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// What on-chain workers grant the project's guests besides http and payment
    /// (`set_project_grants`). Not part of the stored record (kept in
    /// [`Contract::project_grants`] since state version 3); filled in by the views.
    #[borsh(skip)]
    #[serde(default)]
    pub grants: ProjectGrants,
}

/// Host interfaces an on-chain worker grants a project's guests (`set_project_grants`); all
/// false until the owner sets them. Http comes from the project's allowlist, payment is always
/// granted.
#[near(serializers = [borsh, json])]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProjectGrants {
    /// `near:storage` (persistent storage per project and caller).
    #[serde(default)]
    pub storage: bool,
    /// `near:rpc` (NEAR RPC proxied by the worker).
    #[serde(default)]
    pub rpc: bool,
    /// `near:vrf` (verifiable randomness).
    #[serde(default)]
    pub vrf: bool,
}

impl Project {
    /// The version with `wasm_sha256`, if any.
    pub fn version(&self, wasm_sha256: &str) -> Option<&ProjectVersion> {
        self.versions.iter().find(|v| v.wasm_sha256 == wasm_sha256)
    }
}

/// Panics unless `hash` is 32 bytes of hex; returns it in lowercase.
pub(crate) fn normalize_sha256(hash: &str) -> String {
    let lower = hash.to_ascii_lowercase();
    if lower.len() != 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        env::panic_str("wasm sha256 must be 64 hex characters");
    }
    lower
}

fn validate_name(name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        env::panic_str("Project name must be 1-64 characters of a-z, 0-9, '-' or '_'");
    }
}

/// `hosts` trimmed, duplicates dropped; panics unless each is a plausible allowlist entry:
/// `host`, `host:port`, `*.domain` or `*.domain:port` (an IP literal in brackets for IPv6),
/// optionally prefixed with `http://` or `https://`, with no path, user or query. Only a minimal
/// check: workers parse the entries again with the host's rules and skip those they refuse.
pub(crate) fn validate_http_allowlist(hosts: Vec<String>) -> Vec<String> {
    if hosts.len() > MAX_HTTP_ALLOWLIST_ENTRIES {
        env::panic_str(&format!("An http allowlist holds at most {MAX_HTTP_ALLOWLIST_ENTRIES} entries"));
    }
    let mut kept: Vec<String> = Vec::with_capacity(hosts.len());
    for entry in hosts {
        let entry = entry.trim().to_owned();
        if let Err(reason) = check_http_entry(&entry) {
            env::panic_str(&format!("Invalid http allowlist entry `{entry}`: {reason}"));
        }
        if !kept.contains(&entry) {
            kept.push(entry);
        }
    }
    kept
}

/// Why `entry` (trimmed) is not a plausible allowlist entry, if it is not.
pub(crate) fn check_http_entry(entry: &str) -> Result<(), &'static str> {
    if entry.len() > MAX_HTTP_ALLOWLIST_ENTRY_BYTES {
        return Err("longer than 300 bytes");
    }
    let lower = entry.to_ascii_lowercase();
    let host = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")).unwrap_or(&lower);
    if host.is_empty() {
        return Err("empty host");
    }
    if host.contains("://") {
        return Err("the only schemes allowed are http:// and https://");
    }
    let wildcard_free = host.strip_prefix("*.").unwrap_or(host);
    if wildcard_free.contains('*') {
        return Err("a wildcard is allowed only as a leading `*.`");
    }
    if !wildcard_free.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')) {
        return Err("expected host[:port], without a path, user or query");
    }
    if wildcard_free.is_empty() || wildcard_free.starts_with([':', '.']) {
        return Err("empty host");
    }
    Ok(())
}

/// Panics unless `url` is https:// or ipfs:// and at most 512 bytes.
pub(crate) fn validate_url(url: &str) {
    if !(url.starts_with("https://") || url.starts_with("ipfs://")) || url.len() > 512 {
        env::panic_str("Source URL must start with https:// or ipfs:// and be at most 512 bytes");
    }
}

#[near]
impl Contract {
    /// Creates `predecessor/name`. Attach enough for its storage; the rest is refunded.
    #[payable]
    pub fn create_project(&mut self, name: String) -> String {
        self.assert_not_paused();
        validate_name(&name);
        let owner = env::predecessor_account_id();
        let project_id = format!("{owner}/{name}");
        if self.projects.contains_key(&project_id) {
            env::panic_str(&format!("Project {project_id} already exists"));
        }
        let before = env::storage_usage();
        self.projects.insert(
            project_id.clone(),
            Project {
                project_id: project_id.clone(),
                owner: owner.clone(),
                name,
                active_version: None,
                versions: vec![],
                http_allowlist: vec![],
                grants: ProjectGrants::default(),
            },
        );
        self.projects.flush();
        charge(storage_cost(before, env::storage_usage()), env::attached_deposit(), &owner);
        Event::ProjectCreated { project_id: project_id.clone(), owner }.emit();
        project_id
    }

    /// Adds a version to the caller's project `name`; it becomes active when `set_active` is true
    /// or when it is the first version. Attach enough for its storage.
    #[payable]
    pub fn add_version(&mut self, name: String, wasm_sha256: String, source_url: String, set_active: Option<bool>) {
        self.assert_not_paused();
        let owner = env::predecessor_account_id();
        let project_id = format!("{owner}/{name}");
        let wasm_sha256 = normalize_sha256(&wasm_sha256);
        validate_url(&source_url);
        let mut project = self.owned_project(&project_id, &owner);
        if project.version(&wasm_sha256).is_some() {
            env::panic_str(&format!("Version {wasm_sha256} already exists"));
        }
        if project.versions.len() >= MAX_VERSIONS_PER_PROJECT {
            env::panic_str(&format!("A project keeps at most {MAX_VERSIONS_PER_PROJECT} versions"));
        }
        let active = set_active.unwrap_or(false) || project.active_version.is_none();
        project.versions.push(ProjectVersion {
            wasm_sha256: wasm_sha256.clone(),
            source_url: source_url.clone(),
            added_at_ns: env::block_timestamp(),
        });
        if active {
            project.active_version = Some(wasm_sha256.clone());
        }
        let before = env::storage_usage();
        self.projects.insert(project_id.clone(), project);
        self.projects.flush();
        charge(storage_cost(before, env::storage_usage()), env::attached_deposit(), &owner);
        Event::VersionAdded { project_id, wasm_sha256, source_url, active }.emit();
    }

    /// Makes an existing version of the caller's project `name` the active one.
    pub fn set_active_version(&mut self, name: String, wasm_sha256: String) {
        let owner = env::predecessor_account_id();
        let project_id = format!("{owner}/{name}");
        let wasm_sha256 = normalize_sha256(&wasm_sha256);
        let mut project = self.owned_project(&project_id, &owner);
        if project.version(&wasm_sha256).is_none() {
            env::panic_str(&format!("Version {wasm_sha256} not found in {project_id}"));
        }
        project.active_version = Some(wasm_sha256.clone());
        self.projects.insert(project_id.clone(), project);
        Event::ActiveVersionSet { project_id, wasm_sha256 }.emit();
    }

    /// Replaces the http allowlist of the caller's project `name` (an empty list clears it):
    /// the hosts its guests may reach over `wasi:http` when a worker runs its requests. At most
    /// [`MAX_HTTP_ALLOWLIST_ENTRIES`] entries of at most [`MAX_HTTP_ALLOWLIST_ENTRY_BYTES`] bytes,
    /// trimmed, duplicates dropped. Attach enough for the storage it adds (nothing is refunded
    /// when it shrinks); the rest is refunded.
    #[payable]
    pub fn set_project_http_allowlist(&mut self, name: String, hosts: Vec<String>) {
        self.assert_not_paused();
        let owner = env::predecessor_account_id();
        let project_id = format!("{owner}/{name}");
        self.owned_project(&project_id, &owner);
        let hosts = validate_http_allowlist(hosts);
        let before = env::storage_usage();
        if hosts.is_empty() {
            self.project_http_allowlists.remove(&project_id);
        } else {
            self.project_http_allowlists.insert(project_id.clone(), hosts.clone());
        }
        self.project_http_allowlists.flush();
        charge(storage_cost(before, env::storage_usage()), env::attached_deposit(), &owner);
        Event::ProjectHttpAllowlistSet { project_id, hosts }.emit();
    }

    /// Replaces the grants of the caller's project `name`: which of storage, rpc and vrf on-chain
    /// workers give its guests (only the project owner; logs `project_grants_set`).
    pub fn set_project_grants(&mut self, name: String, grants: ProjectGrants) {
        self.assert_not_paused();
        let owner = env::predecessor_account_id();
        let project_id = format!("{owner}/{name}");
        self.owned_project(&project_id, &owner);
        if grants == ProjectGrants::default() {
            self.project_grants.remove(&project_id);
        } else {
            self.project_grants.insert(project_id.clone(), grants);
        }
        Event::ProjectGrantsSet { project_id, grants }.emit();
    }

    /// The http allowlist of the project `project_id` (`owner/name`); empty when it has none or
    /// does not exist. What workers read for a request of the project.
    pub fn get_project_http_allowlist(&self, project_id: String) -> Vec<String> {
        self.project_http_allowlists.get(&project_id).cloned().unwrap_or_default()
    }

    /// The project `project_id` (`owner/name`), with its http allowlist and grants.
    pub fn get_project(&self, project_id: String) -> Option<Project> {
        self.projects.get(&project_id).map(|p| self.project_view(p))
    }

    /// Projects in creation order, paginated, with their http allowlists and grants.
    pub fn list_projects(&self, from_index: Option<u32>, limit: Option<u32>) -> Vec<Project> {
        self.projects
            .values()
            .skip(from_index.unwrap_or(0) as usize)
            .take(limit.unwrap_or(50).min(100) as usize)
            .map(|p| self.project_view(p))
            .collect()
    }
}

impl Contract {
    fn project_view(&self, project: &Project) -> Project {
        let http_allowlist = self.project_http_allowlists.get(&project.project_id).cloned().unwrap_or_default();
        let grants = self.project_grants.get(&project.project_id).copied().unwrap_or_default();
        Project { http_allowlist, grants, ..project.clone() }
    }

    fn owned_project(&self, project_id: &str, owner: &AccountId) -> Project {
        let project = self.projects.get(project_id).unwrap_or_else(|| env::panic_str(&format!("Project {project_id} not found")));
        if &project.owner != owner {
            env::panic_str("Only the project owner can change it");
        }
        project.clone()
    }
}

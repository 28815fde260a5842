//! `outlayer secrets seal`: seals a JSON map of secrets on this machine for a keystore's
//! accessor key. The plaintext never leaves the machine; the output is what
//! `PUT /projects/{owner}/{name}/secrets/{profile}` (HTTPS) or the contract's `store_secrets`
//! (on chain) stores.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use outlayer_protocol::keystore_client::KeystoreClient;
use outlayer_protocol::secrets::{AccessCondition, SecretScope};

/// `outlayer secrets …`.
#[derive(clap::Subcommand)]
pub enum SecretsCommand {
    /// Seal a JSON object of secrets (name → string) for a scope, locally.
    Seal(SealArgs),
}

/// `outlayer secrets seal`.
#[derive(clap::Args)]
pub struct SealArgs {
    /// What the secrets are bound to: `project:{owner}/{name}|{account}|{profile}` or
    /// `wasm:{sha256}|{account}|{profile}` (the account that stores them; for an HTTPS project
    /// its owner).
    #[arg(long)]
    scope: String,
    /// The keystore to fetch the accessor's public key from (`GET /pubkey`).
    #[arg(long, env = "OUTLAYER_KEYSTORE_URL", conflicts_with = "pubkey")]
    keystore: Option<String>,
    /// The accessor's X25519 public key (hex) instead of asking a keystore.
    #[arg(long)]
    pubkey: Option<String>,
    /// Read the secrets from this file instead of the argument / standard input.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The access condition (JSON, e.g. `{"type":"near_balance","min":"1"}`); with it the output
    /// is the whole `PUT` body.
    #[arg(long)]
    access: Option<String>,
    /// Print a JSON body for `PUT …/secrets/{profile}` (`{"sealed": …, "access": …}`) instead
    /// of the bare base64.
    #[arg(long)]
    json: bool,
    /// The secrets as a JSON object (else --file, else standard input).
    secrets: Option<String>,
}

/// Runs a `secrets` subcommand.
pub fn main(command: SecretsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecretsCommand::Seal(args) => seal(args),
    }
}

fn seal(args: SealArgs) -> anyhow::Result<ExitCode> {
    let scope: SecretScope = args.scope.parse()?;
    let text = match (&args.secrets, &args.file) {
        (Some(text), _) => text.clone(),
        (None, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        (None, None) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text
        }
    };
    let map: BTreeMap<String, String> =
        serde_json::from_str(&text).context("the secrets must be a JSON object of name to string, e.g. {\"API_KEY\":\"…\"}")?;
    let public = match (&args.pubkey, &args.keystore) {
        (Some(hex_key), _) => hex_key.clone(),
        (None, Some(url)) => tokio::runtime::Runtime::new()?.block_on(async {
            let key = KeystoreClient::new(url)?.sealing_key(&scope.accessor).await?;
            anyhow::ensure!(key.seal_version == outlayer_attest::seal::VERSION, "the keystore expects seal format v{}", key.seal_version);
            anyhow::Ok(key.public_key)
        })?,
        (None, None) => anyhow::bail!("give --keystore URL (to fetch the accessor's key) or --pubkey HEX"),
    };
    let public: [u8; 32] = hex::decode(public.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("the public key must be 32 bytes of hex"))?;
    let plaintext = zeroize::Zeroizing::new(serde_json::to_vec(&map)?);
    let sealed = outlayer_attest::seal::seal(&public, &scope.to_string(), &plaintext)?;
    let sealed = base64::engine::general_purpose::STANDARD.encode(sealed);
    if args.json || args.access.is_some() {
        let access: AccessCondition = match &args.access {
            Some(a) => serde_json::from_str(a).context("--access is not an access condition")?,
            None => AccessCondition::AllowAll,
        };
        access.validate()?;
        println!("{}", serde_json::json!({ "sealed": sealed, "access": access }));
    } else {
        println!("{sealed}");
    }
    Ok(ExitCode::SUCCESS)
}

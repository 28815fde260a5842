//! `outlayer login`: sign in to a coordinator as a NEAR account (NEP-413) with a key file, and
//! print the owner token. Also the coordinator's sign-in settings built from its flags.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use outlayer_coordinator::signin::{RpcAccessKeys, SigninConfig};
use outlayer_near::nep413::{self, Nep413Payload};
use outlayer_near::tx::SecretKey;
use serde_json::{Value, json};

/// Said on the first lines of a coordinator that accepts unverified owners.
pub const DEV_OWNERS_BANNER: &str = "DEV OWNERS: POST /owners creates owners under any name with no proof (--dev-owners); development only";

/// `outlayer login`.
#[derive(clap::Args)]
pub struct LoginArgs {
    /// The NEAR account to sign in as (becomes the owner name).
    #[arg(long)]
    account: String,
    /// A NEAR key file with a full-access key of the account: the JSON near-cli writes
    /// (`{"account_id", "public_key", "private_key": "ed25519:…"}`) or a bare `ed25519:…` key.
    #[arg(long)]
    key_file: PathBuf,
    /// Coordinator base URL.
    #[arg(long, env = "OUTLAYER_COORDINATOR_URL", default_value = "http://127.0.0.1:8080")]
    coordinator: String,
}

/// The coordinator's sign-in settings: dev owners, the recipient, the NEAR RPC that checks
/// access keys (given, or the network's public RPC).
pub(crate) fn signin_config(dev_owners: bool, recipient: &str, rpc_url: Option<&str>, network: &str) -> SigninConfig {
    let rpc = rpc_url.map(str::to_owned).unwrap_or_else(|| format!("https://rpc.{network}.near.org"));
    SigninConfig {
        dev_owners,
        recipient: recipient.to_owned(),
        access_keys: Some(Arc::new(RpcAccessKeys::new(&rpc))),
        ..SigninConfig::default()
    }
}

/// The secret key of a key file, checking the account and public key it names (if any).
fn read_key(path: &Path, account: &str) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (secret, file_account, file_public) = match serde_json::from_str::<Value>(&text) {
        Ok(v) => (
            v["private_key"].as_str().or(v["secret_key"].as_str()).context("the key file has no private_key")?.to_owned(),
            v["account_id"].as_str().map(str::to_owned),
            v["public_key"].as_str().map(str::to_owned),
        ),
        Err(_) => (text.trim().to_owned(), None, None),
    };
    let key: SecretKey = secret.parse().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(a) = file_account.filter(|a| a != account) {
        bail!("{} is a key of {a}, not of {account}", path.display());
    }
    if let Some(p) = file_public.filter(|p| *p != key.public_key().to_string()) {
        bail!("{}: public_key {p} is not the public half of its private_key", path.display());
    }
    Ok(key)
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let resp = http.post(url).json(body).send().await.with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.with_context(|| format!("POST {url}: answer is not JSON ({status})"))?;
    if !status.is_success() {
        let e = &body["error"];
        bail!("{status} {}: {}", e["code"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or(""));
    }
    Ok(body)
}

/// Challenge, sign, sign in: (owner, token, created).
async fn login(args: &LoginArgs, key: &SecretKey) -> anyhow::Result<(String, String, bool)> {
    let base = args.coordinator.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let c = post(&http, &format!("{base}/auth/challenge"), &json!({})).await.context("getting a sign-in challenge")?;
    let text = |k: &str| c[k].as_str().map(str::to_owned).with_context(|| format!("the challenge has no {k}"));
    let (nonce, message, recipient) = (text("nonce")?, text("message")?, text("recipient")?);
    let payload =
        Nep413Payload { message: message.clone(), nonce: nep413::parse_nonce(&nonce)?, recipient: recipient.clone(), callback_url: None };
    let body = json!({
        "account_id": args.account,
        "public_key": key.public_key().to_string(),
        "signature": nep413::encode_signature(&payload.sign(key)),
        "nonce": nonce,
        "message": message,
        "recipient": recipient,
    });
    let done = post(&http, &format!("{base}/auth/signin"), &body).await.context("signing in")?;
    let token = done["token"].as_str().context("the sign-in answer has no token")?.to_owned();
    Ok((done["owner"].as_str().unwrap_or(&args.account).to_owned(), token, done["created"] == true))
}

pub fn main(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&args.key_file, &args.account)?;
    let (owner, token, created) = tokio::runtime::Runtime::new()?.block_on(login(&args, &key))?;
    eprintln!(
        "signed in to {} as {owner}{}; owner token (shown once, replaces any earlier one):",
        args.coordinator,
        if created { " (new owner)" } else { "" }
    );
    eprintln!("  {token}");
    println!("export OUTLAYER_TOKEN={token}");
    Ok(ExitCode::SUCCESS)
}

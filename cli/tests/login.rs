//! `outlayer login` against `outlayer coordinator` (no `--dev-owners`) whose NEAR RPC is a fake
//! node on 127.0.0.1 answering `view_access_key` from recorded answers
//! (crates/near/tests/data/rpc; the full-access form as in `view_access_key_list`). The key is
//! near-api-js's published test key pair (crates/near/tests/data/near-api-js-vectors.json), in
//! the key file form near-cli writes.

mod common;
use common::{Proc, free_port};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/near/tests/data/");

fn data(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DATA}{name}")).unwrap()).unwrap()
}

/// A fake NEAR node: `full` is a full-access key of `account`, any other key a function-call key
/// (the recorded answer verbatim); anything but `view_access_key` at final is an error.
async fn node(account: &'static str, full: String) -> String {
    let handler = move |axum::Json(req): axum::Json<Value>| {
        let full = full.clone();
        async move {
            let p = &req["params"];
            if p["request_type"] != "view_access_key" || p["finality"] != "final" || p["account_id"] != account {
                return axum::Json(data("rpc/view_account_unknown.response.json"));
            }
            let mut answer = data("rpc/view_access_key.response.json");
            if p["public_key"] == full.as_str() {
                answer["result"]["permission"] = json!("FullAccess");
            }
            axum::Json(answer)
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/", post(handler))).await.unwrap() });
    url
}

async fn coordinator(dir: &Path, rpc: &str) -> (Proc, String) {
    let port = free_port();
    // Killed and waited for when the `Proc` is dropped (also if it never becomes healthy).
    let child = Proc(
        Command::new(env!("CARGO_BIN_EXE_outlayer"))
            .args(["coordinator", "--listen", &format!("127.0.0.1:{port}"), "--auth-rpc-url", rpc, "--auth-recipient", "outlayer.test"])
            .arg("--data-dir")
            .arg(dir)
            .env("OUTLAYER_LOG", "warn")
            .env_remove("OUTLAYER_DEV_OWNERS")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn outlayer"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not become healthy");
}

/// Runs `outlayer login` (blocking: the test runtime is multi-threaded so the fake node answers).
fn login(url: &str, account: &str, key_file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(["login", "--account", account, "--coordinator", url, "--key-file"])
        .arg(key_file)
        .output()
        .expect("run outlayer login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_full_access_key_prints_a_working_owner_token() {
    let dir = tempfile::tempdir().unwrap();
    let pair = &data("near-api-js-vectors.json")["transfer"];
    let (secret, public) = (pair["secret_key"].as_str().unwrap(), pair["public_key"].as_str().unwrap().to_owned());
    let account = "login.testnet";
    let rpc = node(account, public.clone()).await;
    let (_c, url) = coordinator(&dir.path().join("c"), &rpc).await;
    let http = reqwest::Client::new();

    // Without --dev-owners, unverified owners are refused and pointed at sign-in.
    let r = http.post(format!("{url}/owners")).json(&json!({ "owner": account })).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "dev_owners_disabled", "{b}");

    // The key file as near-cli writes it.
    let key_file = dir.path().join("key.json");
    std::fs::write(&key_file, json!({ "account_id": account, "public_key": public, "private_key": secret }).to_string()).unwrap();
    let out = login(&url, account, &key_file);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let token = stdout.trim().strip_prefix("export OUTLAYER_TOKEN=").unwrap_or_else(|| panic!("stdout: {stdout}"));
    assert!(token.starts_with("olo_"), "{stdout}");
    assert!(stderr.contains(&format!("as {account} (new owner)")), "{stderr}");
    // The token is the account's owner token.
    let r = http.get(format!("{url}/earnings")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["owner"], account);

    // A key file for another account is refused before anything is sent.
    let out = login(&url, "someone-else.testnet", &key_file);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a key of login.testnet"), "{}", String::from_utf8_lossy(&out.stderr));

    // A key the node reports as a function-call key of the account: refused, with the code.
    let fc_file = dir.path().join("fc.json");
    std::fs::write(&fc_file, json!({ "account_id": account, "private_key": format!("ed25519:{}", "1".repeat(32)) }).to_string()).unwrap();
    let out = login(&url, account, &fc_file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("not_full_access"), "{stderr}");
    assert!(out.stdout.is_empty());
}

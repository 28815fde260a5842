//! Issue 13 through the real binary: secrets never printed by `--help`, state files private from
//! creation, and guest outputs near and past the output limit handled once end to end by a
//! remote worker.

mod common;
use common::{free_port, outlayer, wait_healthy};

use outlayer_guest_artifacts as g;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// Every secret-bearing flag hides its environment value in `--help`.
#[test]
fn help_never_prints_secret_environment_values() {
    let secrets = [
        ("OUTLAYER_ADMIN_TOKEN", "admin-token-s3cret"),
        ("OUTLAYER_WORKER_TOKEN", "worker-token-s3cret"),
        ("OUTLAYER_DATABASE", "postgres://outlayer:db-passw0rd-s3cret@db.internal:5432/outlayer"),
        ("OUTLAYER_REDIS_URL", "redis://:redis-passw0rd-s3cret@redis.internal:6379"),
        ("OUTLAYER_STORAGE_DATABASE", "postgres://guest:storage-passw0rd-s3cret@db.internal/storage"),
        ("OUTLAYER_STORAGE_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccdd-s3cret"),
        ("OUTLAYER_RPC_URL", "https://rpc.example/?apikey=rpc-key-s3cret"),
        ("OUTLAYER_NEAR_RPC", "https://near.example/?apikey=near-key-s3cret"),
        ("OUTLAYER_PAYMENT_KEY", "alice:1:payment-key-s3cret"),
    ];
    for command in
        [&["coordinator", "--help"][..], &["serve", "--help"], &["worker", "--help"], &["run", "--help"], &["verify", "run", "--help"]]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_outlayer")).args(command).envs(secrets).output().expect("run outlayer");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{command:?}: {text}");
        for (name, value) in secrets {
            assert!(!text.contains(value), "{command:?} --help prints the value of {name}:\n{text}");
            assert!(!text.contains("s3cret"), "{command:?} --help prints a secret:\n{text}");
            let _ = name;
        }
    }
    // The flags are there (their names are listed), only the values are hidden.
    let out = Command::new(env!("CARGO_BIN_EXE_outlayer")).args(["coordinator", "--help"]).envs(secrets).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["OUTLAYER_ADMIN_TOKEN", "OUTLAYER_WORKER_TOKEN", "OUTLAYER_DATABASE", "OUTLAYER_REDIS_URL", "OUTLAYER_IP_RATE_LIMIT"] {
        assert!(text.contains(name), "{name} missing from coordinator --help:\n{text}");
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// `outlayer serve` creates its data directory 0700 and every file holding secrets or call data
/// 0600 (the coordinator's and guest storage's SQLite files with their -wal and -shm, the keys).
/// Subdirectories holding only public data (the wasm and compiled-artifact caches) are not
/// checked.
#[cfg(unix)]
#[tokio::test]
async fn serve_keeps_its_state_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state/outlayer");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _serve = outlayer(&["serve", "--listen", &format!("127.0.0.1:{port}")], &data);
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;
    // A call writes call data (and guest storage opens its files).
    let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": "alice" })).send().await.unwrap().json().await.unwrap();
    assert!(r["token"].is_string(), "{r}");
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&dir.path().join("state")), 0o700, "created parent");
    for file in ["outlayer.db", "outlayer.db-wal", "outlayer.db-shm", "storage.db", "worker.key"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    // Whichever of these this version writes (keystore master, ticket key, legacy storage key).
    for file in ["storage.db-wal", "storage.db-shm", "storage.key", "ticket.key", "keystore/master.key"] {
        if data.join(file).exists() {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }
}

/// A guest output past the limit ends as `output_too_large` once (settled by the worker that ran
/// it, with its receipt) — not three runs and `worker_lost`; an output of exactly the limit
/// (the largest completion a worker sends) completes. Coordinator and worker are separate
/// processes talking HTTP.
#[tokio::test]
async fn outputs_at_and_past_the_limit_settle_once_over_http() {
    use outlayer_coordinator::limits::MAX_OUTPUT_BYTES;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let db = dir.path().join("c/outlayer.db").display().to_string();
    let _c = outlayer(
        &["coordinator", "--listen", &format!("127.0.0.1:{port}"), "--database", &db, "--allow-dev-attestation", "--dev-owners"],
        &dir.path().join("c"),
    );
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;
    let _w = outlayer(&["worker", "--coordinator", &url, "--quote-provider", "dev"], &dir.path().join("w"));

    let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": "bob" })).send().await.unwrap().json().await.unwrap();
    let token = r["token"].as_str().unwrap().to_owned();
    let ok = http.post(format!("{url}/projects")).bearer_auth(&token).json(&json!({ "name": "print" })).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 201);
    let up =
        http.post(format!("{url}/projects/bob/print/versions")).bearer_auth(&token).body(g::read(g::PRINT_BYTES)).send().await.unwrap();
    assert_eq!(up.status().as_u16(), 201);
    let r: Value = http
        .post(format!("{url}/payment-keys"))
        .bearer_auth(&token)
        .json(&json!({ "initial_balance": 10_000_000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = r["key"].as_str().unwrap().to_owned();
    let call = |n: usize| {
        http.post(format!("{url}/call/bob/print"))
            .header("x-payment-key", &key)
            .json(&json!({ "input": n, "resource_limits": { "max_execution_seconds": 20 } }))
            .send()
    };

    // 3 MiB: between the old 2 MiB body limit and the host's 4 MiB default cap.
    for n in [3 * 1024 * 1024, MAX_OUTPUT_BYTES + 1] {
        let resp = call(n).await.unwrap();
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        assert_eq!((status, v["error"]["code"].as_str()), (422, Some("output_too_large")), "{n} bytes: {v}");
        assert!(v["receipt"]["signature"].is_string(), "settled by the worker that ran it: {v}");
        assert_eq!(v["receipt"]["outcome"], "output-too-large", "{v}");
    }
    let resp = call(MAX_OUTPUT_BYTES).await.unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{}", v["error"]);
    assert_eq!(v["output"].as_str().map(str::len), Some(MAX_OUTPUT_BYTES - 2));

    // Each call ran once: one reserve and one settle line per call, three calls.
    let ledger: Value =
        http.get(format!("{url}/payment-keys/bob/1/ledger")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let kinds: Vec<&str> = ledger["entries"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "settle").count(), 3, "{ledger}");
    assert_eq!(kinds.iter().filter(|k| **k == "reserve").count(), 3, "{ledger}");
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("outlayer_leases_total 3"), "one lease per call:\n{metrics}");
}

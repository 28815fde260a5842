//! Outbound HTTP end to end: `outlayer serve` started with the test-only
//! `--http-admit-loopback-for-tests` for a local axum server; a project granted `http` with an
//! allowlist calls it through the `http-fetch` guest over `POST /call` and gets its JSON back; a
//! host outside the allowlist is denied (`denied`, naming http).

mod common;
use common::{Proc, free_port, wait_healthy};

use outlayer_guest_artifacts as g;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

/// `/json` (POST JSON → `{"got": ...}`) and `/hello`.
async fn server() -> SocketAddr {
    let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" })).route(
        "/json",
        axum::routing::post(|axum::Json(v): axum::Json<Value>| async move { axum::Json(json!({ "got": v, "from": "axum" })) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn serve(port: u16, admit: SocketAddr, data_dir: &Path, stderr: &Path) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_outlayer"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--http-admit-loopback-for-tests", &admit.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .env("OUTLAYER_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("spawn outlayer");
    Proc(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_granted_http_reaches_its_allowlist_over_post_call_and_nothing_else() {
    let addr = server().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("serve.stderr");
    let _serve = serve(port, addr, &dir.path().join("data"), &log);
    let http = reqwest::Client::new();
    wait_healthy(&http, &url).await;
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains(&format!("TEST-ONLY --http-admit-loopback-for-tests: granted http may reach {addr}")), "{said}");

    let owner = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let r: Value = http.post(format!("{url}/owners")).json(&json!({ "owner": owner })).send().await.unwrap().json().await.unwrap();
    let token = r["token"].as_str().expect("owner token").to_string();
    let allow = json!([format!("http://{addr}"), "api.example.com"]);
    let r = http
        .post(format!("{url}/projects"))
        .bearer_auth(&token)
        .json(&json!({ "name": "fetch", "grants": ["http"], "http_allowlist": allow }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["http_allowlist"], allow);
    let r =
        http.post(format!("{url}/projects/{owner}/fetch/versions")).bearer_auth(&token).body(g::read(g::HTTP_FETCH)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
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
    let key = r["key"].as_str().expect("key").to_string();
    let call = |input: String| {
        let (http, url, owner, key) = (http.clone(), url.clone(), owner.clone(), key.clone());
        async move {
            let r = http
                .post(format!("{url}/call/{owner}/fetch"))
                .header("x-payment-key", key)
                .json(&json!({ "input": input }))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };

    // On the allowlist (and admitted): the JSON round trip comes back as the call's output.
    let (s, v) = call(format!(r#"post-json http://{addr}/json {{"n":7,"s":"x"}}"#)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["output"], json!({ "got": { "n": 7, "s": "x" }, "from": "axum" }), "{v}");
    assert_eq!(v["receipt"]["outcome"], "ok");
    // The call view reports the run's HTTP: one request, its bytes, nothing refused.
    assert_eq!(v["http"]["calls"], 1, "{v}");
    assert_eq!(v["http"]["denied"], 0, "{v}");
    assert!(v["http"]["request_bytes"].as_u64().unwrap() > 0 && v["http"]["response_bytes"].as_u64().unwrap() > 0, "{v}");

    // A host outside the allowlist: denied, naming http; the call view names the refused host.
    let (s, v) = call("get https://not-allowed.example/hello".to_string()).await;
    assert!(s.is_client_error() || s.is_server_error(), "{s} {v}");
    assert_eq!(v["error"]["code"], "denied", "{v}");
    assert!(v["error"]["message"].as_str().unwrap_or("").contains("http"), "{v}");
    assert_eq!(v["http"]["denied"], 1, "{v}");
    assert!(v["http"]["refused"][0].as_str().unwrap_or("").contains("not-allowed.example"), "{v}");

    // Loopback not admitted (another port): refused by the SSRF rules even though listed.
    let other = free_port();
    let r = http
        .post(format!("{url}/projects"))
        .bearer_auth(&token)
        .json(&json!({ "name": "fetch2", "grants": ["http"], "http_allowlist": [format!("http://127.0.0.1:{other}")] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r =
        http.post(format!("{url}/projects/{owner}/fetch2/versions")).bearer_auth(&token).body(g::read(g::HTTP_FETCH)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = http
        .post(format!("{url}/call/{owner}/fetch2"))
        .header("x-payment-key", &key)
        .json(&json!({ "input": format!("try get http://127.0.0.1:{other}/hello") }))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    // `try` prints `err ...` (not JSON): the call fails as invalid output carrying no answer.
    assert_eq!(v["error"]["code"], "invalid_output", "{v}");
}

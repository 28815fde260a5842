//! A v0.1 guest importing `wasi:http` (`guests/v01-http`: plain wit-bindgen on the frozen
//! `near:payment/api@0.1.0` plus `wasi:http/outgoing-handler@0.2.12`) instantiates and runs: its
//! request reaches an allowed local server, and is denied without the grant.

mod common;

use common::{guest, runtime};
use outlayer_host::caps::Backends;
use outlayer_host::caps::payment::{Currency, PaymentGrant};
use outlayer_host::{Capability, ExecutionRequest, Grants, Limits};
use std::net::SocketAddr;

async fn server() -> SocketAddr {
    let app = axum::Router::new().route("/v01", axum::routing::get(|| async { "hello v0.1" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn run(url: &str, caps: &[Capability], allow: &[String], admit: SocketAddr) -> serde_json::Value {
    let backends = Backends { http_test_admit: vec![admit], ..Default::default() };
    let payment = PaymentGrant { currency: Currency::UsdMicro, attached: 0, budget: 0 };
    let grants = Grants::build(caps, &backends, payment).unwrap().allow_http(allow).unwrap();
    let request = ExecutionRequest { input: url.as_bytes().to_vec(), limits: Limits::default(), grants, ..Default::default() };
    let report = runtime().run(&guest(outlayer_guest_artifacts::V01_HTTP), request).await.expect("execute");
    assert!(report.outcome.is_ok(), "{:?} {}", report.outcome, String::from_utf8_lossy(&report.stderr));
    serde_json::from_slice(&report.output).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&report.output)))
}

#[tokio::test]
async fn a_v01_guest_importing_wasi_http_runs_and_reaches_its_allowlist() {
    let addr = server().await;
    let url = format!("http://{addr}/v01");
    let out = run(&url, &[Capability::Http, Capability::Payment], &[format!("http://{addr}")], addr).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], "hello v0.1");
    assert!(out["refund"].is_string(), "{out}");

    // Without the http grant: instantiated all the same, the request denied (not a trap).
    let out = run(&url, &[Capability::Payment], &[], addr).await;
    assert!(out["error"].as_str().unwrap().contains("HttpRequestDenied"), "{out}");
}

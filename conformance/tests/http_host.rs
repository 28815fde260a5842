//! The HTTP contract end to end: the whole suite through [`HttpHost`] against
//! [`outlayer_conformance::server::router`] on a loopback port.

use outlayer_conformance::{ConformanceHost, HttpHost, InProcessHost, default_cases_dir, run_all, server};
use std::path::Path;
use std::sync::Arc;

async fn serve() -> String {
    let app = server::router(Arc::new(InProcessHost::new().expect("host")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_passes_over_http() {
    let host = HttpHost::new(&serve().await);
    let guests = Path::new(outlayer_guest_artifacts::DIR);
    let report = run_all(&host, &default_cases_dir(), guests).await.expect("suite runs");
    println!("{report}");
    assert!(report.cases.len() > 10, "the suite ran {} cases", report.cases.len());
    assert_eq!(report.failed(), 0, "{report}");
}

#[tokio::test]
async fn invalid_wasm_is_refused_with_400_not_a_report() {
    let host = HttpHost::new(&serve().await);
    let request = outlayer_conformance::CaseRequest {
        wasm: b"not wasm".to_vec(),
        input: Vec::new(),
        grants: Default::default(),
        limits: Default::default(),
        context: Default::default(),
    };
    let err = host.run(&request).await.expect_err("invalid wasm is refused");
    assert!(err.to_string().starts_with("host refused the request: 400"), "{err}");
}

//! Outbound HTTP (`wasi:http`): allowlists, SSRF refusals, limits and the report, against a
//! local server on 127.0.0.1 admitted by the test-only setting (`Backends::http_test_admit`).
//! The guest is `guests/http-fetch` (one request per script line).

mod common;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use common::{guest, runtime};
use outlayer_host::caps::Backends;
use outlayer_host::caps::payment::PaymentGrant;
use outlayer_host::{Capability, ExecutionReport, ExecutionRequest, Grants, Limits, Outcome};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A local server: `/hello`, `/token` (echoes `x-token`), `/echo` (POST, 201 + the body),
/// `/json` (POST JSON → `{"got": ...}`), `/prices`, `/big` (200 000 bytes), `/slow` (never
/// answers), `/redirect` (302 to `/hello`).
async fn server() -> SocketAddr {
    let app = Router::new()
        .route("/hello", get(|| async { ([("x-test", "yes")], "hi") }))
        .route("/token", get(|h: HeaderMap| async move { h.get("x-token").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default() }))
        .route("/echo", post(|body: String| async move { (StatusCode::CREATED, body) }))
        .route("/json", post(|axum::Json(v): axum::Json<serde_json::Value>| async move { axum::Json(serde_json::json!({ "got": v })) }))
        .route(
            "/prices",
            get(|| async {
                axum::Json(serde_json::json!([{ "name": "apple", "price": 1.5 }, { "name": "pear", "price": 0.5 }, { "name": "fig", "price": 3.0 }]))
            }),
        )
        .route("/big", get(|| async { "x".repeat(200_000) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        )
        .route("/redirect", get(|| async { (StatusCode::FOUND, [("location", "/hello")], "") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn no_payment() -> PaymentGrant {
    PaymentGrant { currency: outlayer_host::caps::payment::Currency::YoctoNear, attached: 0, budget: 0 }
}

/// Grants with http allowed to `allow`, admitting `admit` despite the SSRF rules.
fn grants(allow: &[String], admit: &[SocketAddr]) -> Grants {
    let backends = Backends { http_test_admit: admit.to_vec(), ..Default::default() };
    Grants::build(&[Capability::Http], &backends, no_payment()).unwrap().allow_http(allow).unwrap()
}

async fn fetch(script: &str, grants: Grants, limits: Limits) -> (ExecutionReport, String) {
    let rt = runtime();
    let request = ExecutionRequest { input: script.as_bytes().to_vec(), limits, grants, ..Default::default() };
    let report = rt.run(&guest(outlayer_guest_artifacts::HTTP_FETCH), request).await.expect("execute");
    let out = String::from_utf8_lossy(&report.output).to_string();
    (report, out)
}

fn lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

#[tokio::test]
async fn get_and_post_with_headers_bodies_and_json() {
    let addr = server().await;
    let base = format!("http://{addr}");
    let script = format!(
        "get {base}/hello\nheader {base}/hello x-test\nget {base}/token x-token=s3cr3t\npost {base}/echo some body\n\
         post-json {base}/json {{\"a\":[1,2]}}\nprices {base}/prices\nget {base}/redirect\n"
    );
    let (report, out) = fetch(&script, grants(&[format!("http://{addr}")], &[addr]), Limits::default()).await;
    assert!(report.outcome.is_ok(), "{:?} {}", report.outcome, String::from_utf8_lossy(&report.stderr));
    assert_eq!(
        lines(&out),
        [
            "200 hi",
            "yes",
            "200 s3cr3t",
            "201 some body",
            r#"{"got":{"a":[1,2]}}"#,
            r#"{"count":3,"total":5.0,"cheapest":"pear"}"#,
            "302 ", // never followed by the host
        ]
    );
    let http = &report.host_calls.http;
    assert_eq!((http.calls, http.denied, http.failed), (7, 0, 0));
    assert_eq!(http.request_bytes, "some body".len() as u64 + r#"{"a":[1,2]}"#.len() as u64);
    assert!(http.response_bytes > 0);
}

#[tokio::test]
async fn a_host_outside_the_allowlist_is_denied_and_the_report_names_it() {
    let addr = server().await;
    let allow = ["api.example.com".to_string(), "*.example.org".to_string()];
    let (report, out) =
        fetch(&format!("try get http://{addr}/hello\ntry get https://{addr}/hello\n"), grants(&allow, &[addr]), Limits::default()).await;
    assert!(report.outcome.is_ok());
    assert_eq!(lines(&out), ["err http: capability not granted", "err http: capability not granted"]);
    let http = &report.host_calls.http;
    assert_eq!((http.calls, http.denied), (0, 2));
    assert!(
        http.refused[0].contains(&format!("denied http://{addr}")) && http.refused[0].contains("not on the allowlist"),
        "{:?}",
        http.refused
    );

    // Plain http to an entry without `http://` is denied too; failing on it is a denial outcome.
    let (report, _) = fetch(&format!("get http://{addr}/hello\n"), grants(&[format!("{addr}")], &[addr]), Limits::default()).await;
    match &report.outcome {
        Outcome::Denied { capabilities, .. } => assert_eq!(capabilities, &[Capability::Http]),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn http_not_granted_is_denied_not_a_trap() {
    let addr = server().await;
    let (report, out) = fetch(&format!("try get http://{addr}/hello\n"), Grants::default(), Limits::default()).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(out.trim(), "err http: capability not granted");
    assert_eq!(report.host_calls.http.denied, 1);
    assert!(report.host_calls.http.refused[0].contains("not granted"));
}

#[tokio::test]
async fn private_addresses_are_refused_whatever_the_allowlist_says() {
    // No test admission here: production rules.
    let port = server().await.port();
    let targets = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("[::1]:{port}"),
        "10.0.0.1".into(),
        "172.16.5.4".into(),
        "192.168.1.1".into(),
        "169.254.169.254".into(),
        "100.64.0.1".into(),
        "198.18.0.1".into(),
        "192.0.0.1".into(),
        "192.0.2.1".into(),
        "224.0.0.1".into(),
        "240.0.0.1".into(),
        "255.255.255.255".into(),
        "0.0.0.0".into(),
        "[fc00::1]".into(),
        "[fe80::1]".into(),
        "[fec0::1]".into(),
        "[2002:7f00:1::1]".into(),
        "[64:ff9b::7f00:1]".into(),
        "[::127.0.0.1]".into(),
    ];
    let allow: Vec<String> = targets.iter().map(|t| format!("http://{t}")).collect();
    let script: String = targets.iter().map(|t| format!("try get http://{t}/hello\n")).collect();
    let limits = Limits { max_http_requests: 100, ..Limits::default() };
    let (report, out) = fetch(&script, grants(&allow, &[]), limits).await;
    assert!(report.outcome.is_ok());
    for (target, line) in targets.iter().zip(lines(&out)) {
        assert_eq!(line, "err http: destination-IP-prohibited", "{target}");
    }
    assert_eq!(lines(&out).len(), targets.len());
    let http = &report.host_calls.http;
    assert_eq!(http.prohibited as usize, targets.len());
    assert!(http.refused.iter().any(|r| r.contains("localhost") && r.contains("loopback")), "{:?}", http.refused);
}

#[tokio::test]
async fn a_server_that_never_answers_ends_on_schedule() {
    let addr = server().await;
    let allow = [format!("http://{addr}")];
    // The first-byte timeout is a typed error the guest can handle...
    let limits = Limits { http_first_byte_timeout: Duration::from_millis(300), ..Limits::default() };
    let started = Instant::now();
    let (report, out) = fetch(&format!("try get http://{addr}/slow\nget http://{addr}/hello\n"), grants(&allow, &[addr]), limits).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(lines(&out), ["err http: connection-read-timeout", "200 hi"]);
    assert_eq!(report.host_calls.http.timeouts, 1);
    assert!(started.elapsed() < Duration::from_secs(5));

    // ...and time blocked in HTTP counts toward the wall-clock limit.
    let limits = Limits { max_wall: Duration::from_millis(800), ..Limits::default() };
    let started = Instant::now();
    let (report, _) = fetch(&format!("get http://{addr}/slow\n"), grants(&allow, &[addr]), limits).await;
    assert_eq!(report.outcome, Outcome::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(800) + outlayer_host::runtime::HOST_CALL_GRACE + Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_handshake_that_never_completes_hits_the_connect_timeout() {
    // Accepts TCP connections and never says a word: the TLS handshake cannot finish.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let limits = Limits { http_connect_timeout: Duration::from_millis(300), ..Limits::default() };
    let (report, out) = fetch(&format!("try get https://{addr}/\n"), grants(&[addr.to_string()], &[addr]), limits).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(out.trim(), "err http: connection-timeout");
    assert_eq!(report.host_calls.http.timeouts, 1);
}

#[tokio::test]
async fn bodies_past_their_caps_are_cut_with_a_typed_error() {
    let addr = server().await;
    let allow = [format!("http://{addr}")];
    let limits = Limits { max_http_response_bytes: 1000, max_http_request_bytes: 10, ..Limits::default() };
    let script = format!("try size http://{addr}/big\ntry post http://{addr}/echo {}\npost http://{addr}/echo short\n", "y".repeat(100));
    let (report, out) = fetch(&script, grants(&allow, &[addr]), limits).await;
    assert!(report.outcome.is_ok(), "{:?}", report.outcome);
    assert_eq!(lines(&out), ["err http: HTTP-response-body-size 1000", "err http: HTTP-request-body-size 10", "201 short"]);
    assert_eq!(report.host_calls.http.truncated, 1);

    // The total over all requests of an execution is capped as well.
    let limits = Limits { max_http_total_response_bytes: 300_000, ..Limits::default() };
    let (report, out) = fetch(&format!("size http://{addr}/big\ntry size http://{addr}/big\n"), grants(&allow, &[addr]), limits).await;
    assert!(report.outcome.is_ok());
    assert_eq!(lines(&out), ["200 200000", "err http: HTTP-response-body-size 300000"]);
    assert!(report.host_calls.http.response_bytes <= 300_000);
}

#[tokio::test]
async fn the_request_budget_is_enforced() {
    let addr = server().await;
    let limits = Limits { max_http_requests: 2, ..Limits::default() };
    let script = format!("get http://{addr}/hello\nget http://{addr}/hello\ntry get http://{addr}/hello\n");
    let (report, out) = fetch(&script, grants(&[format!("http://{addr}")], &[addr]), limits).await;
    assert_eq!(lines(&out), ["200 hi", "200 hi", "err http: call limit exceeded"]);
    let http = &report.host_calls.http;
    assert_eq!((http.calls, http.over_budget), (2, 1));
}

#[test]
fn bad_allowlist_entries_are_a_grant_error() {
    let built = Grants::build(&[Capability::Http], &Backends::default(), no_payment()).unwrap();
    assert!(built.allow_http(&["https://x.com/path"]).is_err());
}

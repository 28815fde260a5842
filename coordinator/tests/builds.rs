//! Builds from source through the coordinator on SQLite and PostgreSQL: a project version asked
//! for from a git source, leased and reported by a (test) builder over the builder API, the
//! version added; failures, refusals, a double report, a tampered report, a chain build's wasm.

mod common;

use anyhow::Result;
use common::*;
use outlayer_coordinator::CoordinatorConfig;
use outlayer_protocol::build::{BuildErrorCode, BuildFailure, BuildReport, BuilderClient, BuiltWasm};
use outlayer_protocol::receipt::sha256_hex;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "test-builder-token";
const WASM: &[u8] = b"\0asm\x0d\0\x01\0";

fn built(wasm: &[u8]) -> BuiltWasm {
    BuiltWasm {
        wasm: wasm.to_vec(),
        wasm_sha256: sha256_hex(wasm),
        toolchain: "rustc 1.95.0".into(),
        cache_hit: false,
        reproducible: None,
        previous_sha256: None,
    }
}

fn source(commit_digit: char) -> Value {
    json!({ "git": "https://example.org/guest.git", "commit": commit_digit.to_string().repeat(40), "path": "crates/guest" })
}

async fn scenario(mut config: CoordinatorConfig) -> Result<()> {
    config.builder_token = Some(TOKEN.into());
    let server = Server::start(config).await?;
    let (owner, token) = server.owner().await?;
    let (s, _) = server.post("/projects", Some(&token), &json!({ "name": "fromgit" })).await?;
    assert_eq!(s, StatusCode::CREATED);
    let versions = format!("/projects/{owner}/fromgit/versions");

    // Refusals: hostile fields, unknown fields, another owner.
    for bad in [json!({ "git": "-oProxyCommand=x", "commit": "a".repeat(40) }), json!({ "git": "https://x/y", "commit": "HEAD" })] {
        let (s, b) = server.post(&versions, Some(&token), &json!({ "source": bad })).await?;
        assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_source")), "{b}");
    }
    let (s, b) = server.post(&versions, Some(&token), &json!({ "source": source('a'), "extra": 1 })).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")));
    let (_, other) = server.owner().await?;
    let (s, _) = server.post(&versions, Some(&other), &json!({ "source": source('a') })).await?;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, b) = server.post(&versions, Some(&token), &json!({ "source": source('a') })).await?;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let id = b["build_id"].as_str().unwrap().to_owned();
    let (_, view) = server.get(&format!("/builds/{id}"), &[]).await?;
    assert_eq!((view["status"].as_str(), view["project"].as_str()), (Some("queued"), Some(format!("{owner}/fromgit").as_str())));
    assert_eq!(view["source"]["build_target"], "wasm32-wasip2");

    // The builder API wants the token.
    let (s, b) = server.post("/builder/lease", Some("nope"), &json!({})).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_builder_token")));
    let builder = BuilderClient::new(&server.base, TOKEN)?;
    let job = builder.lease(Duration::from_secs(2)).await?.expect("a build");
    assert_eq!(job.build_id, id);
    assert_eq!(job.source.path.as_deref(), Some("crates/guest"));
    assert!(builder.lease(Duration::ZERO).await?.is_none(), "a running build is not leased twice");
    assert_eq!(server.get(&format!("/builds/{id}"), &[]).await?.1["status"], "running");
    let (s, b) = server.get(&format!("/builds/{id}/wasm"), &[]).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("build_not_finished")));

    // A report whose wasm does not hash to its sha256 is refused; the build stays running.
    let mut tampered = built(WASM);
    tampered.wasm_sha256 = sha256_hex(b"other");
    let report = |result| BuildReport { build_id: id.clone(), result, log: "the log".into(), duration_ms: 1234 };
    let err = builder.complete(&report(Ok(tampered))).await.unwrap_err().to_string();
    assert!(err.contains("invalid_build_report"), "{err}");

    let view = builder.complete(&report(Ok(built(WASM)))).await?;
    assert_eq!(view.wasm_sha256.as_deref(), Some(sha256_hex(WASM).as_str()));
    let (_, view) = server.get(&format!("/builds/{id}"), &[]).await?;
    assert_eq!(
        (view["status"].as_str(), view["log"].as_str(), view["duration_ms"].as_u64()),
        (Some("succeeded"), Some("the log"), Some(1234))
    );
    let (_, project) = server.get(&format!("/projects/{owner}/fromgit"), &[]).await?;
    assert_eq!(project["active_version"], sha256_hex(WASM));
    let err = builder.complete(&report(Ok(built(WASM)))).await.unwrap_err().to_string();
    assert!(err.contains("build_not_running"), "{err}");

    // A failure keeps its code and message; no version is added.
    let (_, b) = server.post(&versions, Some(&token), &json!({ "source": source('b') })).await?;
    let failed_id = b["build_id"].as_str().unwrap().to_owned();
    let job = builder.lease(Duration::from_secs(2)).await?.expect("a build");
    assert_eq!(job.build_id, failed_id);
    let failure = BuildFailure { code: BuildErrorCode::CommitNotFound, message: "no such commit".into() };
    builder.complete(&BuildReport { build_id: failed_id.clone(), result: Err(failure), log: String::new(), duration_ms: 5 }).await?;
    let (_, view) = server.get(&format!("/builds/{failed_id}"), &[]).await?;
    assert_eq!(view["error"], json!({ "code": "commit_not_found", "message": "no such commit" }));
    let (s, b) = server.get(&format!("/builds/{failed_id}/wasm"), &[]).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("build_failed")));

    // A chain build (no project): its wasm is served by the build.
    let (s, b) = server.post("/builds", Some(&token), &json!({ "source": source('c') })).await?;
    assert_eq!(s, StatusCode::ACCEPTED);
    let chain_id = b["build_id"].as_str().unwrap().to_owned();
    let job = builder.lease(Duration::from_secs(2)).await?.expect("a build");
    let wasm2 = b"\0asm\x0d\0\x01\0chain";
    builder.complete(&BuildReport { build_id: job.build_id, result: Ok(built(wasm2)), log: String::new(), duration_ms: 1 }).await?;
    let bytes = server.http.get(server.url(&format!("/builds/{chain_id}/wasm"))).send().await?.bytes().await?;
    assert_eq!(&bytes[..], wasm2);
    let (s, _) = server.post("/builds", None, &json!({ "source": source('c') })).await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn builds_on_sqlite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    scenario(sqlite_config(&dir)).await
}

#[tokio::test]
async fn builds_on_postgres() -> Result<()> {
    let config = pg_config();
    let result = scenario(config.clone()).await;
    drop_schema(&config).await;
    result
}

#[tokio::test]
async fn builders_are_refused_without_a_configured_token() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(sqlite_config(&dir)).await?;
    let (s, b) = server.post("/builder/lease", Some("anything"), &json!({})).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("builders_disabled")));
    let (s, b) = server.get("/builds/nope", &[]).await?;
    assert_eq!((s, b["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("build_not_found")));
    server.stop().await;
    Ok(())
}

//! `GitHub` sources: resolution, refusals, the reserved compile charge and its settlement.

use near_sdk::json_types::U128;
use near_sdk::serde_json::{self, json};

use super::*;
use crate::pricing::COMPILE_MS_CAP;

const ONE_NEAR: u128 = 1_000_000_000_000_000_000_000_000;
/// The default per-ms price.
const PER_MS: u128 = 100_000_000_000_000_000;

fn commit() -> String {
    "0123456789abcdef0123456789ABCDEF01234567".into()
}

fn github(target: Option<&str>) -> ExecutionSource {
    ExecutionSource::GitHub { repo: "https://github.com/alice/guest".into(), commit: commit(), build_target: target.map(Into::into) }
}

#[test]
fn the_v01_json_shape_parses() {
    let source: ExecutionSource = serde_json::from_value(json!({
        "GitHub": { "repo": "https://github.com/alice/guest", "commit": commit(), "build_target": "wasm32-wasip1" }
    }))
    .unwrap();
    assert_eq!(source, github(Some("wasm32-wasip1")));
}

#[test]
fn a_github_request_resolves_to_a_git_source_and_reserves_the_compile_cap() {
    let mut c = setup();
    let cap = COMPILE_MS_CAP as u128 * PER_MS;
    set(&ctx("alice.near", DEFAULT_ESTIMATE + cap));
    c.request_execution(github(None), None, Some("in".into()), None, None, None, None);
    let data = event("execution_requested");
    assert_eq!(data["source"]["wasm_url"], format!("git+https://github.com/alice/guest@{}#wasm32-wasip2", commit().to_lowercase()));
    assert_eq!(data["source"]["wasm_sha256"], "");
    assert_eq!(c.get_request(0).unwrap().estimate.as_yoctonear(), DEFAULT_ESTIMATE + cap);
}

#[test]
#[should_panic(expected = "less than the required")]
fn a_github_request_must_cover_the_compile_cap() {
    let mut c = setup();
    set(&ctx("alice.near", DEFAULT_ESTIMATE));
    c.request_execution(github(None), None, None, None, None, None, None);
}

#[test]
fn bad_github_sources_are_refused() {
    for (repo, commit_id, target, message) in [
        ("http://github.com/a/b", commit(), None, "GitHub repo must be an https:// URL"),
        ("https://github.com/a/b", "abc".into(), None, "GitHub commit must be a full commit id (40 hex digits)"),
        ("https://x@evil/a", commit(), None, "without spaces, '@' or '#'"),
        ("https://github.com/a/b", commit(), Some("x86_64-unknown-linux-gnu"), "build_target must be one of wasm32-wasip1, wasm32-wasip2"),
    ] {
        let result = std::panic::catch_unwind(|| {
            let mut c = setup();
            set(&ctx("alice.near", ONE_NEAR));
            let source = ExecutionSource::GitHub { repo: repo.into(), commit: commit_id.clone(), build_target: target.map(Into::into) };
            c.request_execution(source, None, None, None, None, None, None);
        });
        let err = result.expect_err(repo);
        let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains(message), "{text} / {message}");
    }
}

fn settle_with_compile(compile_time_ms: u64) -> (u128, u128) {
    let mut c = setup_with_worker();
    let mut w = ctx(CONTRACT, ONE_NEAR);
    w.signer_account_pk(worker_key());
    set(&w);
    c.request_execution(github(None), None, None, None, None, Some(acc("alice.near")), None);
    let response = ExecutionResponse { compile_time_ms, ..ok_response("ok", 2_000_000, 1500) };
    let payload = c.prepare_resume(0, response).1;
    set(&ctx(CONTRACT, 0));
    let outcome = c.on_execution_resolved(0, Ok(serde_json::from_slice(&payload).unwrap()));
    assert!(outcome.success);
    let U128(cost) = outcome.cost;
    (cost, BASE_FEE + 200_000_000_000_000_000 + 1500 * PER_MS)
}

#[test]
fn compile_time_is_charged_per_millisecond() {
    let (cost, run) = settle_with_compile(12_000);
    assert_eq!(cost, run + 12_000 * PER_MS);
}

#[test]
fn compile_time_is_charged_up_to_the_cap() {
    let (cost, run) = settle_with_compile(u64::MAX);
    assert_eq!(cost, run + COMPILE_MS_CAP as u128 * PER_MS);
}

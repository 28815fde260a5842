//! `GitHub` sources: resolution, refusals, the reserved compile charge and its settlement.

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
    let data = request_data();
    assert_eq!(data["wasm_url"], format!("git+https://github.com/alice/guest@{}#wasm32-wasip2", commit().to_lowercase()));
    assert_eq!(data["wasm_sha256"], "");
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
    let mut response = ok_response("ok", 2_000_000, 1500);
    response.resources_used.compile_time_ms = Some(compile_time_ms);
    let payload = c.prepare_resume(0, response).1;
    set(&ctx(CONTRACT, 0));
    assert_eq!(c.on_execution_resolved(0, Ok(serde_json::from_slice(&payload).unwrap())), Some(json!("ok")));
    let cost = event("execution_completed")["payment_charged"].as_str().unwrap().parse().unwrap();
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

fn compile_only(force_rebuild: bool) -> Option<RequestParams> {
    Some(RequestParams { compile_only: true, force_rebuild, ..Default::default() })
}

#[test]
fn the_v01_params_parse() {
    let params: RequestParams = serde_json::from_value(json!({"compile_only": true, "force_rebuild": true})).unwrap();
    assert_eq!(params, compile_only(true).unwrap());
    let params: RequestParams = serde_json::from_value(json!({})).unwrap();
    assert!(!params.compile_only && !params.force_rebuild);
}

#[test]
fn a_compile_only_request_reserves_the_compile_cap_alone_and_says_it_is_compile_only() {
    let mut c = setup();
    let cap = COMPILE_MS_CAP as u128 * PER_MS;
    set(&ctx("alice.near", cap));
    c.request_execution(github(Some("wasm32-wasip1")), None, None, None, Some(ResponseFormat::Text), None, compile_only(true));
    let data = request_data();
    assert_eq!(data["compile_only"], true);
    assert_eq!(data["force_rebuild"], true);
    let zero = json!({"max_instructions": 0, "max_memory_mb": 0, "max_execution_seconds": 0});
    assert_eq!(data["resource_limits"], zero);
    assert_eq!(data["response_format"], "Json");
    let stored = c.get_request(0).unwrap();
    assert_eq!(stored.estimate.as_yoctonear(), cap, "no execution estimate, no base fee: the compile cap only");
    assert_eq!(serde_json::to_value(&stored.limits).unwrap(), zero);
    assert_eq!(stored.response_format, ResponseFormat::Json);
}

#[test]
fn an_ordinary_request_says_it_is_not_compile_only() {
    let mut c = setup();
    set(&ctx("alice.near", ONE_NEAR));
    c.request_execution(github(None), None, None, None, None, None, None);
    let data = request_data();
    assert_eq!((data["compile_only"].clone(), data["force_rebuild"].clone()), (json!(false), json!(false)));
    assert_eq!(data["resource_limits"]["max_instructions"], 1_000_000_000u64);
}

#[test]
#[should_panic(expected = "less than the required 30000000000000000000000 yoctoNEAR")]
fn a_compile_only_request_must_cover_the_compile_cap() {
    let mut c = setup();
    set(&ctx("alice.near", COMPILE_MS_CAP as u128 * PER_MS - 1));
    c.request_execution(github(None), None, None, None, None, None, compile_only(false));
}

#[test]
fn compile_only_and_force_rebuild_are_refused_without_a_github_source_or_with_limits() {
    let limits = Some(ResourceLimits { max_instructions: Some(1000), ..Default::default() });
    let secrets = Some(SecretsRef { account_id: acc("alice.near"), profile: "p".into() });
    let force = Some(RequestParams { force_rebuild: true, ..Default::default() });
    for (source, limits, secrets, params, message) in [
        (wasm_source(), None, None, compile_only(false), "compile_only needs a GitHub source: only a GitHub source is built"),
        (wasm_source(), None, None, force, "force_rebuild needs a GitHub source: only a GitHub source is built"),
        (github(None), limits, None, compile_only(false), "A compile-only request runs nothing: it takes no resource_limits"),
        (github(None), None, secrets, compile_only(false), "A compile-only request runs nothing: it takes no secrets_ref"),
    ] {
        let result = std::panic::catch_unwind(|| {
            let mut c = setup();
            set(&ctx("alice.near", ONE_NEAR));
            c.request_execution(source, limits, None, secrets, None, None, params);
        });
        let err = result.expect_err(message);
        let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.ends_with(&format!("panic_msg: {message:?} }})")), "{text} / {message}");
    }
}

/// What a settled request showed: the value returned to the caller and the
/// `execution_completed` event's success, error, charge and refund.
#[derive(Debug)]
struct Settled {
    returned: Option<Value>,
    success: bool,
    error: Option<String>,
    cost: u128,
    refund: u128,
}

/// A compile-only request by alice with one NEAR, resolved with `response`.
fn settle_compile_only(response: ExecutionResponse) -> Settled {
    let mut c = setup_with_worker();
    let mut w = ctx(CONTRACT, ONE_NEAR);
    w.signer_account_pk(worker_key());
    set(&w);
    c.request_execution(github(None), None, None, None, None, Some(acc("alice.near")), compile_only(false));
    let payload = c.prepare_resume(0, response).1;
    set(&ctx(CONTRACT, 0));
    let returned = c.on_execution_resolved(0, Ok(serde_json::from_slice(&payload).unwrap()));
    let completed = event("execution_completed");
    let amount = |name: &str| completed[name].as_str().unwrap().parse::<u128>().unwrap();
    let outcome = Settled {
        returned,
        success: completed["success"].as_bool().unwrap(),
        error: completed["error_message"].as_str().map(str::to_owned),
        cost: amount("payment_charged"),
        refund: amount("payment_refunded"),
    };
    assert_eq!(transfers(), vec![("alice.near".to_owned(), outcome.refund)]);
    assert_eq!(outcome.cost + outcome.refund, ONE_NEAR);
    assert_eq!(outcome.success, outcome.returned.is_some(), "the caller gets null on failure");
    outcome
}

fn built(sha256: &str, compile_time_ms: u64) -> ExecutionResponse {
    // As the worker sends a JSON answer: the exact text, parsed by the callback.
    let text = json!({"wasm_sha256": sha256, "compile_time_ms": compile_time_ms}).to_string();
    ExecutionResponse {
        success: true,
        output: Some(ExecutionOutput::Text(text)),
        resources_used: ResourcesUsed { compile_time_ms: Some(compile_time_ms), ..Default::default() },
        ..Default::default()
    }
}

#[test]
fn a_compile_only_request_answers_the_hash_and_is_charged_the_compile_time_alone() {
    let hash = "cd".repeat(32);
    let outcome = settle_compile_only(built(&hash, 12_000));
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(outcome.returned, Some(json!({"wasm_sha256": hash, "compile_time_ms": 12_000})));
    assert_eq!(outcome.cost, 12_000 * PER_MS, "the compile time, no base fee");
    assert_eq!(outcome.refund, ONE_NEAR - 12_000 * PER_MS);
    assert_eq!(event("execution_completed")["resources_used"], json!({"instructions": 0, "time_ms": 0, "compile_time_ms": 12_000}));
}

#[test]
fn a_compile_only_request_is_charged_up_to_the_cap() {
    let outcome = settle_compile_only(built(&"cd".repeat(32), 900_000));
    assert!(outcome.success);
    assert_eq!(outcome.cost, COMPILE_MS_CAP as u128 * PER_MS);
}

#[test]
fn a_cache_hit_costs_nothing() {
    let outcome = settle_compile_only(built(&"cd".repeat(32), 0));
    assert_eq!(outcome.returned, Some(json!({"wasm_sha256": "cd".repeat(32), "compile_time_ms": 0})));
    assert_eq!((outcome.cost, outcome.refund), (0, ONE_NEAR));
}

#[test]
fn a_failed_build_is_charged_its_compile_time_and_names_its_code() {
    let response = ExecutionResponse {
        error: Some("build failed: build_failed: error[E0425]".into()),
        resources_used: ResourcesUsed { compile_time_ms: Some(800), ..Default::default() },
        ..Default::default()
    };
    let outcome = settle_compile_only(response);
    assert!(!outcome.success);
    assert_eq!(outcome.error.as_deref(), Some("build failed: build_failed: error[E0425]"));
    assert_eq!(outcome.cost, 800 * PER_MS);
}

#[test]
fn a_compile_only_answer_without_a_hash_fails() {
    let outcome = settle_compile_only(built("not-a-hash", 500));
    assert!(!outcome.success);
    assert_eq!(outcome.error.as_deref(), Some("Compile-only output must be {\"wasm_sha256\": <64 lowercase hex>, ...}"));
    assert_eq!(outcome.cost, 500 * PER_MS);
}

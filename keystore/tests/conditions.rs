//! Access conditions: each kind true and false through `RpcChain` against a local NEAR RPC
//! stand-in serving recorded and protocol-shaped answers (`tests/data/PROVENANCE.md`), and the
//! combinators, laziness and the read budget through a counting fake chain.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine as _;
use outlayer_keystore::conditions::{ChainError, ChainView, Denied, EvalError, MAX_CHAIN_READS, RpcChain, evaluate, pattern_matches};
use outlayer_near::RpcClient;
use outlayer_protocol::secrets::AccessCondition;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// A local NEAR RPC node answering fixed (method, params) pairs.

/// `keystore/tests/data/<name>` (`near:` prefix: `crates/near/tests/data/rpc/<name>`) as JSON.
fn data(name: &str) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let file = match name.strip_prefix("near:") {
        Some(recorded) => root.join("../crates/near/tests/data/rpc").join(recorded),
        None => root.join("tests/data").join(name),
    };
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A `call_function` query's params as the node receives them, with `args_base64` shown decoded
/// as `args` so routes can be written as JSON.
fn call(contract: &str, method: &str, args: Value) -> Value {
    json!({"request_type": "call_function", "finality": "final", "account_id": contract, "method_name": method, "args": args})
}

fn normalize(mut params: Value) -> Value {
    if let Some(b64) = params.get("args_base64").and_then(Value::as_str).map(str::to_owned) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("args_base64 is base64");
        let args: Value = serde_json::from_slice(&bytes).expect("view args are JSON");
        params.as_object_mut().unwrap().remove("args_base64");
        params["args"] = args;
    }
    params
}

#[derive(Clone)]
struct Node {
    routes: Arc<Vec<(Value, Value)>>,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn answer(State(node): State<Node>, axum::Json(request): axum::Json<Value>) -> axum::Json<Value> {
    assert_eq!(request["jsonrpc"], "2.0");
    assert_eq!(request["method"], "query", "only queries are expected: {request}");
    let params = normalize(request["params"].clone());
    node.seen.lock().unwrap().push(params.clone());
    let found = node.routes.iter().find(|(p, _)| *p == params).map(|(_, r)| r.clone());
    axum::Json(found.unwrap_or_else(|| {
        json!({"jsonrpc": "2.0", "id": request["id"], "error": {"name": "REQUEST_VALIDATION_ERROR",
            "cause": {"name": "UNEXPECTED_REQUEST", "info": {}}, "code": -32602, "message": format!("no answer for {params}")}})
    }))
}

/// Serves `routes` (expected params → whole JSON-RPC answer) on 127.0.0.1; returns a chain
/// reading it and the params of every query received.
async fn node(routes: Vec<(Value, Value)>) -> (RpcChain, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Node { routes: Arc::new(routes), seen: seen.clone() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/", post(answer)).with_state(state)).await.unwrap() });
    (RpcChain::new(RpcClient::new(url)), seen)
}

/// The recorded `view_account` of `account.rpc-examples.testnet` (amount 999788200694421800000000).
const RECORDED_ACCOUNT: &str = "account.rpc-examples.testnet";
const RECORDED_AMOUNT: u128 = 999_788_200_694_421_800_000_000;

fn recorded(request: &str, response: &str) -> (Value, Value) {
    (data(&format!("near:{request}.request.json"))["params"].clone(), data(&format!("near:{response}.response.json")))
}

fn denied(result: Result<(), EvalError>) -> Denied {
    match result {
        Err(EvalError::Denied(d)) => d,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn near_balance(min: u128) -> AccessCondition {
    AccessCondition::NearBalance { min }
}

// ---------------------------------------------------------------------------------------------
// Each kind against the RPC stand-in.

#[tokio::test]
async fn near_balance_reads_view_account_at_final() {
    let (chain, seen) = node(vec![recorded("view_account", "view_account")]).await;
    evaluate(&near_balance(RECORDED_AMOUNT), RECORDED_ACCOUNT, &chain).await.unwrap();
    let d = denied(evaluate(&near_balance(RECORDED_AMOUNT + 1), RECORDED_ACCOUNT, &chain).await);
    assert_eq!(d.condition, "near_balance");
    assert_eq!(d.message, format!("{RECORDED_ACCOUNT} holds {RECORDED_AMOUNT} yoctoNEAR, needs at least {}", RECORDED_AMOUNT + 1));
    assert_eq!(
        EvalError::Denied(d).to_string(),
        format!(
            "access denied: near_balance: {RECORDED_ACCOUNT} holds {RECORDED_AMOUNT} yoctoNEAR, needs at least {}",
            RECORDED_AMOUNT + 1
        )
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_unknown_account_holds_nothing_it_is_not_an_error() {
    let (chain, _) = node(vec![recorded("view_account_unknown", "view_account_unknown")]).await;
    assert!(matches!(
        chain.near_balance("nosuchaccount.testnet").await,
        Err(ChainError::UnknownAccount { account }) if account == "nosuchaccount.testnet"
    ));
    let d = denied(evaluate(&near_balance(1), "nosuchaccount.testnet", &chain).await);
    assert_eq!(
        (d.condition, d.message.as_str()),
        ("near_balance", "nosuchaccount.testnet does not exist on NEAR, needs at least 1 yoctoNEAR")
    );
    // The negation of a fact holds.
    let not = AccessCondition::Not { condition: Box::new(near_balance(1)) };
    evaluate(&not, "nosuchaccount.testnet", &chain).await.unwrap();
}

#[tokio::test]
async fn ft_balance_reads_ft_balance_of() {
    let args = json!({"account_id": "bob.near"});
    let routes = vec![
        (call("usdc.near", "ft_balance_of", args.clone()), data("ft_balance_of.response.json")),
        // The recorded `get_num` answer (the JSON number 0), served as a token's balance.
        (call("zero.near", "ft_balance_of", args.clone()), data("near:call_function.response.json")),
        (call("nosuchtoken.testnet", "ft_balance_of", args), data("unknown_contract.response.json")),
    ];
    let (chain, _) = node(routes).await;
    let ft = |contract: &str, min| AccessCondition::FtBalance { contract: contract.into(), min };
    evaluate(&ft("usdc.near", 1_500_000), "bob.near", &chain).await.unwrap();
    let d = denied(evaluate(&ft("usdc.near", 1_500_001), "bob.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("ft_balance", "bob.near holds 1500000 of token usdc.near, needs at least 1500001"));
    assert_eq!(chain.ft_balance("zero.near", "bob.near").await.unwrap(), 0);
    evaluate(&ft("zero.near", 0), "bob.near", &chain).await.unwrap();
    let d = denied(evaluate(&ft("zero.near", 1), "bob.near", &chain).await);
    assert_eq!(d.message, "bob.near holds 0 of token zero.near, needs at least 1");
    let d = denied(evaluate(&ft("nosuchtoken.testnet", 1), "bob.near", &chain).await);
    assert_eq!(d.message, "nosuchtoken.testnet does not exist on NEAR: bob.near cannot hold 1 of token nosuchtoken.testnet");
}

#[tokio::test]
async fn nft_owned_reads_nft_token_or_nft_tokens_for_owner() {
    let routes = vec![
        (call("nft.near", "nft_token", json!({"token_id": "7"})), data("nft_token.response.json")),
        (call("nft.near", "nft_token", json!({"token_id": "8"})), data("view_null.response.json")),
        (
            call("nft.near", "nft_tokens_for_owner", json!({"account_id": "alice.near", "limit": 1})),
            data("nft_tokens_for_owner.response.json"),
        ),
        (
            call("nft.near", "nft_tokens_for_owner", json!({"account_id": "bob.near", "limit": 1})),
            data("nft_tokens_for_owner_empty.response.json"),
        ),
    ];
    let (chain, seen) = node(routes).await;
    let nft = |token: Option<&str>| AccessCondition::NftOwned { contract: "nft.near".into(), token_id: token.map(Into::into) };
    evaluate(&nft(Some("7")), "alice.near", &chain).await.unwrap();
    let d = denied(evaluate(&nft(Some("7")), "bob.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("nft_owned", "bob.near does not own token \"7\" of nft.near"));
    let d = denied(evaluate(&nft(Some("8")), "alice.near", &chain).await);
    assert_eq!(d.message, "alice.near does not own token \"8\" of nft.near");
    evaluate(&nft(None), "alice.near", &chain).await.unwrap();
    let d = denied(evaluate(&nft(None), "bob.near", &chain).await);
    assert_eq!(d.message, "bob.near does not own any token of nft.near");
    assert_eq!(seen.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn whitelist_and_pattern_need_no_chain() {
    let (chain, seen) = node(vec![]).await;
    let list = AccessCondition::Whitelist { accounts: vec!["alice.near".into(), "bob.near".into()] };
    evaluate(&list, "bob.near", &chain).await.unwrap();
    let d = denied(evaluate(&list, "Bob.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("whitelist", "Bob.near is not one of the 2 whitelisted accounts"));
    let pattern = AccessCondition::AccountPattern { pattern: "*.dao.near".into() };
    evaluate(&pattern, "x.dao.near", &chain).await.unwrap();
    let d = denied(evaluate(&pattern, "dao.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("account_pattern", "dao.near does not match *.dao.near"));
    evaluate(&AccessCondition::AllowAll, "anyone.near", &chain).await.unwrap();
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn rpc_failures_are_chain_errors_not_denials() {
    let routes = vec![
        (data("near:view_account.request.json")["params"].clone(), data("internal_error.response.json")),
        (call("nft.near", "nft_token", json!({"token_id": "7"})), data("contract_execution_error.response.json")),
    ];
    let (chain, _) = node(routes).await;
    let err = evaluate(&near_balance(1), RECORDED_ACCOUNT, &chain).await.unwrap_err();
    assert!(matches!(&err, EvalError::Chain(ChainError::Rpc(m)) if m.contains("Not enough synced blocks")), "{err:?}");
    // Not even `not` turns a failed read into access.
    let not = AccessCondition::Not { condition: Box::new(near_balance(1)) };
    assert!(matches!(evaluate(&not, RECORDED_ACCOUNT, &chain).await, Err(EvalError::Chain(_))));
    let nft = AccessCondition::NftOwned { contract: "nft.near".into(), token_id: Some("7".into()) };
    let err = evaluate(&nft, "alice.near", &chain).await.unwrap_err();
    assert!(
        matches!(&err, EvalError::Chain(ChainError::ViewFailed { contract, method, message })
            if contract == "nft.near" && method == "nft_token" && message.contains("MethodNotFound")),
        "{err:?}"
    );
    // A node that cannot be reached at all.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let offline = RpcChain::new(RpcClient::new(closed));
    let err = evaluate(&near_balance(1), RECORDED_ACCOUNT, &offline).await.unwrap_err();
    assert!(matches!(&err, EvalError::Chain(ChainError::Rpc(m)) if m.contains("cannot connect")), "{err:?}");
}

#[tokio::test]
async fn a_garbled_balance_is_a_bad_answer() {
    let mut garbled = data("ft_balance_of.response.json");
    garbled["result"]["result"] = json!(b"\"12abc\"".to_vec());
    let (chain, _) = node(vec![(call("usdc.near", "ft_balance_of", json!({"account_id": "bob.near"})), garbled)]).await;
    let cond = AccessCondition::FtBalance { contract: "usdc.near".into(), min: 1 };
    let err = evaluate(&cond, "bob.near", &chain).await.unwrap_err();
    assert!(matches!(&err, EvalError::Chain(ChainError::BadAnswer(m)) if m.contains("12abc")), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Combinators with a fake chain that counts its reads.

/// Balances by account; an account listed in `failing` makes every read of it fail.
#[derive(Default)]
struct Fake {
    near: HashMap<&'static str, u128>,
    failing: Vec<&'static str>,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl ChainView for Fake {
    async fn near_balance(&self, account: &str) -> Result<u128, ChainError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing.contains(&account) {
            return Err(ChainError::Rpc("node down".into()));
        }
        self.near.get(account).copied().ok_or_else(|| ChainError::UnknownAccount { account: account.into() })
    }

    async fn ft_balance(&self, token: &str, _account: &str) -> Result<u128, ChainError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing.contains(&token) {
            return Err(ChainError::Rpc("node down".into()));
        }
        Ok(0)
    }

    async fn nft_owned(&self, contract: &str, _account: &str, _token_id: Option<&str>) -> Result<bool, ChainError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing.contains(&contract) {
            return Err(ChainError::Rpc("node down".into()));
        }
        Ok(false)
    }
}

impl Fake {
    fn with(near: &[(&'static str, u128)], failing: &[&'static str]) -> Self {
        Self { near: near.iter().copied().collect(), failing: failing.to_vec(), reads: AtomicUsize::new(0) }
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

fn whitelist(account: &str) -> AccessCondition {
    AccessCondition::Whitelist { accounts: vec![account.into()] }
}

fn and(conditions: Vec<AccessCondition>) -> AccessCondition {
    AccessCondition::And { conditions }
}

fn or(conditions: Vec<AccessCondition>) -> AccessCondition {
    AccessCondition::Or { conditions }
}

fn not(condition: AccessCondition) -> AccessCondition {
    AccessCondition::Not { condition: Box::new(condition) }
}

fn ft_failing() -> AccessCondition {
    AccessCondition::FtBalance { contract: "down.near".into(), min: 1 }
}

#[tokio::test]
async fn or_stops_at_the_first_operand_that_holds() {
    let chain = Fake::with(&[("bob.near", 5)], &[]);
    evaluate(&or(vec![whitelist("bob.near"), near_balance(1)]), "bob.near", &chain).await.unwrap();
    assert_eq!(chain.reads(), 0, "the second operand was read");
    evaluate(&or(vec![whitelist("alice.near"), near_balance(1)]), "bob.near", &chain).await.unwrap();
    assert_eq!(chain.reads(), 1);
}

#[tokio::test]
async fn and_stops_at_the_first_operand_that_fails_and_names_it() {
    let chain = Fake::with(&[("bob.near", 5)], &[]);
    let d = denied(evaluate(&and(vec![whitelist("alice.near"), near_balance(1)]), "bob.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("whitelist", "bob.near is not one of the 1 whitelisted accounts"));
    assert_eq!(chain.reads(), 0);
    let d = denied(evaluate(&and(vec![whitelist("bob.near"), near_balance(1000), near_balance(1)]), "bob.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("near_balance", "bob.near holds 5 yoctoNEAR, needs at least 1000"));
    assert_eq!(chain.reads(), 1);
    evaluate(&and(vec![whitelist("bob.near"), near_balance(5)]), "bob.near", &chain).await.unwrap();
}

#[tokio::test]
async fn or_denial_lists_why_each_alternative_failed() {
    let chain = Fake::with(&[("bob.near", 5)], &[]);
    let d = denied(evaluate(&or(vec![whitelist("alice.near"), near_balance(1000)]), "bob.near", &chain).await);
    assert_eq!(d.condition, "or");
    assert_eq!(
        d.message,
        "none of 2 alternatives holds (whitelist: bob.near is not one of the 1 whitelisted accounts; \
         near_balance: bob.near holds 5 yoctoNEAR, needs at least 1000)"
    );
    // Many long reasons are cut short.
    let many = or((0..30).map(|i| AccessCondition::AccountPattern { pattern: format!("{i}-a-rather-long-prefix-*.near") }).collect());
    let d = denied(evaluate(&many, "bob.near", &chain).await);
    assert!(d.message.starts_with("none of 30 alternatives holds (account_pattern: bob.near does not match 0-"), "{}", d.message);
    assert!(d.message.chars().count() <= 401 && d.message.ends_with('…'), "{}", d.message);
}

#[tokio::test]
async fn not_negates_and_names_itself() {
    let chain = Fake::with(&[("bob.near", 5)], &[]);
    evaluate(&not(whitelist("mallory.near")), "bob.near", &chain).await.unwrap();
    let d = denied(evaluate(&not(near_balance(5)), "bob.near", &chain).await);
    assert_eq!((d.condition, d.message.as_str()), ("not", "bob.near satisfies the excluded condition (near_balance)"));
    evaluate(&not(not(near_balance(5))), "bob.near", &chain).await.unwrap();
    // Nested: and(or(..), not(..)).
    let tree =
        and(vec![or(vec![whitelist("alice.near"), AccessCondition::AccountPattern { pattern: "*.near".into() }]), not(near_balance(10))]);
    evaluate(&tree, "bob.near", &chain).await.unwrap();
    let d = denied(evaluate(&tree, "bob.testnet", &chain).await);
    assert_eq!(d.condition, "or");
}

#[tokio::test]
async fn a_chain_error_fails_only_when_the_result_depends_on_it() {
    let chain = Fake::with(&[("bob.near", 5)], &["down.near"]);
    // or: a later operand that holds decides.
    evaluate(&or(vec![ft_failing(), near_balance(1)]), "bob.near", &chain).await.unwrap();
    // or: nothing holds, so the failed read might have.
    let err = evaluate(&or(vec![ft_failing(), near_balance(1000)]), "bob.near", &chain).await.unwrap_err();
    assert!(matches!(err, EvalError::Chain(ChainError::Rpc(ref m)) if m == "node down"), "{err:?}");
    // and: a later operand that fails decides.
    let d = denied(evaluate(&and(vec![ft_failing(), near_balance(1000)]), "bob.near", &chain).await);
    assert_eq!(d.condition, "near_balance");
    // and: everything else holds, so the failed read decides.
    assert!(matches!(evaluate(&and(vec![ft_failing(), near_balance(1)]), "bob.near", &chain).await, Err(EvalError::Chain(_))));
    // An operand never reached is never read.
    let reads = chain.reads();
    evaluate(&or(vec![AccessCondition::AllowAll, ft_failing()]), "bob.near", &chain).await.unwrap();
    assert_eq!(chain.reads(), reads);
    // not: a failed read stays a failure.
    assert!(matches!(evaluate(&not(ft_failing()), "bob.near", &chain).await, Err(EvalError::Chain(_))));
}

#[tokio::test]
async fn an_invalid_tree_is_denied_without_reading_the_chain() {
    let chain = Fake::with(&[("bob.near", 5)], &[]);
    let wide = or(vec![near_balance(1000); 64]);
    let d = denied(evaluate(&wide, "bob.near", &chain).await);
    assert_eq!(d.condition, "or");
    assert!(d.message.contains("more than 64 nodes"), "{}", d.message);
    let d = denied(evaluate(&AccessCondition::Whitelist { accounts: vec![] }, "bob.near", &chain).await);
    assert_eq!(d.condition, "whitelist");
    assert_eq!(chain.reads(), 0);
    // The largest valid tree stays within the read budget.
    let widest = or(vec![near_balance(1000); 63]);
    let d = denied(evaluate(&widest, "bob.near", &chain).await);
    assert_eq!(d.condition, "or");
    assert_eq!(chain.reads(), 63);
    assert!(chain.reads() <= MAX_CHAIN_READS);
}

// ---------------------------------------------------------------------------------------------
// Patterns.

#[test]
fn patterns_match_whole_accounts_with_star_as_any_run() {
    let cases: &[(&str, &str, bool)] = &[
        ("*", "", true),
        ("*", "alice.near", true),
        ("", "", true),
        ("", "a", false),
        ("alice.near", "alice.near", true),
        ("alice.near", "alice.nearx", false),
        ("alice.near", "xalice.near", false),
        ("*.near", "alice.near", true),
        ("*.near", "sub.alice.near", true),
        ("*.near", ".near", true),
        ("*.near", "near", false),
        ("*.near", "alice.testnet", false),
        ("*.near", "alice_near", false),
        // `.` is literal, not "any character".
        ("a.c", "abc", false),
        ("a.c", "a.c", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "abcbc", true),
        ("a*b*c", "acb", false),
        ("a*b*c", "abcd", false),
        ("a**c", "ac", true),
        ("alice.*", "alice.near", true),
        ("alice.*", "alice", false),
        ("*a", "", false),
        // Case-sensitive.
        ("*.near", "ALICE.NEAR", false),
        // Regex syntax is literal.
        ("a+b", "aab", false),
        ("a+b", "a+b", true),
        ("[a]", "a", false),
    ];
    for &(pattern, account, expected) in cases {
        assert_eq!(pattern_matches(pattern, account), expected, "pattern {pattern:?} on {account:?}");
    }
}

#[test]
fn patterns_do_not_backtrack_exponentially() {
    let account = "a".repeat(64);
    let pattern = format!("{}b", "*a".repeat(32));
    let started = std::time::Instant::now();
    assert!(!pattern_matches(&pattern, &account));
    assert!(pattern_matches(&format!("{}a", "*a".repeat(31)), &account));
    assert!(started.elapsed() < std::time::Duration::from_millis(100), "took {:?}", started.elapsed());
}

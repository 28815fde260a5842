//! Access conditions evaluated against NEAR for the account a job runs for.
//!
//! [`evaluate`] walks an [`AccessCondition`] tree and reads what it needs through a
//! [`ChainView`] ([`RpcChain`] reads a NEAR RPC node at final finality):
//!
//! | kind | holds when |
//! | --- | --- |
//! | `allow_all` | always |
//! | `whitelist` | the account is one of the listed accounts (exact, case-sensitive) |
//! | `account_pattern` | the account matches the glob ([`pattern_matches`]) |
//! | `near_balance` | the account's balance (`view_account` `amount`) is at least `min` yoctoNEAR |
//! | `ft_balance` | NEP-141 `ft_balance_of` of the account is at least `min` |
//! | `nft_owned` | NEP-171 `nft_token(token_id)` is owned by the account, or, without a token id, `nft_tokens_for_owner` lists at least one token |
//! | `and` / `or` / `not` | all / at least one / not |
//!
//! # Laziness and chain errors
//!
//! Operands of `and` and `or` are evaluated left to right and evaluation stops at the first that
//! decides (a failing operand of `and`, a holding operand of `or`). A chain error in an operand is
//! held back while a later operand may still decide; it fails the evaluation
//! ([`EvalError::Chain`]) only when the result depends on it. A chain error is never read as a
//! false condition, so `not` cannot turn an outage into access.
//!
//! # Unknown accounts
//!
//! An account that does not exist on NEAR (the node's `UNKNOWN_ACCOUNT`,
//! [`ChainError::UnknownAccount`]) is a fact, not a failure: it holds no NEAR and no token and
//! owns no NFT, so `near_balance`, `ft_balance` and `nft_owned` are false for it, and they are
//! false as well when the token contract itself does not exist. Under `not` they are therefore
//! true.
//!
//! # Bounds
//!
//! A tree must pass [`AccessCondition::validate`] (at most
//! [`MAX_CONDITION_NODES`](outlayer_protocol::secrets::MAX_CONDITION_NODES) nodes), otherwise it
//! is denied without reading NEAR, and one evaluation makes at most [`MAX_CHAIN_READS`] reads.

use std::future::Future;
use std::pin::Pin;

use outlayer_near::RpcClient;
use outlayer_protocol::secrets::AccessCondition;
use serde::Deserialize;

pub use crate::chain::ChainError;
use crate::chain::{shorten, shorten_to, view_json};

/// Most chain reads one [`evaluate`] makes; a tree needing more is denied.
pub const MAX_CHAIN_READS: usize = 64;

/// Longest `or` denial message (the reasons of every operand, shortened).
const MAX_OR_MESSAGE_CHARS: usize = 400;

/// What access conditions read from NEAR.
#[async_trait::async_trait]
pub trait ChainView: Send + Sync {
    /// The balance of `account` in yoctoNEAR (`view_account` `amount`).
    async fn near_balance(&self, account: &str) -> Result<u128, ChainError>;

    /// The NEP-141 balance of `account` on the token contract `token` (`ft_balance_of`).
    async fn ft_balance(&self, token: &str, account: &str) -> Result<u128, ChainError>;

    /// Whether `account` owns the NEP-171 token `token_id` of `contract` (`nft_token`), or any
    /// token of `contract` when `token_id` is `None` (`nft_tokens_for_owner`, limit 1).
    async fn nft_owned(&self, contract: &str, account: &str, token_id: Option<&str>) -> Result<bool, ChainError>;
}

/// A condition that does not hold for the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    /// [`AccessCondition::kind`] of the failing node (`or` / `not` for those nodes, the first
    /// failing operand's kind for `and`).
    pub condition: &'static str,
    /// Why, naming the account and the threshold.
    pub message: String,
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "access denied: {}: {}", self.condition, self.message)
    }
}

/// Why [`evaluate`] did not grant access.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The condition does not hold.
    #[error("{0}")]
    Denied(Denied),
    /// NEAR could not be read, and the result depends on what it would have said.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Evaluates `condition` for `account`: `Ok(())` when it holds. See the [module docs](self) for
/// the semantics of each kind, laziness and unknown accounts.
pub async fn evaluate(condition: &AccessCondition, account: &str, chain: &dyn ChainView) -> Result<(), EvalError> {
    if let Err(e) = condition.validate() {
        return Err(EvalError::Denied(Denied { condition: condition.kind(), message: e.to_string() }));
    }
    let mut eval = Evaluation { account, chain, reads: 0 };
    match eval.node(condition).await? {
        Ok(()) => Ok(()),
        Err(denied) => Err(EvalError::Denied(denied)),
    }
}

/// Whether `account` matches `pattern`, where `*` matches any run of characters (including none)
/// and every other character matches itself; the whole account must match. No regular
/// expressions; the time is at most proportional to `pattern.len() × account.len()`.
pub fn pattern_matches(pattern: &str, account: &str) -> bool {
    let (p, a) = (pattern.as_bytes(), account.as_bytes());
    let (mut pi, mut ai) = (0, 0);
    // The position after the last `*` seen and the account position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        if pi < p.len() && p[pi] == b'*' {
            pi += 1;
            star = Some((pi, ai));
        } else if pi < p.len() && p[pi] == a[ai] {
            pi += 1;
            ai += 1;
        } else if let Some((after, tried)) = star {
            // Let the last `*` swallow one more character and retry from there.
            pi = after;
            ai = tried + 1;
            star = Some((after, tried + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// One evaluation: the account, the chain and the reads made so far.
struct Evaluation<'a> {
    account: &'a str,
    chain: &'a dyn ChainView,
    reads: usize,
}

/// Whether a node holds (`Ok(Ok(()))`), does not (`Ok(Err(denied))`), or could not be decided.
type Verdict = Result<Result<(), Denied>, ChainError>;

impl<'a> Evaluation<'a> {
    fn node<'s>(&'s mut self, condition: &'s AccessCondition) -> Pin<Box<dyn Future<Output = Verdict> + Send + 's>>
    where
        'a: 's,
    {
        Box::pin(async move {
            let account = self.account;
            let deny = |message: String| Ok(Err(Denied { condition: condition.kind(), message }));
            match condition {
                AccessCondition::AllowAll => Ok(Ok(())),
                AccessCondition::Whitelist { accounts } => {
                    if accounts.iter().any(|a| a == account) {
                        Ok(Ok(()))
                    } else {
                        deny(format!("{account} is not one of the {} whitelisted accounts", accounts.len()))
                    }
                }
                AccessCondition::AccountPattern { pattern } => {
                    if pattern_matches(pattern, account) {
                        Ok(Ok(()))
                    } else {
                        deny(format!("{account} does not match {pattern}"))
                    }
                }
                AccessCondition::NearBalance { min } => {
                    if !self.take_read() {
                        return deny(budget_message());
                    }
                    match self.chain.near_balance(account).await {
                        Ok(balance) if balance >= *min => Ok(Ok(())),
                        Ok(balance) => deny(format!("{account} holds {balance} yoctoNEAR, needs at least {min}")),
                        Err(ChainError::UnknownAccount { .. }) => {
                            deny(format!("{account} does not exist on NEAR, needs at least {min} yoctoNEAR"))
                        }
                        Err(e) => Err(e),
                    }
                }
                AccessCondition::FtBalance { contract, min } => {
                    if !self.take_read() {
                        return deny(budget_message());
                    }
                    match self.chain.ft_balance(contract, account).await {
                        Ok(balance) if balance >= *min => Ok(Ok(())),
                        Ok(balance) => deny(format!("{account} holds {balance} of token {contract}, needs at least {min}")),
                        Err(ChainError::UnknownAccount { account: missing }) => {
                            deny(format!("{missing} does not exist on NEAR: {account} cannot hold {min} of token {contract}"))
                        }
                        Err(e) => Err(e),
                    }
                }
                AccessCondition::NftOwned { contract, token_id } => {
                    if !self.take_read() {
                        return deny(budget_message());
                    }
                    let what = match token_id {
                        Some(id) => format!("token {id:?} of {contract}"),
                        None => format!("any token of {contract}"),
                    };
                    match self.chain.nft_owned(contract, account, token_id.as_deref()).await {
                        Ok(true) => Ok(Ok(())),
                        Ok(false) => deny(format!("{account} does not own {what}")),
                        Err(ChainError::UnknownAccount { account: missing }) => {
                            deny(format!("{missing} does not exist on NEAR: {account} does not own {what}"))
                        }
                        Err(e) => Err(e),
                    }
                }
                AccessCondition::And { conditions } => {
                    let mut held_back = None;
                    for operand in conditions {
                        match self.node(operand).await {
                            Ok(Ok(())) => {}
                            Ok(Err(denied)) => return Ok(Err(denied)),
                            Err(e) => {
                                held_back.get_or_insert(e);
                            }
                        }
                    }
                    held_back.map_or(Ok(Ok(())), Err)
                }
                AccessCondition::Or { conditions } => {
                    let mut held_back = None;
                    let mut reasons = Vec::with_capacity(conditions.len());
                    for operand in conditions {
                        match self.node(operand).await {
                            Ok(Ok(())) => return Ok(Ok(())),
                            Ok(Err(denied)) => reasons.push(format!("{}: {}", denied.condition, denied.message)),
                            Err(e) => {
                                held_back.get_or_insert(e);
                            }
                        }
                    }
                    if let Some(e) = held_back {
                        return Err(e);
                    }
                    let message = match reasons.as_slice() {
                        [only] => format!("the only alternative does not hold ({only})"),
                        _ => format!("none of {} alternatives holds ({})", reasons.len(), reasons.join("; ")),
                    };
                    deny(shorten_to(&message, MAX_OR_MESSAGE_CHARS))
                }
                AccessCondition::Not { condition: operand } => match self.node(operand).await? {
                    Ok(()) => deny(format!("{account} satisfies the excluded condition ({})", operand.kind())),
                    Err(_) => Ok(Ok(())),
                },
            }
        })
    }

    /// Counts one chain read; false once [`MAX_CHAIN_READS`] were made.
    fn take_read(&mut self) -> bool {
        if self.reads >= MAX_CHAIN_READS {
            return false;
        }
        self.reads += 1;
        true
    }
}

fn budget_message() -> String {
    format!("the condition needs more than {MAX_CHAIN_READS} reads of NEAR")
}

/// A [`ChainView`] reading a NEAR RPC node at final finality.
#[derive(Clone, Debug)]
pub struct RpcChain {
    rpc: RpcClient,
}

impl RpcChain {
    /// Reads NEAR through `rpc`.
    pub fn new(rpc: RpcClient) -> Self {
        Self { rpc }
    }
}

/// A NEP-141 / NEP-171 amount: a decimal string (the standard's `U128`), also accepted as a JSON
/// integer.
#[derive(Deserialize)]
#[serde(untagged)]
enum Amount {
    Text(String),
    Number(u64),
}

impl Amount {
    fn value(self, what: &str) -> Result<u128, ChainError> {
        match self {
            Amount::Number(n) => Ok(n.into()),
            Amount::Text(s) => s.parse().map_err(|_| ChainError::BadAnswer(format!("{what} is not a decimal amount: {}", shorten(&s)))),
        }
    }
}

/// The part of a NEP-171 `Token` the keystore reads.
#[derive(Deserialize)]
struct NftToken {
    owner_id: String,
}

#[async_trait::async_trait]
impl ChainView for RpcChain {
    async fn near_balance(&self, account: &str) -> Result<u128, ChainError> {
        let view =
            self.rpc.view_account(&outlayer_near::BlockRef::Final, account).await.map_err(|e| ChainError::from_rpc(e, account, None))?;
        view.amount.parse().map_err(|_| ChainError::BadAnswer(format!("the balance of {account} is not a decimal amount")))
    }

    async fn ft_balance(&self, token: &str, account: &str) -> Result<u128, ChainError> {
        let args = serde_json::json!({ "account_id": account });
        let amount: Amount = view_json(&self.rpc, token, "ft_balance_of", &args).await?;
        amount.value(&format!("{token}.ft_balance_of({account})"))
    }

    async fn nft_owned(&self, contract: &str, account: &str, token_id: Option<&str>) -> Result<bool, ChainError> {
        match token_id {
            Some(id) => {
                let args = serde_json::json!({ "token_id": id });
                let token: Option<NftToken> = view_json(&self.rpc, contract, "nft_token", &args).await?;
                Ok(token.is_some_and(|t| t.owner_id == account))
            }
            None => {
                let args = serde_json::json!({ "account_id": account, "limit": 1 });
                let tokens: Vec<serde::de::IgnoredAny> = view_json(&self.rpc, contract, "nft_tokens_for_owner", &args).await?;
                Ok(!tokens.is_empty())
            }
        }
    }
}

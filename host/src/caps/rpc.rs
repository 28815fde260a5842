//! The rpc capability: `outlayer:rpc/rpc@0.2.0` and the frozen `near:rpc/api@0.1.0`, both on
//! one [`RpcClient`] (a real NEAR JSON-RPC client).
//!
//! The host never signs with a key of its own: 0.2 guests submit transactions they signed;
//! v0.1's `call`/`transfer` take the guest's own key (`signer-key`) and the host builds and
//! signs the transaction with it on the guest's behalf.

use super::guard::{CallGuard, Refusal, v01_refusal};
use crate::bindings::near::rpc::api as v01;
use crate::bindings::outlayer::rpc::rpc::{self as v02, Account, BlockReference, Error, NodeError, ViewResult, WaitUntil};
use outlayer_near::tx::{Action, SecretKey};
use outlayer_near::{BlockId, BlockRef, ChunkRef, RpcClient, RpcError, TxWait};
use outlayer_protocol::capability::Capability;
use serde_json::Value;
use std::str::FromStr;
use wasmtime::component::{HasSelf, Linker};

/// Largest signed transaction a guest may submit. Defends the node connection.
pub const MAX_SIGNED_TX_BYTES: usize = 1 << 20;
/// Gas for v0.1 `call` when the guest passes an empty string (30 Tgas).
pub const DEFAULT_CALL_GAS: u64 = 30_000_000_000_000;

/// Permission to use NEAR RPC through `client`.
#[derive(Clone)]
pub struct RpcGrant {
    pub client: RpcClient,
}

impl RpcGrant {
    /// A grant using the node at `url`.
    pub fn new(url: &str) -> Self {
        Self { client: RpcClient::new(url) }
    }
}

/// Per-execution rpc state.
pub struct RpcCap {
    grant: Option<RpcGrant>,
    pub(crate) guard: CallGuard,
}

#[derive(Debug)]
enum Fail {
    Refused(Refusal),
    Rpc(RpcError),
    Timeout,
}

impl From<RpcError> for Fail {
    fn from(e: RpcError) -> Self {
        Fail::Rpc(e)
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Refused(Refusal::Denied) => Error::Denied,
            Fail::Refused(Refusal::OverBudget) => Error::LimitExceeded,
            Fail::Timeout | Fail::Rpc(RpcError::Timeout) => Error::Timeout,
            Fail::Rpc(RpcError::InvalidArgument(s)) => Error::InvalidArgument(s),
            Fail::Rpc(RpcError::Node { name, cause, message, .. }) => Error::Node(NodeError { name, cause, message }),
            Fail::Rpc(e) => Error::Other(e.to_string()),
        }
    }
}

fn v01_error(f: Fail) -> String {
    match f {
        Fail::Refused(r) => v01_refusal(Capability::Rpc, r),
        Fail::Timeout => RpcError::Timeout.to_string(),
        Fail::Rpc(e) => e.to_string(),
    }
}

type R<T> = Result<T, Fail>;

impl RpcCap {
    /// State for one execution.
    pub fn new(grant: Option<RpcGrant>, guard: CallGuard) -> Self {
        Self { grant, guard }
    }

    fn admit(&mut self) -> R<RpcClient> {
        self.guard.admit(self.grant.is_some()).map_err(Fail::Refused)?;
        Ok(self.grant.as_ref().expect("granted").client.clone())
    }

    /// Admit, then run `f(client)` within the execution's deadline.
    async fn with<T, F, Fut>(&mut self, f: F) -> R<T>
    where
        F: FnOnce(RpcClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>>,
    {
        let client = self.admit()?;
        match self.guard.bounded(f(client)).await {
            Some(r) => r.map_err(Fail::Rpc),
            None => Err(Fail::Timeout),
        }
    }
}

fn block_ref(at: BlockReference) -> BlockRef {
    match at {
        BlockReference::Final => BlockRef::Final,
        BlockReference::Optimistic => BlockRef::Optimistic,
        BlockReference::Height(h) => BlockRef::Height(h),
        BlockReference::Hash(h) => BlockRef::Hash(h),
    }
}

fn wait(w: WaitUntil) -> TxWait {
    match w {
        WaitUntil::None => TxWait::None,
        WaitUntil::Included => TxWait::Included,
        WaitUntil::ExecutedOptimistic => TxWait::ExecutedOptimistic,
        WaitUntil::IncludedFinal => TxWait::IncludedFinal,
        WaitUntil::Executed => TxWait::Executed,
        WaitUntil::Final => TxWait::Final,
    }
}

type WResult<T> = wasmtime::Result<Result<T, Error>>;

impl v02::Host for RpcCap {
    async fn view_call(&mut self, at: BlockReference, contract_id: String, method: String, args: Vec<u8>) -> WResult<ViewResult> {
        let at = block_ref(at);
        let r = self.with(|c| async move { c.view_call(&at, &contract_id, &method, &args).await }).await;
        Ok(r.map(|v| ViewResult { value: v.result, logs: v.logs, block_height: v.block_height, block_hash: v.block_hash })
            .map_err(Error::from))
    }

    async fn view_account(&mut self, at: BlockReference, account_id: String) -> WResult<Account> {
        let at = block_ref(at);
        let r = self.with(|c| async move { c.view_account(&at, &account_id).await }).await;
        Ok(r.map(|a| Account {
            amount: a.amount,
            locked: a.locked,
            code_hash: a.code_hash,
            storage_usage: a.storage_usage,
            block_height: a.block_height,
            block_hash: a.block_hash,
        })
        .map_err(Error::from))
    }

    async fn view_access_key(&mut self, at: BlockReference, account_id: String, public_key: String) -> WResult<String> {
        let at = block_ref(at);
        let r = self.with(|c| async move { c.view_access_key(&at, &account_id, &public_key).await }).await;
        Ok(r.map(|v| v.to_string()).map_err(Error::from))
    }

    async fn view_access_key_list(&mut self, at: BlockReference, account_id: String) -> WResult<String> {
        let at = block_ref(at);
        let r = self.with(|c| async move { c.view_access_key_list(&at, &account_id).await }).await;
        Ok(r.map(|v| v.to_string()).map_err(Error::from))
    }

    async fn block(&mut self, at: BlockReference) -> WResult<String> {
        let at = block_ref(at);
        let r = self.with(|c| async move { c.block(&at).await }).await;
        Ok(r.map(|v| v.to_string()).map_err(Error::from))
    }

    async fn send_transaction(&mut self, signed: Vec<u8>, wait_until: WaitUntil) -> WResult<String> {
        if signed.len() > MAX_SIGNED_TX_BYTES {
            return Ok(Err(Error::InvalidArgument(format!("signed transaction larger than {MAX_SIGNED_TX_BYTES} bytes"))));
        }
        // Refuse bytes that are not a signed transaction before they reach the node.
        let decoded = match outlayer_near::tx::SignedTransaction::from_borsh(&signed) {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(Error::InvalidArgument(format!("not a borsh SignedTransaction: {e}")))),
        };
        let b64 = decoded.to_base64();
        let w = wait(wait_until);
        let r = self.with(|c| async move { c.send_tx(&b64, w).await }).await;
        Ok(r.map(|v| v.to_string()).map_err(Error::from))
    }

    async fn raw(&mut self, method: String, params_json: String) -> WResult<String> {
        let params: Value = match serde_json::from_str(&params_json) {
            Ok(v) => v,
            Err(e) => return Ok(Err(Error::InvalidArgument(format!("params are not JSON: {e}")))),
        };
        let r = self.with(|c| async move { c.call(&method, params).await }).await;
        Ok(r.map(|v| v.to_string()).map_err(Error::from))
    }
}

/// (result JSON, "") or ("", error).
fn pair(r: R<Value>) -> (String, String) {
    match r {
        Ok(v) => (v.to_string(), String::new()),
        Err(f) => (String::new(), v01_error(f)),
    }
}

fn parse_at(text: &str) -> R<BlockRef> {
    BlockRef::parse_v01(text).map_err(Fail::Rpc)
}

fn invalid(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::Rpc(RpcError::InvalidArgument(format!("{what}: {e}")))
}

impl RpcCap {
    /// v0.1 `call` and `transfer`: sign with the guest's key, send, return the tx hash.
    async fn signed_send(
        &mut self,
        signer_id: String,
        signer_key: String,
        receiver_id: String,
        action: Action,
        wait_until: String,
    ) -> (String, String) {
        let prepared = (|| {
            let key = SecretKey::from_str(signer_key.trim()).map_err(|e| invalid("signer-key", e))?;
            let w = TxWait::parse_v01(&wait_until).map_err(Fail::Rpc)?;
            Ok::<_, Fail>((key, w))
        })();
        let (key, w) = match prepared {
            Ok(v) => v,
            Err(f) => return (String::new(), v01_error(f)),
        };
        let r = self.with(|c| async move { outlayer_near::sign_and_send(&c, &signer_id, &key, &receiver_id, vec![action], w).await }).await;
        match r {
            Ok(outcome) => (outcome.hash, String::new()),
            Err(f) => (String::new(), v01_error(f)),
        }
    }
}

impl v01::Host for RpcCap {
    async fn view(
        &mut self,
        contract_id: String,
        method_name: String,
        args_json: String,
        finality_or_block: String,
    ) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            let v = self.with(|c| async move { c.view_call(&at, &contract_id, &method_name, args_json.as_bytes()).await }).await?;
            // v0.1 answers with the function's result parsed as JSON when it is JSON.
            Ok(serde_json::from_slice(&v.result).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&v.result).into_owned())))
        };
        Ok(pair(r.await))
    }

    async fn view_account(&mut self, account_id: String, finality_or_block: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            let a = self.with(|c| async move { c.view_account(&at, &account_id).await }).await?;
            Ok(serde_json::json!({
                "amount": a.amount, "locked": a.locked, "code_hash": a.code_hash,
                "storage_usage": a.storage_usage, "block_height": a.block_height, "block_hash": a.block_hash,
            }))
        };
        Ok(pair(r.await))
    }

    async fn view_access_key(
        &mut self,
        account_id: String,
        public_key: String,
        finality_or_block: String,
    ) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            self.with(|c| async move { c.view_access_key(&at, &account_id, &public_key).await }).await
        };
        Ok(pair(r.await))
    }

    async fn view_access_key_list(&mut self, account_id: String, finality_or_block: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            self.with(|c| async move { c.view_access_key_list(&at, &account_id).await }).await
        };
        Ok(pair(r.await))
    }

    async fn view_code(&mut self, account_id: String, finality_or_block: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            self.with(|c| async move { c.view_code(&at, &account_id).await }).await
        };
        Ok(pair(r.await))
    }

    async fn view_state(
        &mut self,
        account_id: String,
        prefix_base64: String,
        finality_or_block: String,
    ) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            self.with(|c| async move { c.view_state(&at, &account_id, &prefix_base64).await }).await
        };
        Ok(pair(r.await))
    }

    async fn block(&mut self, finality_or_block: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            self.with(|c| async move { c.block(&at).await }).await
        };
        Ok(pair(r.await))
    }

    async fn chunk(&mut self, chunk_id_or_block_shard: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let chunk = ChunkRef::parse(&chunk_id_or_block_shard).map_err(Fail::Rpc)?;
            self.with(|c| async move { c.chunk(&chunk).await }).await
        };
        Ok(pair(r.await))
    }

    async fn changes(&mut self, finality_or_block: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let at = parse_at(&finality_or_block)?;
            self.with(|c| async move { c.changes(&at).await }).await
        };
        Ok(pair(r.await))
    }

    async fn send_tx(&mut self, signed_tx_base64: String, wait_until: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let w = TxWait::parse_v01(&wait_until).map_err(Fail::Rpc)?;
            self.with(|c| async move { c.send_tx(&signed_tx_base64, w).await }).await
        };
        Ok(pair(r.await))
    }

    async fn tx_status(&mut self, tx_hash: String, sender_account_id: String, wait_until: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let w = TxWait::parse_v01(&wait_until).map_err(Fail::Rpc)?;
            self.with(|c| async move { c.tx_status(&tx_hash, &sender_account_id, w).await }).await
        };
        Ok(pair(r.await))
    }

    async fn receipt(&mut self, receipt_id: String) -> wasmtime::Result<(String, String)> {
        Ok(pair(self.with(|c| async move { c.receipt(&receipt_id).await }).await))
    }

    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        signer_id: String,
        signer_key: String,
        receiver_id: String,
        method_name: String,
        args_json: String,
        deposit_yocto: String,
        gas: String,
        wait_until: String,
    ) -> wasmtime::Result<(String, String)> {
        let deposit = if deposit_yocto.trim().is_empty() { Ok(0) } else { deposit_yocto.trim().parse::<u128>() };
        let gas = if gas.trim().is_empty() { Ok(DEFAULT_CALL_GAS) } else { gas.trim().parse::<u64>() };
        let (Ok(deposit), Ok(gas)) = (deposit, gas) else {
            return Ok((String::new(), v01_error(invalid("deposit-yocto/gas", "not a decimal integer"))));
        };
        let action = Action::FunctionCall { method_name, args: args_json.into_bytes(), gas, deposit };
        Ok(self.signed_send(signer_id, signer_key, receiver_id, action, wait_until).await)
    }

    async fn transfer(
        &mut self,
        signer_id: String,
        signer_key: String,
        receiver_id: String,
        amount_yocto: String,
        wait_until: String,
    ) -> wasmtime::Result<(String, String)> {
        let Ok(deposit) = amount_yocto.trim().parse::<u128>() else {
            return Ok((String::new(), v01_error(invalid("amount-yocto", "not a decimal integer"))));
        };
        Ok(self.signed_send(signer_id, signer_key, receiver_id, Action::Transfer { deposit }, wait_until).await)
    }

    async fn gas_price(&mut self, block_id: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let id = if block_id.trim().is_empty() { None } else { Some(BlockId::parse(&block_id).map_err(Fail::Rpc)?) };
            self.with(|c| async move { c.gas_price(id.as_ref()).await }).await
        };
        Ok(pair(r.await))
    }

    async fn status(&mut self) -> wasmtime::Result<(String, String)> {
        Ok(pair(self.with(|c| async move { c.status().await }).await))
    }

    async fn network_info(&mut self) -> wasmtime::Result<(String, String)> {
        Ok(pair(self.with(|c| async move { c.network_info().await }).await))
    }

    async fn validators(&mut self, epoch_id: String) -> wasmtime::Result<(String, String)> {
        let epoch = (!epoch_id.trim().is_empty()).then_some(epoch_id);
        Ok(pair(self.with(|c| async move { c.validators(epoch.as_deref()).await }).await))
    }

    async fn raw(&mut self, method: String, params_json: String) -> wasmtime::Result<(String, String)> {
        let r = async {
            let params: Value = serde_json::from_str(&params_json).map_err(|e| invalid("params-json", e))?;
            self.with(|c| async move { c.call(&method, params).await }).await
        };
        Ok(pair(r.await))
    }
}

/// Link both rpc interface versions; `f` finds the state in the store's data.
pub fn add_to_linker<T: Send + 'static>(linker: &mut Linker<T>, f: fn(&mut T) -> &mut RpcCap) -> wasmtime::Result<()> {
    v02::add_to_linker::<T, HasSelf<RpcCap>>(linker, f)?;
    v01::add_to_linker::<T, HasSelf<RpcCap>>(linker, f)?;
    Ok(())
}

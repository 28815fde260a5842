//! # outlayer-gas
//!
//! Measures the NEAR gas of the OutLayer contracts' methods by running their built wasm in
//! nearcore's own contract runtime (`near-vm-runner`, the wasmtime VM that NEAR validators use
//! since protocol 84) with the gas parameters of a real protocol version
//! (`near-parameters`' `RuntimeConfigStore`).
//!
//! What it runs is a scenario file (`scenario.json` next to `Cargo.toml`): contract accounts
//! with their wasm, then a list of transactions (signer, receiver, method, JSON arguments,
//! deposit, prepaid gas). Each transaction's function call runs in the VM against a
//! [`MockedExternal`] per account, whose storage is kept between calls; the receipts it creates
//! are then followed the way the NEAR runtime would:
//!
//! * a function call to an account that has a contract runs next (callbacks once the receipts
//!   they wait for have run, with their results as promise results);
//! * a yield (`promise_yield_create`) waits until a later call resumes it
//!   (`promise_yield_resume`); its callback then runs with the resume payload as its promise
//!   result, as NEAR runs it;
//! * transfers, access-key actions and calls to accounts without a contract are listed, not run.
//!
//! Every executed receipt is reported with its burnt gas, used gas (burnt + gas attached to the
//! receipts it created), compute usage and where the burnt gas went (contract loading, wasm
//! instructions, storage host functions, other host functions, actions).
//!
//! ```text
//! outlayer-gas [--scenario FILE] [--wasm-dir DIR] [--protocol-version N] [--json FILE] [--all]
//! ```
//!
//! Argument strings in the scenario may name files (paths relative to the scenario file):
//! `@hex:PATH` (the file's bytes as hex), `@text:PATH` (its text), `@tdx_key:PATH` (the ed25519
//! key a TDX quote binds in `report_data[0..32]`, as `ed25519:<base58>`) and
//! `@tdx_measurements:PATH` (the quote's MRTD and RTMR0–3 as the contracts' JSON object),
//! `@sha256_text:TEXT` / `@sha256_file:PATH` (hex sha256) and `@ed25519_seed:HEX` (the public
//! key of a 32-byte seed, as `ed25519:<base58>`). An object `{"@signed_receipt": {"seed_hex",
//! "fields"}}` becomes the worker receipt `resolve_execution` checks, signed with that seed's key.
//!
//! Known gaps of the mocked trie (see docs/gas.md): it charges no `touching_trie_node` /
//! `read_cached_trie_node` fees and no evicted/removed value bytes; those depend on the real
//! trie and are reported as counts of storage operations instead.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use ed25519_dalek::{Signer, SigningKey};
use near_parameters::vm::{Config, VMKind};
use near_parameters::{ActionCosts, ExtCosts, RuntimeConfigStore, RuntimeFeesConfig};
use near_primitives_core::account::AccountContract;
use near_primitives_core::hash::CryptoHash;
use near_primitives_core::types::{AccountId, Balance, Gas};
use near_primitives_core::version::PROTOCOL_VERSION;
use near_vm_runner::logic::mocks::mock_external::{MockAction, MockedExternal};
use near_vm_runner::logic::types::PromiseResult;
use near_vm_runner::logic::{ReturnData, VMContext, VMOutcome};
use near_vm_runner::{ContractCode, MockContractRuntimeCache};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// TDX v4 quote: the TD report body follows the 48-byte header.
const TDX_BODY: usize = 48;
/// The signer key used when a transaction names none (any valid ed25519 key will do).
const DEFAULT_SIGNER_KEY: [u8; 32] = [1; 32];

fn main() -> Result<()> {
    let args = Args::parse()?;
    let scenario_text = std::fs::read_to_string(&args.scenario).with_context(|| format!("reading {}", args.scenario.display()))?;
    let scenario: Scenario = serde_json::from_str(&scenario_text).with_context(|| format!("parsing {}", args.scenario.display()))?;
    let base = args.scenario.parent().unwrap_or(Path::new(".")).to_path_buf();

    let protocol_version = args.protocol_version.or(scenario.protocol_version).unwrap_or(PROTOCOL_VERSION);
    let (mut sim, configured_vm) = Simulator::new(protocol_version, scenario.block_height, scenario.block_timestamp_ns);
    if configured_vm != VMKind::Wasmtime {
        eprintln!("note: protocol {protocol_version} configures {configured_vm:?}; running it on Wasmtime");
    }
    for (account, spec) in &scenario.accounts {
        let path = args.wasm_dir.join(&spec.wasm);
        let code = std::fs::read(&path).with_context(|| format!("reading {} (build it with contracts/build.sh)", path.display()))?;
        let balance = Balance::from_yoctonear(spec.balance.parse().with_context(|| format!("balance of {account}"))?);
        sim.add_account(account.parse().map_err(|e| anyhow!("account {account}: {e}"))?, code, balance);
    }

    let started = std::time::Instant::now();
    for (index, tx) in scenario.transactions.iter().enumerate() {
        let args_value = substitute(&tx.args, &base)?;
        let signer_key = match &tx.signer_key {
            Some(key) => parse_public_key(&substitute_str(key, &base)?)?,
            None => borsh_ed25519(&DEFAULT_SIGNER_KEY),
        };
        sim.block_height = scenario.block_height + index as u64;
        sim.block_timestamp_ns = scenario.block_timestamp_ns + index as u64 * 1_000_000_000;
        sim.run_transaction(tx, serde_json::to_vec(&args_value)?, signer_key)
            .with_context(|| format!("transaction {} ({}.{})", tx.label, tx.receiver, tx.method))?;
    }
    let elapsed = started.elapsed();

    let pending: Vec<String> = sim.yields.values().map(|y| format!("{}.{}", y.receipt.receiver, y.receipt.method)).collect();
    let report = Report {
        protocol_version,
        configured_vm: format!("{configured_vm:?}"),
        near_vm_runner: "0.38.0",
        wasm: scenario
            .accounts
            .iter()
            .map(|(account, spec)| {
                let code = &sim.accounts[&account.parse::<AccountId>().expect("checked above")].code;
                WasmInfo { account: account.clone(), file: spec.wasm.clone(), bytes: code.len(), sha256: hex::encode(code_sha256(code)) }
            })
            .collect(),
        regular_op_cost: u64::from(sim.config.regular_op_cost),
        touching_trie_node_gas: ExtCosts::touching_trie_node.gas(&sim.config.ext_costs).as_gas(),
        read_cached_trie_node_gas: ExtCosts::read_cached_trie_node.gas(&sim.config.ext_costs).as_gas(),
        receipts: sim.rows.clone(),
        pending_yields: pending,
    };
    print_table(&report, &scenario, args.all);
    eprintln!("ran {} receipts in {:.1} s", report.receipts.len(), elapsed.as_secs_f64());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Command-line arguments.
struct Args {
    scenario: PathBuf,
    wasm_dir: PathBuf,
    protocol_version: Option<u32>,
    json: Option<PathBuf>,
    all: bool,
}

impl Args {
    fn parse() -> Result<Self> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut args = Args {
            scenario: manifest.join("scenario.json"),
            wasm_dir: manifest.join("../../target/contracts-wasm/wasm32-unknown-unknown/contract"),
            protocol_version: None,
            json: None,
            all: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or_else(|| anyhow!("{arg} needs a value"));
            match arg.as_str() {
                "--scenario" => args.scenario = value()?.into(),
                "--wasm-dir" => args.wasm_dir = value()?.into(),
                "--protocol-version" => args.protocol_version = Some(value()?.parse()?),
                "--json" => args.json = Some(value()?.into()),
                "--all" => args.all = true,
                "-h" | "--help" => {
                    println!("outlayer-gas [--scenario FILE] [--wasm-dir DIR] [--protocol-version N] [--json FILE] [--all]");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other}"),
            }
        }
        Ok(args)
    }
}

/// The scenario file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// Protocol version whose gas parameters are used (default: near-vm-runner's stable one).
    #[serde(default)]
    protocol_version: Option<u32>,
    /// Block height of the first transaction (each next one is a block later).
    block_height: u64,
    /// Block timestamp (ns) of the first transaction (each next one is a second later).
    block_timestamp_ns: u64,
    /// Contract accounts: account id → wasm file (in the wasm dir) and balance.
    accounts: BTreeMap<String, AccountSpec>,
    /// Transactions, in order.
    transactions: Vec<Tx>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSpec {
    wasm: String,
    /// yoctoNEAR.
    #[serde(default = "default_balance")]
    balance: String,
}

fn default_balance() -> String {
    (100u128 * 10u128.pow(24)).to_string()
}

/// One signed transaction with a single function call.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tx {
    label: String,
    signer: String,
    /// `ed25519:<base58>` or `@tdx_key:PATH`.
    #[serde(default)]
    signer_key: Option<String>,
    receiver: String,
    method: String,
    #[serde(default)]
    args: Value,
    /// yoctoNEAR.
    #[serde(default)]
    deposit: Option<String>,
    #[serde(default = "default_gas_tgas")]
    gas_tgas: u64,
    /// Listed in the table (setup transactions are only listed with `--all`).
    #[serde(default)]
    report: bool,
}

fn default_gas_tgas() -> u64 {
    300
}

/// A contract account: its code and its mocked storage.
struct Account {
    code: Vec<u8>,
    ext: MockedExternal,
    balance: Balance,
    storage_usage: u64,
}

/// A function-call receipt to run.
struct Receipt {
    /// Which transaction it belongs to (the label of the one that started the chain, or of the
    /// one that resumed the yield).
    tx: String,
    receiver: AccountId,
    predecessor: AccountId,
    signer: AccountId,
    signer_key: Vec<u8>,
    method: String,
    args: Vec<u8>,
    deposit: Balance,
    gas: Gas,
    /// `(account, receipt index)` of the receipts whose results it waits for.
    deps: Vec<(AccountId, u64)>,
    promise_results: Vec<PromiseResult>,
    /// Where this receipt was created: `(account, receipt index)`; `None` for a transaction.
    key: Option<(AccountId, u64)>,
    /// Accounts waiting for this receipt's result (data receipts).
    output_data_receivers: Vec<AccountId>,
    kind: &'static str,
}

/// A yield waiting for its resume.
struct PendingYield {
    receipt: Receipt,
}

/// The result of a receipt, for the callbacks waiting on it.
#[derive(Clone)]
enum ReceiptResult {
    Value(Vec<u8>),
    Failed,
    /// The receipt returned another receipt's result (`promise_return`).
    Forward(AccountId, u64),
}

/// One executed (or listed) receipt.
#[derive(Clone, Serialize)]
struct Row {
    tx: String,
    kind: &'static str,
    account: String,
    method: String,
    predecessor: String,
    prepaid_gas: u64,
    burnt_gas: u64,
    used_gas: u64,
    compute_usage: u64,
    contract_loading_gas: u64,
    wasm_gas: u64,
    storage_gas: u64,
    other_host_gas: u64,
    action_gas: u64,
    storage_reads: u64,
    storage_writes: u64,
    storage_removes: u64,
    storage_has_key: u64,
    args_bytes: usize,
    /// For a transaction's own receipt: the fees the runtime charges outside the VM for turning
    /// the transaction into this receipt and executing the function-call action (new action
    /// receipt + function call base + per byte of method name and arguments, send and exec;
    /// send as not-sir unless the signer is the receiver). 0 for receipts created by contracts,
    /// whose fees are already in their creator's action gas.
    tx_fees_gas: u64,
    error: Option<String>,
    /// Receipts it created that were not run (transfers, keys, calls to accounts without code).
    not_run: Vec<String>,
    logs: Vec<String>,
    return_value: Option<String>,
}

struct Simulator {
    config: Arc<Config>,
    fees: Arc<RuntimeFeesConfig>,
    storage_amount_per_byte: Balance,
    cache: MockContractRuntimeCache,
    accounts: BTreeMap<AccountId, Account>,
    /// Yields by (account, data id).
    yields: HashMap<(AccountId, CryptoHash), PendingYield>,
    /// Receipts waiting for their dependencies.
    waiting: Vec<Receipt>,
    results: HashMap<(AccountId, u64), ReceiptResult>,
    rows: Vec<Row>,
    block_height: u64,
    block_timestamp_ns: u64,
}

impl Simulator {
    /// A simulator with the parameters of `protocol_version`, on Wasmtime (only wasmtime is
    /// published in near-vm-runner; gas is the same in every VM: it comes from the
    /// instrumentation done before compiling). Also returns the VM the protocol configures.
    fn new(protocol_version: u32, block_height: u64, block_timestamp_ns: u64) -> (Self, VMKind) {
        let store = RuntimeConfigStore::new(None);
        let runtime_config = store.get_config(protocol_version).clone();
        let mut wasm_config = (*runtime_config.wasm_config).clone();
        let configured_vm = wasm_config.vm_kind;
        wasm_config.vm_kind = VMKind::Wasmtime;
        let sim = Simulator {
            config: Arc::new(wasm_config),
            fees: runtime_config.fees.clone(),
            storage_amount_per_byte: runtime_config.storage_amount_per_byte(),
            cache: MockContractRuntimeCache::default(),
            accounts: BTreeMap::new(),
            yields: HashMap::new(),
            waiting: Vec::new(),
            results: HashMap::new(),
            rows: Vec::new(),
            block_height,
            block_timestamp_ns,
        };
        (sim, configured_vm)
    }

    fn add_account(&mut self, account: AccountId, code: Vec<u8>, balance: Balance) {
        let contract = ContractCode::new(code.clone(), None);
        // The account record (100 bytes) and the code, as the runtime counts them.
        let storage_usage = 100 + code.len() as u64;
        self.accounts.insert(account, Account { code, ext: MockedExternal::with_code(contract), balance, storage_usage });
    }

    fn run_transaction(&mut self, tx: &Tx, args: Vec<u8>, signer_key: Vec<u8>) -> Result<()> {
        let signer: AccountId = tx.signer.parse().map_err(|e| anyhow!("signer {}: {e}", tx.signer))?;
        let receiver: AccountId = tx.receiver.parse().map_err(|e| anyhow!("receiver {}: {e}", tx.receiver))?;
        let deposit = Balance::from_yoctonear(tx.deposit.as_deref().unwrap_or("0").parse().context("deposit")?);
        let mut queue = VecDeque::from([Receipt {
            tx: tx.label.clone(),
            receiver,
            predecessor: signer.clone(),
            signer,
            signer_key,
            method: tx.method.clone(),
            args,
            deposit,
            gas: Gas::from_teragas(tx.gas_tgas),
            deps: Vec::new(),
            promise_results: Vec::new(),
            key: None,
            output_data_receivers: Vec::new(),
            kind: "transaction",
        }]);
        let first_row = self.rows.len();
        while let Some(receipt) = queue.pop_front() {
            self.execute(receipt, &mut queue)?;
            // Callbacks whose dependencies have all run.
            let mut still_waiting = Vec::new();
            for mut receipt in std::mem::take(&mut self.waiting) {
                match receipt.deps.iter().map(|d| self.result_of(d)).collect::<Option<Vec<_>>>() {
                    Some(results) => {
                        receipt.promise_results = results;
                        queue.push_back(receipt);
                    }
                    None => still_waiting.push(receipt),
                }
            }
            self.waiting = still_waiting;
        }
        if tx.report {
            for row in &mut self.rows[first_row..] {
                row.tx = tx.label.clone();
            }
        }
        // A failed transaction call is a broken scenario (wrong arguments for the current ABI,
        // missing setup): stop with the contract's message.
        if let Some(row) = self.rows.get(first_row)
            && let Some(error) = &row.error
        {
            bail!("{}.{} failed: {error}", row.account, row.method);
        }
        Ok(())
    }

    /// The promise result of the receipt at `key`, once known.
    fn result_of(&self, key: &(AccountId, u64)) -> Option<PromiseResult> {
        let mut key = key.clone();
        for _ in 0..64 {
            match self.results.get(&key)? {
                ReceiptResult::Value(v) => return Some(PromiseResult::Successful(Rc::from(v.as_slice()))),
                ReceiptResult::Failed => return Some(PromiseResult::Failed),
                ReceiptResult::Forward(account, index) => key = (account.clone(), *index),
            }
        }
        None
    }

    fn execute(&mut self, mut receipt: Receipt, queue: &mut VecDeque<Receipt>) -> Result<()> {
        let config = self.config.clone();
        let fees = self.fees.clone();
        let Some(account) = self.accounts.get_mut(&receipt.receiver) else {
            bail!("{} has no contract in the scenario", receipt.receiver);
        };
        let context = VMContext {
            current_account_id: receipt.receiver.clone(),
            signer_account_id: receipt.signer.clone(),
            signer_account_pk: receipt.signer_key.clone(),
            predecessor_account_id: receipt.predecessor.clone(),
            refund_to_account_id: receipt.predecessor.clone(),
            input: Rc::from(receipt.args.as_slice()),
            promise_results: std::mem::take(&mut receipt.promise_results).into(),
            block_height: self.block_height,
            block_timestamp: self.block_timestamp_ns,
            epoch_height: 1,
            account_balance: account.balance,
            account_locked_balance: Balance::ZERO,
            storage_usage: account.storage_usage,
            account_contract: AccountContract::Local(*ContractCode::new(account.code.clone(), None).hash()),
            attached_deposit: receipt.deposit,
            prepaid_gas: receipt.gas,
            random_seed: vec![7; 32],
            view_config: None,
            output_data_receivers: receipt.output_data_receivers.clone(),
        };
        let log_start = account.ext.action_log.len();
        let gas_counter = context.make_gas_counter(&config);
        let prepared = near_vm_runner::prepare(&account.ext, config.clone(), Some(&self.cache), gas_counter, &receipt.method);
        let outcome = near_vm_runner::run(prepared, &mut account.ext, &context, fees)
            .map_err(|e| anyhow!("near-vm-runner failed (not the contract): {e:?}"))?;
        let mut error = outcome.aborted.as_ref().map(|e| format!("{e:?}"));
        if error.is_none() {
            let locked = self.storage_amount_per_byte.as_yoctonear() * u128::from(outcome.storage_usage);
            if outcome.balance.as_yoctonear() < locked {
                error = Some(format!(
                    "LackBalanceForState: {} bytes need {locked} yoctoNEAR, the account has {}",
                    outcome.storage_usage,
                    outcome.balance.as_yoctonear()
                ));
            } else {
                account.balance = outcome.balance;
                account.storage_usage = outcome.storage_usage;
            }
        }
        // A failed receipt's actions never happen: drop them from the log.
        let actions: Vec<MockAction> = if error.is_some() {
            account.ext.action_log.truncate(log_start);
            Vec::new()
        } else {
            account.ext.action_log[log_start..].to_vec()
        };
        let mut row = self.row(&receipt, &outcome, error.clone());

        let result = match (&error, &outcome.return_data) {
            (Some(_), _) => ReceiptResult::Failed,
            (None, ReturnData::Value(v)) => ReceiptResult::Value(v.clone()),
            (None, ReturnData::ReceiptIndex(i)) => ReceiptResult::Forward(receipt.receiver.clone(), *i),
            (None, ReturnData::None) => ReceiptResult::Value(Vec::new()),
        };
        if let Some(key) = &receipt.key {
            self.results.insert(key.clone(), result);
        }
        if error.is_none() {
            self.follow(&receipt, &outcome, log_start, &actions, queue, &mut row.not_run);
        }
        self.rows.push(row);
        Ok(())
    }

    /// Schedules the receipts `actions` created (indices are positions in the account's log).
    fn follow(
        &mut self,
        parent: &Receipt,
        outcome: &VMOutcome,
        log_start: usize,
        actions: &[MockAction],
        queue: &mut VecDeque<Receipt>,
        not_run: &mut Vec<String>,
    ) {
        let me = parent.receiver.clone();
        let unused = parent.gas.saturating_sub(outcome.used_gas);
        // Receipts created here: index → (receiver, deps, is_yield, data_id).
        let mut created: BTreeMap<u64, (AccountId, Vec<u64>, Option<CryptoHash>)> = BTreeMap::new();
        for (offset, action) in actions.iter().enumerate() {
            let index = (log_start + offset) as u64;
            match action {
                MockAction::CreateReceipt { receipt_indices, receiver_id } => {
                    created.insert(index, (receiver_id.clone(), receipt_indices.clone(), None));
                }
                MockAction::YieldCreate { data_id, receiver_id, .. } => {
                    created.insert(index, (receiver_id.clone(), Vec::new(), Some(*data_id)));
                }
                _ => {}
            }
        }
        let weighted: u64 = actions
            .iter()
            .filter_map(|a| if let MockAction::FunctionCallWeight { gas_weight, .. } = a { Some(gas_weight.0) } else { None })
            .sum();
        for action in actions {
            match action {
                MockAction::FunctionCallWeight { receipt_index, method_name, args, attached_deposit, prepaid_gas, gas_weight } => {
                    let (receiver, deps, data_id) = created[receipt_index].clone();
                    // The runtime shares the unused gas among calls by weight.
                    let extra = unused.as_gas().saturating_mul(gas_weight.0).checked_div(weighted).unwrap_or(0);
                    let dependents: Vec<AccountId> = created
                        .values()
                        .filter(|(_, deps, _)| deps.contains(receipt_index))
                        .map(|(receiver, _, _)| receiver.clone())
                        .collect();
                    let method = String::from_utf8_lossy(method_name).into_owned();
                    if !self.accounts.contains_key(&receiver) {
                        not_run.push(format!("{receiver}.{method} (no contract here)"));
                        self.results.insert((me.clone(), *receipt_index), ReceiptResult::Value(Vec::new()));
                        continue;
                    }
                    let receipt = Receipt {
                        tx: parent.tx.clone(),
                        receiver,
                        predecessor: me.clone(),
                        signer: parent.signer.clone(),
                        signer_key: parent.signer_key.clone(),
                        method,
                        args: args.clone(),
                        deposit: *attached_deposit,
                        gas: prepaid_gas.saturating_add(Gas::from_gas(extra)),
                        deps: deps.iter().map(|d| (me.clone(), *d)).collect(),
                        promise_results: Vec::new(),
                        key: Some((me.clone(), *receipt_index)),
                        output_data_receivers: dependents,
                        kind: if data_id.is_some() {
                            "yield callback"
                        } else if deps.is_empty() {
                            "call"
                        } else {
                            "callback"
                        },
                    };
                    if let Some(data_id) = data_id {
                        self.yields.insert((me.clone(), data_id), PendingYield { receipt });
                    } else if deps.is_empty() {
                        queue.push_back(receipt);
                    } else {
                        self.waiting.push(receipt);
                    }
                }
                MockAction::YieldResume { data_id, data } => {
                    if let Some(pending) = self.yields.remove(&(me.clone(), *data_id)) {
                        let mut receipt = pending.receipt;
                        // The callback runs in the receipt flow of the transaction that resumed it.
                        receipt.tx = parent.tx.clone();
                        receipt.promise_results = vec![PromiseResult::Successful(Rc::from(data.as_slice()))];
                        queue.push_back(receipt);
                    }
                }
                MockAction::Transfer { receipt_index, deposit } => {
                    let to = created.get(receipt_index).map_or_else(|| "?".to_string(), |c| c.0.to_string());
                    not_run.push(format!("transfer {} yoctoNEAR to {to}", deposit.as_yoctonear()));
                    self.results.insert((me.clone(), *receipt_index), ReceiptResult::Value(Vec::new()));
                }
                MockAction::AddKeyWithFunctionCall { method_names, .. } => {
                    let methods: Vec<String> = method_names.iter().map(|m| String::from_utf8_lossy(m).into_owned()).collect();
                    not_run.push(format!("add function-call key ({})", methods.join(",")));
                }
                MockAction::CreateReceipt { .. } | MockAction::YieldCreate { .. } => {}
                other => not_run.push(format!("{other:?}")),
            }
        }
    }

    /// Runtime fees of a transaction's function call (see [`Row::tx_fees_gas`]).
    fn tx_fees(&self, receipt: &Receipt) -> u64 {
        let sir = receipt.signer == receipt.receiver;
        let both = |cost: ActionCosts| {
            let fee = self.fees.fee(cost);
            fee.send_fee(sir).gas.saturating_add(fee.exec_fee().gas).as_gas()
        };
        let bytes = (receipt.method.len() + receipt.args.len()) as u64;
        both(ActionCosts::new_action_receipt) + both(ActionCosts::function_call_base) + both(ActionCosts::function_call_byte) * bytes
    }

    fn row(&self, receipt: &Receipt, outcome: &VMOutcome, error: Option<String>) -> Row {
        let profile = &outcome.profile;
        let ext = |c: ExtCosts| profile.get_ext_cost(c).as_gas();
        let ext_cost = |c: ExtCosts| c.gas(&self.config.ext_costs).as_gas().max(1);
        let mut storage = 0;
        let mut other = 0;
        let mut loading = 0;
        for cost in <ExtCosts as strum::IntoEnumIterator>::iter() {
            let gas = ext(cost);
            let name = cost.to_string();
            if matches!(cost, ExtCosts::contract_loading_base | ExtCosts::contract_loading_bytes) {
                loading += gas;
            } else if name.starts_with("storage_") || matches!(cost, ExtCosts::touching_trie_node | ExtCosts::read_cached_trie_node) {
                storage += gas;
            } else {
                other += gas;
            }
        }
        let return_value = match &outcome.return_data {
            ReturnData::Value(v) if !v.is_empty() => Some(String::from_utf8_lossy(v).into_owned()),
            ReturnData::ReceiptIndex(i) => Some(format!("<promise {i}>")),
            _ => None,
        };
        Row {
            tx: receipt.tx.clone(),
            kind: receipt.kind,
            account: receipt.receiver.to_string(),
            method: receipt.method.clone(),
            predecessor: receipt.predecessor.to_string(),
            prepaid_gas: receipt.gas.as_gas(),
            burnt_gas: outcome.burnt_gas.as_gas(),
            used_gas: outcome.used_gas.as_gas(),
            compute_usage: outcome.compute_usage,
            contract_loading_gas: loading,
            wasm_gas: profile.get_wasm_cost().as_gas(),
            storage_gas: storage,
            other_host_gas: other,
            action_gas: profile.action_gas().as_gas(),
            storage_reads: ext(ExtCosts::storage_read_base) / ext_cost(ExtCosts::storage_read_base),
            storage_writes: ext(ExtCosts::storage_write_base) / ext_cost(ExtCosts::storage_write_base),
            storage_removes: ext(ExtCosts::storage_remove_base) / ext_cost(ExtCosts::storage_remove_base),
            storage_has_key: ext(ExtCosts::storage_has_key_base) / ext_cost(ExtCosts::storage_has_key_base),
            args_bytes: receipt.args.len(),
            tx_fees_gas: if receipt.key.is_none() { self.tx_fees(receipt) } else { 0 },
            error,
            not_run: Vec::new(),
            logs: outcome.logs.clone(),
            return_value,
        }
    }
}

/// What the run measured, also written as JSON with `--json`.
#[derive(Serialize)]
struct Report {
    protocol_version: u32,
    configured_vm: String,
    near_vm_runner: &'static str,
    /// Gas per wasm instruction (`wasm_regular_op_cost`).
    regular_op_cost: u64,
    /// Fees the mocked trie never charges (per trie node).
    touching_trie_node_gas: u64,
    read_cached_trie_node_gas: u64,
    wasm: Vec<WasmInfo>,
    receipts: Vec<Row>,
    pending_yields: Vec<String>,
}

#[derive(Serialize)]
struct WasmInfo {
    account: String,
    file: String,
    bytes: usize,
    sha256: String,
}

fn tgas(gas: u64) -> String {
    format!("{:.3}", gas as f64 / 1e12)
}

fn print_table(report: &Report, scenario: &Scenario, all: bool) {
    let reported: Vec<&str> = scenario.transactions.iter().filter(|t| t.report || all).map(|t| t.label.as_str()).collect();
    println!(
        "near-vm-runner {} (wasmtime), protocol version {} (configured VM: {})",
        report.near_vm_runner, report.protocol_version, report.configured_vm
    );
    println!(
        "  wasm_regular_op_cost {} gas; not charged by the mocked trie: touching_trie_node {} gas, read_cached_trie_node {} gas per node",
        report.regular_op_cost, report.touching_trie_node_gas, report.read_cached_trie_node_gas
    );
    for wasm in &report.wasm {
        println!("  {:<16} {} {} bytes sha256 {}", wasm.account, wasm.file, wasm.bytes, wasm.sha256);
    }
    println!();
    println!(
        "{:<44} {:<38} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  storage ops r/w/rm/has",
        "transaction", "receipt", "burnt", "used", "compute", "load", "wasm", "storage", "host", "actions", "tx fees"
    );
    for row in report.receipts.iter().filter(|r| reported.contains(&r.tx.as_str())) {
        println!(
            "{:<44} {:<38} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}/{}/{}/{}{}",
            row.tx,
            format!("{}.{}", row.account, row.method),
            tgas(row.burnt_gas),
            tgas(row.used_gas),
            tgas(row.compute_usage),
            tgas(row.contract_loading_gas),
            tgas(row.wasm_gas),
            tgas(row.storage_gas),
            tgas(row.other_host_gas),
            tgas(row.action_gas),
            if row.tx_fees_gas > 0 { tgas(row.tx_fees_gas) } else { "-".into() },
            row.storage_reads,
            row.storage_writes,
            row.storage_removes,
            row.storage_has_key,
            row.error.as_ref().map_or(String::new(), |e| format!("  FAILED: {e}")),
        );
        for note in &row.not_run {
            println!("{:<44}   + not run: {note}", "");
        }
    }
    println!(
        "(TGas; used = burnt + gas attached to the receipts it created; compute in Tgas-equivalent; \
         tx fees = the runtime's fees for the transaction's function call, outside the VM and the attached gas)"
    );
    if !report.pending_yields.is_empty() {
        println!("yields still waiting: {}", report.pending_yields.join(", "));
    }
}

/// Replaces `@...` strings and `{"@signed_receipt": ...}` objects in `value`.
fn substitute(value: &Value, base: &Path) -> Result<Value> {
    Ok(match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("@signed_receipt") => {
            signed_receipt(&substitute(&map["@signed_receipt"], base)?)?
        }
        Value::String(s) if s.starts_with('@') => {
            if let Some(path) = s.strip_prefix("@tdx_measurements:") {
                let quote = std::fs::read(base.join(path)).with_context(|| format!("reading {path}"))?;
                tdx_measurements(&quote)?
            } else {
                Value::String(substitute_str(s, base)?)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, base)).collect::<Result<_>>()?),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), substitute(v, base)?))).collect::<Result<_>>()?),
        other => other.clone(),
    })
}

fn substitute_str(s: &str, base: &Path) -> Result<String> {
    let read = |path: &str| std::fs::read(base.join(path)).with_context(|| format!("reading {}", base.join(path).display()));
    if let Some(path) = s.strip_prefix("@hex:") {
        Ok(hex::encode(read(path)?))
    } else if let Some(path) = s.strip_prefix("@text:") {
        Ok(String::from_utf8(read(path)?).with_context(|| format!("{path} is not UTF-8"))?)
    } else if let Some(text) = s.strip_prefix("@sha256_text:") {
        Ok(hex::encode(Sha256::digest(text.as_bytes())))
    } else if let Some(path) = s.strip_prefix("@sha256_file:") {
        Ok(hex::encode(Sha256::digest(read(path)?)))
    } else if let Some(seed) = s.strip_prefix("@ed25519_seed:") {
        Ok(format!("ed25519:{}", bs58::encode(signing_key(seed)?.verifying_key().to_bytes()).into_string()))
    } else if let Some(path) = s.strip_prefix("@tdx_key:") {
        let quote = read(path)?;
        let key = quote.get(TDX_BODY + 520..TDX_BODY + 552).ok_or_else(|| anyhow!("{path} is too short for a TDX quote"))?;
        Ok(format!("ed25519:{}", bs58::encode(key).into_string()))
    } else {
        bail!("unknown substitution {s} (use @hex:, @text:, @sha256_text:, @sha256_file:, @ed25519_seed:, @tdx_key: or @tdx_measurements:)")
    }
}

/// The ed25519 key of a 32-byte hex seed.
fn signing_key(seed_hex: &str) -> Result<SigningKey> {
    let seed: [u8; 32] = hex::decode(seed_hex).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| anyhow!("a seed is 32 bytes of hex"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The fields of a worker receipt, in digest order (`outlayer_attest::receipt`, version 2).
const RECEIPT_FIELDS: [&str; 15] = [
    "call_id",
    "project",
    "wasm_sha256",
    "input_sha256",
    "output_sha256",
    "outcome",
    "instructions",
    "wall_ms",
    "peak_memory_bytes",
    "refund",
    "max_instructions",
    "max_memory_mb",
    "max_execution_seconds",
    "worker_id",
    "attestation_sha256",
];
const RECEIPT_DOMAIN: &str = "outlayer-receipt-v2";

/// `{"seed_hex", "fields": {...}}` → the `SignedReceipt` JSON a worker sends: the fields, then
/// `digest`, `signature` and `public_key` (hex), signed as `outlayer_attest::receipt` signs.
fn signed_receipt(spec: &Value) -> Result<Value> {
    let key = signing_key(spec["seed_hex"].as_str().ok_or_else(|| anyhow!("@signed_receipt needs seed_hex"))?)?;
    let fields = spec["fields"].as_object().ok_or_else(|| anyhow!("@signed_receipt needs fields"))?;
    let mut text = format!("{RECEIPT_DOMAIN}\n");
    for name in RECEIPT_FIELDS {
        let value = match fields.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => bail!("receipt field {name} is missing (a string or a number)"),
        };
        text.push_str(&format!("{name}={value}\n"));
    }
    if let Some(extra) = fields.keys().find(|k| !RECEIPT_FIELDS.contains(&k.as_str())) {
        bail!("unknown receipt field {extra}");
    }
    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    let mut out = fields.clone();
    out.insert("digest".into(), hex::encode(digest).into());
    out.insert("signature".into(), hex::encode(key.sign(&digest).to_bytes()).into());
    out.insert("public_key".into(), hex::encode(key.verifying_key().to_bytes()).into());
    Ok(Value::Object(out))
}

/// MRTD and RTMR0–3 of a TDX v4 quote (TDREPORT 1.0 body offsets), as the contracts' JSON.
fn tdx_measurements(quote: &[u8]) -> Result<Value> {
    let at = |offset: usize| -> Result<String> {
        quote.get(TDX_BODY + offset..TDX_BODY + offset + 48).map(hex::encode).ok_or_else(|| anyhow!("quote too short"))
    };
    Ok(serde_json::json!({"mrtd": at(136)?, "rtmr0": at(328)?, "rtmr1": at(376)?, "rtmr2": at(424)?, "rtmr3": at(472)?}))
}

/// `ed25519:<base58>` → the borsh form the VM context carries (curve byte 0, then 32 bytes).
fn parse_public_key(key: &str) -> Result<Vec<u8>> {
    let b58 = key.strip_prefix("ed25519:").ok_or_else(|| anyhow!("only ed25519:<base58> keys: {key}"))?;
    let bytes = bs58::decode(b58).into_vec().context("base58")?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| anyhow!("an ed25519 key is 32 bytes: {key}"))?;
    Ok(borsh_ed25519(&bytes))
}

fn borsh_ed25519(key: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(key);
    out
}

fn code_sha256(code: &[u8]) -> [u8; 32] {
    ContractCode::new(code.to_vec(), None).hash().0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    fn fields() -> Value {
        let mut fields = serde_json::Map::new();
        for name in RECEIPT_FIELDS {
            fields.insert(name.into(), Value::String(format!("{name}-value")));
        }
        fields.insert("instructions".into(), 1_000_000.into());
        Value::Object(fields)
    }

    #[test]
    fn signed_receipt_verifies_over_the_digest_of_its_fields_in_order() {
        let receipt = signed_receipt(&serde_json::json!({"seed_hex": "07".repeat(32), "fields": fields()})).unwrap();
        let mut text = String::from("outlayer-receipt-v2\n");
        for name in RECEIPT_FIELDS {
            let value = if name == "instructions" { "1000000".to_string() } else { format!("{name}-value") };
            text.push_str(&format!("{name}={value}\n"));
        }
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(receipt["digest"], hex::encode(digest));
        let key: [u8; 32] = hex::decode(receipt["public_key"].as_str().unwrap()).unwrap().try_into().unwrap();
        let signature: [u8; 64] = hex::decode(receipt["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
        VerifyingKey::from_bytes(&key).unwrap().verify(&digest, &Signature::from_bytes(&signature)).unwrap();
        assert_eq!(receipt["instructions"], 1_000_000);
    }

    #[test]
    fn signed_receipt_refuses_missing_and_unknown_fields() {
        let mut missing = fields();
        missing.as_object_mut().unwrap().remove("wall_ms");
        let err = signed_receipt(&serde_json::json!({"seed_hex": "07".repeat(32), "fields": missing})).unwrap_err();
        assert_eq!(err.to_string(), "receipt field wall_ms is missing (a string or a number)");
        let mut extra = fields();
        extra.as_object_mut().unwrap().insert("gas".into(), 1.into());
        let err = signed_receipt(&serde_json::json!({"seed_hex": "07".repeat(32), "fields": extra})).unwrap_err();
        assert_eq!(err.to_string(), "unknown receipt field gas");
    }

    #[test]
    fn seed_keys_become_the_borsh_key_the_vm_context_carries() {
        let base = Path::new(".");
        let text = substitute_str(&format!("@ed25519_seed:{}", "07".repeat(32)), base).unwrap();
        let expected = SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes();
        let borsh = parse_public_key(&text).unwrap();
        assert_eq!(borsh[0], 0, "curve byte of ed25519");
        assert_eq!(borsh[1..], expected);
        assert!(parse_public_key("secp256k1:abc").is_err());
    }

    #[test]
    fn the_sample_quote_yields_its_bound_key_and_measurements() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"));
        let quote = std::fs::read(base.join("../../crates/attest/testdata/tdx_quote")).unwrap();
        let key = substitute_str("@tdx_key:../../crates/attest/testdata/tdx_quote", base).unwrap();
        assert_eq!(parse_public_key(&key).unwrap()[1..], quote[TDX_BODY + 520..TDX_BODY + 552]);
        let measurements = tdx_measurements(&quote).unwrap();
        assert_eq!(measurements["mrtd"], hex::encode(&quote[TDX_BODY + 136..TDX_BODY + 184]));
        assert_eq!(measurements["rtmr3"], hex::encode(&quote[TDX_BODY + 472..TDX_BODY + 520]));
        assert!(tdx_measurements(&quote[..100]).is_err());
    }

    /// A contract with a yield: `ask` creates it (callback `done`, 10 TGas) and keeps its data
    /// id under key `k`; `answer` resumes it with `42`; `done` returns its promise result.
    const YIELD_WAT: &str = r#"(module
      (import "env" "promise_yield_create" (func $yield (param i64 i64 i64 i64 i64 i64 i64) (result i64)))
      (import "env" "promise_yield_resume" (func $resume (param i64 i64 i64 i64) (result i32)))
      (import "env" "promise_return" (func $promise_return (param i64)))
      (import "env" "promise_result" (func $promise_result (param i64 i64) (result i64)))
      (import "env" "read_register" (func $read_register (param i64 i64)))
      (import "env" "storage_write" (func $storage_write (param i64 i64 i64 i64 i64) (result i64)))
      (import "env" "storage_read" (func $storage_read (param i64 i64 i64) (result i64)))
      (import "env" "value_return" (func $value_return (param i64 i64)))
      (memory (export "memory") 1)
      (data (i32.const 0) "done")
      (data (i32.const 8) "k")
      (data (i32.const 16) "42")
      (func (export "ask") (local $index i64)
        (local.set $index (call $yield (i64.const 4) (i64.const 0) (i64.const 0) (i64.const 0)
          (i64.const 10000000000000) (i64.const 0) (i64.const 1)))
        (call $read_register (i64.const 1) (i64.const 100))
        (drop (call $storage_write (i64.const 1) (i64.const 8) (i64.const 32) (i64.const 100) (i64.const 2)))
        (call $promise_return (local.get $index)))
      (func (export "answer")
        (drop (call $storage_read (i64.const 1) (i64.const 8) (i64.const 3)))
        (call $read_register (i64.const 3) (i64.const 200))
        (drop (call $resume (i64.const 32) (i64.const 200) (i64.const 2) (i64.const 16))))
      (func (export "done")
        (drop (call $promise_result (i64.const 0) (i64.const 4)))
        (call $read_register (i64.const 4) (i64.const 300))
        (call $value_return (i64.const 2) (i64.const 300))))"#;

    fn tx(label: &str, method: &str) -> Tx {
        serde_json::from_value(serde_json::json!({
            "label": label, "signer": "alice.near", "receiver": "app.near", "method": method, "report": true
        }))
        .unwrap()
    }

    fn yield_simulator() -> Simulator {
        let (mut sim, configured) = Simulator::new(PROTOCOL_VERSION, 100, 1_751_328_000_000_000_000);
        assert_eq!(configured, VMKind::Wasmtime);
        sim.add_account("app.near".parse().unwrap(), wat::parse_str(YIELD_WAT).unwrap(), Balance::from_near(10));
        sim
    }

    #[test]
    fn a_yield_waits_for_its_resume_and_its_callback_gets_the_payload() {
        let mut sim = yield_simulator();
        sim.run_transaction(&tx("ask", "ask"), Vec::new(), borsh_ed25519(&DEFAULT_SIGNER_KEY)).unwrap();
        assert_eq!(sim.rows.len(), 1, "the callback waits for the resume");
        assert_eq!(sim.yields.len(), 1);
        let ask = &sim.rows[0];
        assert_eq!(ask.return_value.as_deref(), Some("<promise 0>"));
        assert!(ask.burnt_gas > 0 && ask.used_gas >= ask.burnt_gas + 10_000_000_000_000, "the callback's 10 TGas are used");
        assert_eq!(ask.storage_writes, 1);

        sim.run_transaction(&tx("answer", "answer"), Vec::new(), borsh_ed25519(&DEFAULT_SIGNER_KEY)).unwrap();
        assert!(sim.yields.is_empty());
        let methods: Vec<(&str, &str, &str)> = sim.rows.iter().map(|r| (r.tx.as_str(), r.method.as_str(), r.kind)).collect();
        assert_eq!(methods, [("ask", "ask", "transaction"), ("answer", "answer", "transaction"), ("answer", "done", "yield callback")]);
        let done = &sim.rows[2];
        assert_eq!(done.return_value.as_deref(), Some("42"));
        assert_eq!(done.predecessor, "app.near");
        assert_eq!(done.prepaid_gas, 10_000_000_000_000);
        assert_eq!(done.burnt_gas, done.contract_loading_gas + done.wasm_gas + done.storage_gas + done.other_host_gas + done.action_gas);
    }

    #[test]
    fn a_failing_transaction_stops_the_run_with_the_vm_error() {
        let mut sim = yield_simulator();
        // Nothing stored under `k` yet: reading register 3 fails.
        let err = sim.run_transaction(&tx("answer", "answer"), Vec::new(), borsh_ed25519(&DEFAULT_SIGNER_KEY)).unwrap_err();
        assert!(err.to_string().starts_with("app.near.answer failed: "), "{err}");
        assert!(err.to_string().contains("InvalidRegisterId"), "{err}");
    }

    #[test]
    fn unknown_substitutions_are_refused() {
        let err = substitute(&serde_json::json!({"a": ["@nope:x"]}), Path::new(".")).unwrap_err();
        assert!(err.to_string().starts_with("unknown substitution @nope:x"), "{err}");
    }
}

//! `sdk-kv`: a JSON key-value service written with `outlayer-sdk` (a command guest using
//! `run_json` and the storage JSON helpers). Data lives in the caller's scope.
//!
//! Input (JSON), output (JSON):
//! - `{"op":"put","key":K,"value":V}` (V any JSON) → `{"key":K,"previous":OLD}` (OLD or null)
//! - `{"op":"get","key":K}` → `{"key":K,"value":V}` (null when absent)
//! - `{"op":"delete","key":K}` → `{"key":K,"existed":BOOL}`
//! - `{"op":"list","prefix":P}` (prefix optional) → `{"keys":[...]}` in ascending order, read
//!   with the SDK's paginating iterator two keys per host call
//!
//! A host should observe, with the storage grant: values put by one caller read back as the same
//! JSON, independently per caller. Without the grant: a failed execution (exit status 1) with
//! stderr `error: storage: capability not granted`. Input that is not one of the shapes above:
//! exit status 1, stderr `error: invalid input: ...` naming serde's complaint, and no host call.

use outlayer_sdk::storage::{self, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Keys fetched per `list-keys` call: small, so listing exercises pagination.
const PAGE_SIZE: u32 = 2;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Request {
    Put {
        key: String,
        value: Value,
    },
    Get {
        key: String,
    },
    Delete {
        key: String,
    },
    List {
        #[serde(default)]
        prefix: String,
    },
}

#[derive(Serialize)]
#[serde(untagged)]
enum Response {
    Put {
        key: String,
        previous: Option<Value>,
    },
    Get {
        key: String,
        value: Option<Value>,
    },
    Delete {
        key: String,
        existed: bool,
    },
    List {
        keys: Vec<String>,
    },
}

fn main() {
    outlayer_sdk::run_json(|request: Request| {
        Ok(match request {
            Request::Put { key, value } => {
                let previous = storage::get_json(Scope::Caller, &key)?;
                storage::set_json(Scope::Caller, &key, &value)?;
                Response::Put { key, previous }
            }
            Request::Get { key } => Response::Get {
                value: storage::get_json(Scope::Caller, &key)?,
                key,
            },
            Request::Delete { key } => Response::Delete {
                existed: storage::delete(Scope::Caller, &key)?,
                key,
            },
            Request::List { prefix } => Response::List {
                keys: storage::keys(Scope::Caller, &prefix)
                    .page_size(PAGE_SIZE)
                    .collect::<Result<_, _>>()?,
            },
        })
    });
}

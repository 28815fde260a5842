//! Outbound HTTP with the SDK (`outlayer_sdk::http`), driven by a script on stdin: one request
//! per line, one output line per request (stdin is the script, or a JSON string holding it, as
//! `POST /call` sends its `input`). Needs `--grant http=HOST...`.
//!
//! | line | request | prints |
//! | --- | --- | --- |
//! | `get URL [name=value ...]` | GET with headers | `<status> <body>` |
//! | `post URL BODY...` | POST, the rest of the line as the body | `<status> <body>` |
//! | `post-json URL JSON` | POST JSON, JSON answer | the answer, compact |
//! | `header URL NAME` | GET | the response header's value |
//! | `size URL` | GET | `<status> <body length>` |
//! | `prices URL` | GET a JSON array of `{"name", "price"}` and transform it | `{"count","total","cheapest"}` |
//!
//! A line prefixed with `try ` prints a failure as `err <error>` and goes on; without it a
//! failure (`error: http: ...` on stderr) exits with status 1, so a denied request ends the
//! execution as a denial the report names. What a host must do: allow only the granted hosts
//! (others: `err http: capability not granted`), refuse non-public addresses (`err http:
//! destination-IP-prohibited`), cut large bodies (`err http: HTTP-response-body-size N`).

use outlayer_sdk::http::{self, Request};
use outlayer_sdk::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;

#[derive(Deserialize)]
struct Item {
    name: String,
    price: f64,
}

#[derive(Serialize)]
struct Summary {
    count: usize,
    total: f64,
    cheapest: Option<String>,
}

fn run_line(line: &str) -> Result<String> {
    let mut words = line.splitn(3, ' ');
    let (op, url, rest) = (words.next().unwrap_or(""), words.next().unwrap_or(""), words.next().unwrap_or(""));
    match op {
        "get" => {
            let mut request = Request::get(url);
            for pair in rest.split_whitespace() {
                let (name, value) =
                    pair.split_once('=').ok_or_else(|| Error::invalid_input(format!("header {pair:?} is not name=value")))?;
                request = request.header(name, value);
            }
            let r = request.send()?;
            Ok(format!("{} {}", r.status, r.text()?))
        }
        "post" => {
            let r = http::post(url, rest.as_bytes().to_vec())?;
            Ok(format!("{} {}", r.status, r.text()?))
        }
        "post-json" => {
            let value: serde_json::Value = serde_json::from_str(rest).map_err(Error::invalid_input)?;
            let answer: serde_json::Value = http::post_json(url, &value)?;
            Ok(answer.to_string())
        }
        "header" => {
            let r = http::get(url)?;
            Ok(r.header(rest).unwrap_or("<none>").to_string())
        }
        "size" => {
            let r = http::get(url)?;
            Ok(format!("{} {}", r.status, r.body.len()))
        }
        "prices" => {
            let items: Vec<Item> = http::get_json(url)?;
            let total = items.iter().map(|i| i.price).sum();
            let cheapest = items.iter().min_by(|a, b| a.price.total_cmp(&b.price)).map(|i| i.name.clone());
            Ok(serde_json::to_string(&Summary { count: items.len(), total, cheapest }).expect("serialises"))
        }
        other => Err(Error::invalid_input(format!("unknown operation {other:?}"))),
    }
}

fn main() {
    let mut script = String::new();
    std::io::stdin().read_to_string(&mut script).expect("stdin");
    // Over `POST /call` the input is JSON: a JSON string is the script itself.
    if let Ok(text) = serde_json::from_str::<String>(script.trim()) {
        script = text;
    }
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (tolerant, line) = match line.strip_prefix("try ") {
            Some(l) => (true, l),
            None => (false, line),
        };
        match run_line(line) {
            Ok(out) => println!("{out}"),
            Err(e) if tolerant => println!("err {e}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}

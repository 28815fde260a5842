//! Printing a [`Verdict`]: the table (default), `--short` (one line per layer) and `--json`, all
//! from the same data.

use std::fmt::Write;

use outlayer_attest::verdict::{Status, Verdict, fmt_time};
use serde_json::json;

/// Prints the verdict in the chosen form on stdout.
pub fn print(verdict: &Verdict, title: &str, short: bool, json: bool) {
    let text = if json {
        self::json(verdict, title)
    } else if short {
        self::short(verdict)
    } else {
        table(verdict, title)
    };
    println!("{}", text.trim_end());
}

/// `--json`: the verdict with `subject` and `exit_code` added.
pub fn json(verdict: &Verdict, title: &str) -> String {
    let mut v = serde_json::to_value(verdict).expect("verdicts serialize");
    v["subject"] = json!(title);
    v["exit_code"] = json!(verdict.exit_code());
    serde_json::to_string_pretty(&v).expect("JSON values serialize")
}

/// `--short`: `layer STATUS[: check: reason]`, one line per layer.
pub fn short(verdict: &Verdict) -> String {
    let mut out = String::new();
    for layer in &verdict.layers {
        match layer.first_problem() {
            None => writeln!(out, "{} {}", layer.name, layer.status),
            Some(check) => writeln!(out, "{} {}: {}: {}", layer.name, layer.status, check.name, check.reason),
        }
        .expect("writing to a String");
    }
    out
}

/// The table: every check with both values.
pub fn table(verdict: &Verdict, title: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "outlayer verify: {title}");
    let _ = writeln!(w, "verified at {}", fmt_time(verdict.verified_at));
    for layer in &verdict.layers {
        let _ = writeln!(w, "\n{:<13} {}", layer.name.to_uppercase(), layer.status);
        for check in &layer.checks {
            let _ = writeln!(w, "  {:<9} {}", check.status.as_str(), check.name);
            let _ = writeln!(w, "            expected: {}", check.expected);
            let _ = writeln!(w, "            found:    {}", check.found);
            if !check.reason.is_empty() {
                let _ = writeln!(w, "            {}: {}", if check.status == Status::Pass { "note" } else { "reason" }, check.reason);
            }
        }
    }
    let meaning = match verdict.status {
        Status::Pass => "all three layers proven",
        Status::Fail => "a layer FAILED: do not trust this result",
        Status::Unproven => "nothing failed, but something could not be proven (see the reasons)",
    };
    let _ = writeln!(w, "\nRESULT {} (exit {}): {meaning}", verdict.status, verdict.exit_code());
    out
}

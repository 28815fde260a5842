//! Comparing what a host observed with what a case expects.

use crate::case::Expect;
use crate::wire::CaseResult;
use serde_json::Value;

/// How a case manifest (TOML, which has no null) writes an expected JSON `null`.
pub const NULL: &str = "<null>";

/// Longest excerpt of output or stderr quoted in a mismatch.
pub const MAX_QUOTED_BYTES: usize = 600;

/// Every way `result` differs from `expect`; empty when it conforms.
pub fn mismatches(expect: &Expect, result: &CaseResult) -> Vec<String> {
    let mut out = Vec::new();
    let output = String::from_utf8_lossy(&result.output);
    let stderr = String::from_utf8_lossy(&result.stderr);
    if result.outcome() != expect.outcome {
        out.push(format!(
            "outcome is {} (report {}), expected {}; stderr: {}",
            result.outcome(),
            result.report,
            expect.outcome,
            quote(&stderr)
        ));
    }
    if let Some(subset) = &expect.report
        && let Err(path) = contains(&result.report, subset, "report")
    {
        out.push(format!("{path}: report {} does not contain {subset}", result.report));
    }
    if let Some(text) = &expect.message_contains {
        let message = result.report["message"].as_str().unwrap_or("");
        if !message.contains(text.as_str()) {
            out.push(format!("outcome message {message:?} does not contain {text:?}"));
        }
    }
    if let Some(exact) = &expect.output
        && output != exact.as_str()
    {
        out.push(format!("output is {}, expected {exact:?}", quote(&output)));
    }
    for text in &expect.output_contains {
        if !output.contains(text.as_str()) {
            out.push(format!("output {} does not contain {text:?}", quote(&output)));
        }
    }
    if let Some(subset) = &expect.output_json {
        match serde_json::from_slice::<Value>(&result.output) {
            Ok(v) => {
                if let Err(path) = contains(&v, subset, "output") {
                    out.push(format!("{path}: output {v} does not contain {subset}"));
                }
            }
            Err(e) => out.push(format!("output is not JSON ({e}): {}", quote(&output))),
        }
    }
    if let Some(max) = expect.output_max_bytes
        && result.output.len() as u64 > max
    {
        out.push(format!("output has {} bytes, at most {max} expected", result.output.len()));
    }
    for text in &expect.stderr_contains {
        if !stderr.contains(text.as_str()) {
            out.push(format!("stderr {} does not contain {text:?}", quote(&stderr)));
        }
    }
    for (field, min) in &expect.min {
        match result.report[field.as_str()].as_u64() {
            Some(v) if v >= *min => {}
            v => out.push(format!("report.{field} is {v:?}, expected at least {min}")),
        }
    }
    for (field, max) in &expect.max {
        match result.report[field.as_str()].as_u64() {
            Some(v) if v <= *max => {}
            v => out.push(format!("report.{field} is {v:?}, expected at most {max}")),
        }
    }
    out
}

/// Whether `actual` contains `expected`: objects by key (recursively), arrays element by element
/// with the same length, numbers by value, anything else by equality. `Err` names the first
/// path that differs. TOML has no null: the expected string `"<null>"` stands for JSON `null`.
pub fn contains(actual: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Null, Value::String(e)) if e == NULL => Ok(()),
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => contains(av, ev, &p)?,
                    None => return Err(format!("{p} is missing")),
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => {
            a.iter().zip(e).enumerate().try_for_each(|(i, (av, ev))| contains(av, ev, &format!("{path}[{i}]")))
        }
        (Value::Number(a), Value::Number(e)) if a.as_f64() == e.as_f64() => Ok(()),
        (a, e) if a == e => Ok(()),
        (a, e) => Err(format!("{path} is {a}, expected {e}")),
    }
}

fn quote(text: &str) -> String {
    if text.len() <= MAX_QUOTED_BYTES {
        return format!("{text:?}");
    }
    let mut end = MAX_QUOTED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subsets_match_and_differences_are_named() {
        let actual = json!({"outcome": "denied", "capabilities": ["storage"], "host_calls": {"storage": {"calls": 0, "denied": 1}}});
        assert_eq!(contains(&actual, &json!({"host_calls": {"storage": {"denied": 1}}}), "r"), Ok(()));
        assert_eq!(
            contains(&actual, &json!({"capabilities": ["secrets"]}), "r"),
            Err(r#"r.capabilities[0] is "storage", expected "secrets""#.into())
        );
        assert_eq!(contains(&actual, &json!({"refund": null}), "r"), Err("r.refund is missing".into()));
        assert!(contains(&actual, &json!({"capabilities": []}), "r").is_err(), "arrays must have the same length");
    }
}

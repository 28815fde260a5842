//! The suite reports a wrong expectation as a failed case, with the difference, in its table.

use outlayer_conformance::{InProcessHost, run_all};
use std::path::Path;

const PASSING: &str = r#"
description = "echo echoes"
guest = "echo"
[[run]]
input = "same"
[run.expect]
outcome = "ok"
output = "same"
"#;

const WRONG: &str = r#"
description = "expects what echo does not print"
guest = "echo"
[[run]]
input = "actual"
[run.expect]
outcome = "ok"
output = "something else"
"#;

const BROKEN: &str = r#"
description = "names a guest that does not exist"
guest = "no-such-guest"
[[run]]
[run.expect]
outcome = "ok"
"#;

#[tokio::test]
async fn failures_are_counted_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("a-passing", PASSING), ("b-wrong", WRONG), ("c-broken", BROKEN)] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("case.toml"), text).unwrap();
    }
    let guests = Path::new(outlayer_guest_artifacts::DIR);
    let report = run_all(&InProcessHost::new().unwrap(), dir.path(), guests).await.unwrap();
    assert_eq!((report.passed(), report.failed()), (1, 2));
    let table = report.to_string();
    assert!(table.contains(r#"output is "actual", expected "something else""#), "{table}");
    assert!(table.contains(r#"no guest named "no-such-guest""#), "{table}");
    assert!(table.lines().any(|l| l.starts_with("b-wrong") && l.contains("FAIL")), "{table}");
    assert_eq!(table.lines().last(), Some("1 passed, 2 failed"));
}

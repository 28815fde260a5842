//! The result of a suite run: one row per case, printable as a table.

use std::fmt;
use std::time::Duration;

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    /// The case's folder name.
    pub name: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
    /// Outcome kinds of the steps, in order.
    pub outcomes: Vec<String>,
    /// Instructions used by all steps together.
    pub instructions: u64,
    /// Wall time of the whole case as the suite saw it (informational).
    pub elapsed: Duration,
}

impl CaseOutcome {
    /// True when every step conformed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// All cases of a run, sorted by name.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Which host ran them.
    pub host: String,
    /// One row per case.
    pub cases: Vec<CaseOutcome>,
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

impl fmt::Display for Report {
    /// A table with one row per case, the failures under it, and the closing line
    /// `N passed, N failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.cases.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
        writeln!(f, "conformance of {}", self.host)?;
        writeln!(f, "{:<width$}  {:<6}  {:>14}  {:>8}  outcomes", "case", "result", "instructions", "ms")?;
        for c in &self.cases {
            let result = if c.passed() { "PASS" } else { "FAIL" };
            writeln!(
                f,
                "{:<width$}  {:<6}  {:>14}  {:>8}  {}",
                c.name,
                result,
                c.instructions,
                c.elapsed.as_millis(),
                c.outcomes.join(",")
            )?;
            for failure in &c.failures {
                writeln!(f, "{:<width$}    - {failure}", "")?;
            }
        }
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

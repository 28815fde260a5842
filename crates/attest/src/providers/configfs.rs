//! Linux configfs-tsm (`Documentation/ABI/testing/configfs-tsm-report`): the kernel's shared
//! attestation-report ABI, `provider` = `tdx_guest` inside a TDX guest.
//!
//! One report: `mkdir <root>/<name>` (the kernel fills in the attributes), write up to 64 bytes
//! to `inblob`, read the quote from `outblob`, `rmdir`. `generation` counts writes to the entry:
//! reading it before our write and after our read, it must have grown by exactly one (our
//! write), otherwise another process wrote in between and `outblob` may be for its data — the
//! ABI says to detect that and retry.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{CollateralSource, ProviderError, QuoteProvider, check_quote_report_data};
use crate::evidence::Evidence;

/// Where configfs-tsm report entries live.
pub const DEFAULT_TSM_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// The `provider` of a TDX guest.
pub const TDX_PROVIDER: &str = "tdx_guest";

/// Attempts before giving up when another writer keeps changing the entry: bounds the time a
/// hostile or buggy co-tenant of the entry can make us spin.
pub const MAX_GENERATION_ATTEMPTS: u32 = 3;

static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// Quotes from configfs-tsm, collateral from a [`CollateralSource`].
pub struct ConfigfsTsm<C> {
    root: PathBuf,
    entry_name: Option<String>,
    collateral: C,
}

impl<C: CollateralSource> ConfigfsTsm<C> {
    /// Reports under [`DEFAULT_TSM_REPORT_ROOT`].
    pub fn new(collateral: C) -> Self {
        Self::with_root(DEFAULT_TSM_REPORT_ROOT, collateral)
    }

    /// Reports under another root (tests, a differently mounted configfs).
    pub fn with_root(root: impl Into<PathBuf>, collateral: C) -> Self {
        Self { root: root.into(), entry_name: None, collateral }
    }

    /// Uses a fixed entry name instead of a fresh `outlayer-<pid>-<n>` per report. An existing
    /// entry of that name is reused; the `generation` check still catches concurrent writers.
    pub fn entry_name(mut self, name: impl Into<String>) -> Self {
        self.entry_name = Some(name.into());
        self
    }

    fn quote(&self, entry: &Path, report_data: &[u8; 64]) -> Result<Vec<u8>, ProviderError> {
        let provider = read_trimmed(&entry.join("provider"))?;
        if provider != TDX_PROVIDER {
            return Err(ProviderError::WrongProvider { expected: TDX_PROVIDER.into(), found: provider });
        }
        for _ in 0..MAX_GENERATION_ATTEMPTS {
            let before = generation(entry)?;
            let inblob = entry.join("inblob");
            fs::write(&inblob, report_data).map_err(ProviderError::io(inblob.display().to_string()))?;
            let outblob = entry.join("outblob");
            let quote = fs::read(&outblob).map_err(ProviderError::io(outblob.display().to_string()))?;
            let after = generation(entry)?;
            if after == before.wrapping_add(1) {
                return Ok(quote);
            }
        }
        Err(ProviderError::Conflict { attempts: MAX_GENERATION_ATTEMPTS })
    }
}

impl<C: CollateralSource> QuoteProvider for ConfigfsTsm<C> {
    fn evidence(&self, report_data: [u8; 64]) -> Result<Evidence, ProviderError> {
        let name = self
            .entry_name
            .clone()
            .unwrap_or_else(|| format!("outlayer-{}-{}", std::process::id(), NEXT_ENTRY.fetch_add(1, Ordering::Relaxed)));
        let entry = self.root.join(name);
        match fs::create_dir(&entry) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(ProviderError::io(format!("mkdir {}", entry.display()))(e)),
        }
        let quote = self.quote(&entry, &report_data);
        // configfs removes the attributes with the entry. Best effort: a failure leaves an idle
        // entry behind and must not hide the quote or its error (on a plain directory, as in
        // tests, the attribute files make rmdir fail).
        let _ = fs::remove_dir(&entry);
        let quote = quote?;
        check_quote_report_data(&quote, &report_data)?;
        let collateral = self.collateral.collateral(&quote)?;
        Ok(Evidence::Tdx { quote, collateral, event_log: None })
    }
}

fn read_trimmed(path: &Path) -> Result<String, ProviderError> {
    let s = fs::read_to_string(path).map_err(ProviderError::io(path.display().to_string()))?;
    Ok(s.trim().to_owned())
}

fn generation(entry: &Path) -> Result<u64, ProviderError> {
    let s = read_trimmed(&entry.join("generation"))?;
    s.parse().map_err(|_| ProviderError::BadResponse(format!("generation {s:?} is not a number")))
}

//! [`keys`]: iterate over the keys under a prefix, one host call per page.

use super::{KeyPage, Scope, wit};
use crate::Result;
use std::collections::VecDeque;

/// Every key starting with `prefix` in `scope`, in ascending byte order, fetched lazily page by
/// page (one host call per page of [`Keys::DEFAULT_PAGE_SIZE`] keys; change it with
/// [`Keys::page_size`]). A failing call yields one `Err` and ends the iteration.
///
/// ```no_run
/// use outlayer_sdk::storage::{self, Scope};
/// let names: Vec<String> = storage::keys(Scope::Caller, "user/").page_size(500).collect::<Result<_, _>>()?;
/// # Ok::<(), outlayer_sdk::Error>(())
/// ```
pub fn keys(scope: Scope, prefix: &str) -> Keys {
    Keys { scope, prefix: prefix.to_string(), page_size: Keys::DEFAULT_PAGE_SIZE, buffered: VecDeque::new(), cursor: None, done: false }
}

/// The iterator returned by [`keys`].
#[derive(Debug)]
pub struct Keys {
    scope: Scope,
    prefix: String,
    page_size: u32,
    buffered: VecDeque<String>,
    cursor: Option<String>,
    done: bool,
}

impl Keys {
    /// Keys fetched per host call unless changed (the host's default page).
    pub const DEFAULT_PAGE_SIZE: u32 = 100;

    /// Fetch `n` keys per host call (the host caps it at 1000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.max(1);
        self
    }

    fn fetch(&mut self) -> Result<()> {
        let KeyPage { keys, next_cursor } = wit::list_keys(self.scope, &self.prefix, self.cursor.as_deref(), self.page_size)?;
        self.buffered.extend(keys);
        self.done = next_cursor.is_none();
        self.cursor = next_cursor;
        Ok(())
    }
}

impl Iterator for Keys {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffered.is_empty() && !self.done {
            if let Err(e) = self.fetch() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.buffered.pop_front().map(Ok)
    }
}

//! One async function per behaviour every backend must show; `backends.rs` runs each against
//! each backend.

mod atomic;
mod basic;
mod commit;
mod listing;
mod quota;
mod scopes;

pub use atomic::*;
pub use basic::*;
pub use commit::*;
pub use listing::*;
pub use quota::*;
pub use scopes::*;

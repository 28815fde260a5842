//! outlayer-contract (skeleton)

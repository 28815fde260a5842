//! outlayer-coordinator (skeleton)

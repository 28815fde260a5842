//! outlayer-register (skeleton)

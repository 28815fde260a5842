//! outlayer-example-caller (skeleton)

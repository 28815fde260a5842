//! NEAR client (skeleton).

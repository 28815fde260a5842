//! `echo-typed`: the smallest typed guest (world `outlayer:guest/typed`). `run` returns its input
//! unchanged, except that the input `fail` (exactly those 4 bytes) returns
//! `Err(run-error::invalid-input("fail requested"))`.
//!
//! A host should observe: calling `run(b"hello")` gives `Ok(b"hello")`; calling `run(b"fail")`
//! gives a failed execution of kind invalid-input with the message "fail requested" (not a
//! trap). It imports no capability.

wit_bindgen::generate!({
    path: "../../wit",
    world: "outlayer:guest/typed",
    generate_all,
});

struct EchoTyped;

impl Guest for EchoTyped {
    fn run(input: Vec<u8>) -> Result<Vec<u8>, RunError> {
        if input == b"fail" {
            return Err(RunError::InvalidInput("fail requested".to_string()));
        }
        Ok(input)
    }
}

export!(EchoTyped);

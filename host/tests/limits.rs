//! Every limit, run into by a hostile guest: the outcome is typed, the numbers are reported,
//! and the host keeps working.

mod common;

use common::{assert_healthy, guest, run, runtime, tight_limits};
use outlayer_guest_artifacts as g;
use outlayer_host::{Limits, Outcome};
use std::time::Duration;

#[tokio::test]
async fn infinite_loop_runs_out_of_instructions_and_reports_the_exact_budget() {
    let rt = runtime();
    let limits = Limits { max_instructions: 50_000_000, ..tight_limits() };
    let r = run(&rt, &guest(g::LOOP_FOREVER), b"", limits).await;
    assert_eq!(r.outcome, Outcome::OutOfInstructions);
    assert_eq!(r.instructions, 50_000_000, "the whole budget is billed");
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn infinite_loop_with_a_huge_budget_hits_the_wall_clock() {
    let rt = runtime();
    let limits = Limits { max_instructions: 400_000_000_000, max_wall: Duration::from_millis(300), ..tight_limits() };
    let r = run(&rt, &guest(g::LOOP_FOREVER), b"", limits).await;
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(r.wall >= Duration::from_millis(300), "stopped after the limit, not before: {:?}", r.wall);
    assert!(r.instructions > 0, "instructions used before the timeout are reported");
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn guest_blocked_in_a_host_call_is_stopped_at_the_wall_clock_limit() {
    let rt = runtime();
    let limits = Limits { max_wall: Duration::from_millis(200), ..tight_limits() };
    let r = run(&rt, &guest(g::SLEEP_FOREVER), b"", limits).await;
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(r.wall < Duration::from_secs(2), "abandoned soon after the limit: {:?}", r.wall);
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn memory_bomb_hits_the_memory_limit_and_peak_is_reported() {
    let rt = runtime();
    let limits = Limits { max_memory_bytes: 16 << 20, ..tight_limits() };
    let r = run(&rt, &guest(g::MEMORY_BOMB), b"", limits).await;
    assert_eq!(r.outcome, Outcome::MemoryLimit);
    assert!(r.peak_memory_bytes <= 16 << 20, "peak {} above the cap", r.peak_memory_bytes);
    assert!(r.peak_memory_bytes > 8 << 20, "peak {} shows the bomb grew", r.peak_memory_bytes);
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn stack_overflow_is_a_trap_with_a_clear_message() {
    let rt = runtime();
    let r = run(&rt, &guest(g::STACK_OVERFLOW), b"", tight_limits()).await;
    match &r.outcome {
        Outcome::Trap { message } => assert!(message.contains("call stack exhausted"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn output_flood_is_stopped_at_the_stdout_cap_keeping_the_first_bytes() {
    let rt = runtime();
    let limits = Limits { max_stdout_bytes: 100_000, ..tight_limits() };
    let r = run(&rt, &guest(g::OUTPUT_FLOOD), b"", limits).await;
    assert_eq!(r.outcome, Outcome::OutputTooLarge { stream: "stdout".into() });
    assert_eq!(r.output.len(), 100_000);
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn stderr_flood_is_stopped_at_the_stderr_cap() {
    let rt = runtime();
    let limits = Limits { max_stderr_bytes: 10_000, ..tight_limits() };
    let r = run(&rt, &guest(g::STDERR_FLOOD), b"", limits).await;
    assert_eq!(r.outcome, Outcome::OutputTooLarge { stream: "stderr".into() });
    assert_eq!(r.stderr.len(), 10_000);
}

#[tokio::test]
async fn unreachable_and_panic_are_traps_and_stderr_keeps_the_panic_message() {
    let rt = runtime();
    let r = run(&rt, &guest(g::TRAP), b"", tight_limits()).await;
    assert!(matches!(&r.outcome, Outcome::Trap { message } if message.contains("unreachable")), "{:?}", r.outcome);
    assert_eq!(String::from_utf8_lossy(&r.stderr).trim(), "about to trap");
    let r = run(&rt, &guest(g::PANIC), b"", tight_limits()).await;
    assert_eq!(r.outcome.kind(), "trap");
    assert!(String::from_utf8_lossy(&r.stderr).contains("guest panicked on purpose"));
    assert_healthy(&rt).await;
}

#[tokio::test]
async fn a_non_zero_exit_is_reported_with_its_code_and_stderr() {
    let rt = runtime();
    // WASI 0.2 `exit` carries only ok/err (exit-with-code is still unstable), so a component
    // exiting with 3 is seen as a failed exit with code 1. Preview1 keeps the exact code.
    let r = run(&rt, &guest(g::EXIT_CODE), b"", tight_limits()).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 1 });
    assert_eq!(String::from_utf8_lossy(&r.stderr).trim(), "bad input");
}

#[tokio::test]
async fn input_over_the_cap_is_refused_before_the_guest_runs() {
    let rt = runtime();
    let limits = Limits { max_input_bytes: 1000, ..tight_limits() };
    let r = run(&rt, &guest(g::BIG_INPUT), &vec![7u8; 1001], limits.clone()).await;
    assert_eq!(r.outcome, Outcome::InputTooLarge);
    assert_eq!(r.instructions, 0);
    let r = run(&rt, &guest(g::BIG_INPUT), &vec![7u8; 1000], limits).await;
    assert!(r.outcome.is_ok());
    assert_eq!(String::from_utf8_lossy(&r.output).trim(), "1000");
}

#[tokio::test]
async fn limits_outside_the_caps_are_rejected() {
    let rt = runtime();
    let limits = Limits { max_wall: Duration::from_secs(3600), ..Limits::default() };
    let err = rt.run(&guest(g::ECHO), outlayer_host::ExecutionRequest { limits, ..Default::default() }).await.unwrap_err();
    assert!(err.to_string().contains("max_wall_ms"), "{err}");
}

/// Table growth has no Rust spelling, so this guest is a WASI preview1 core module written in
/// WAT: it grows its table by 10,000 elements until growth fails, then traps.
const TABLE_BOMB: &str = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $grow
      (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 10000)) (i32.const -1))))
    unreachable))
"#;

#[tokio::test]
async fn table_growth_hits_the_table_limit() {
    let rt = runtime();
    let wasm = wat::parse_str(TABLE_BOMB).unwrap();
    let limits = Limits { max_table_elements: 50_000, ..tight_limits() };
    let r = run(&rt, &wasm, b"", limits).await;
    assert_eq!(r.outcome, Outcome::TableLimit);
    assert_healthy(&rt).await;
}

/// A preview1 module that instantiates more memory than allowed fails as memory-limit.
#[tokio::test]
async fn initial_memory_above_the_cap_is_a_memory_limit() {
    let rt = runtime();
    let wasm = wat::parse_str(r#"(module (memory (export "memory") 1000) (func (export "_start")))"#).unwrap();
    let limits = Limits { max_memory_bytes: 16 << 20, ..tight_limits() };
    let r = run(&rt, &wasm, b"", limits).await;
    assert_eq!(r.outcome, Outcome::MemoryLimit);
}

#[tokio::test]
async fn a_preview1_exit_keeps_its_exact_code() {
    let rt = runtime();
    let wasm = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
           (memory (export "memory") 1)
           (func (export "_start") (call $exit (i32.const 3))))"#,
    )
    .unwrap();
    let r = run(&rt, &wasm, b"", tight_limits()).await;
    assert_eq!(r.outcome, Outcome::Exit { code: 3 });
}

#[tokio::test]
async fn a_component_needing_more_instances_than_allowed_fails_to_start() {
    let rt = runtime();
    // A Rust wasip2 command instantiates several core instances (program, WASI adapter, shims).
    let limits = Limits { max_instances: 1, ..tight_limits() };
    let r = run(&rt, &guest(g::ECHO), b"x", limits).await;
    match &r.outcome {
        Outcome::Trap { message } => assert!(message.contains("instance"), "{message}"),
        other => panic!("expected an instantiation failure, got {other:?}"),
    }
    assert!(r.output.is_empty());
    assert_healthy(&rt).await;
}

/// Pooled memories are reused (and with `linear_memory_keep_resident` their touched pages are
/// reset with `memset` rather than unmapped): nothing one execution wrote reaches the next. Each
/// `scan` run takes the slot the `fill` run before it used (the pool prefers a slot that last held
/// the same module).
#[tokio::test]
async fn an_execution_never_sees_what_an_earlier_one_left_in_memory() {
    let rt = runtime();
    let wasm = guest(g::MEMORY_RESIDUE);
    let limits = Limits { max_memory_bytes: 64 << 20, ..tight_limits() };
    // The detector works: within one execution the scan finds every block the fill wrote.
    let r = run(&rt, &wasm, b"fill scan", limits.clone()).await;
    assert_eq!(String::from_utf8_lossy(&r.output), "393216", "{:?}", r.outcome);
    for round in 0..4 {
        let r = run(&rt, &wasm, b"fill", limits.clone()).await;
        assert!(r.outcome.is_ok(), "fill: {:?}", r.outcome);
        assert!(r.peak_memory_bytes >= 6 << 20, "fill grew its memory: {}", r.peak_memory_bytes);
        let r = run(&rt, &wasm, b"scan", limits.clone()).await;
        assert!(r.outcome.is_ok(), "scan: {:?}", r.outcome);
        assert_eq!(String::from_utf8_lossy(&r.output), "0", "round {round}: marker blocks found in fresh memory");
    }
    assert_healthy(&rt).await;
}

//! Many executions at once on one engine, each with its own state.

mod common;

use common::{guest, runtime};
use outlayer_guest_artifacts as g;
use outlayer_host::{ExecutionRequest, Limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_executions_keep_their_own_input_and_output() {
    let rt = runtime();
    let prepared = rt.prepare(&guest(g::ECHO)).unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let rt = rt.clone();
        let prepared = prepared.clone();
        tasks.push(tokio::spawn(async move {
            let input = format!("execution #{i}").into_bytes();
            let r = rt.execute(&prepared, ExecutionRequest { input: input.clone(), ..Default::default() }).await.unwrap();
            assert!(r.outcome.is_ok(), "{:?}", r.outcome);
            assert_eq!(r.output, input);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_guests_do_not_starve_a_quick_one() {
    let rt = runtime();
    let looping = rt.prepare(&guest(g::LOOP_FOREVER)).unwrap();
    let limits = Limits { max_wall: std::time::Duration::from_secs(2), max_instructions: 400_000_000_000, ..Limits::default() };
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let (rt, looping, limits) = (rt.clone(), looping.clone(), limits.clone());
        hogs.push(tokio::spawn(async move { rt.execute(&looping, ExecutionRequest { limits, ..Default::default() }).await.unwrap() }));
    }
    // With 4 busy loops on 2 worker threads, echo still completes before they time out,
    // because guests yield cooperatively.
    let echo = rt.run(&guest(g::ECHO), ExecutionRequest { input: b"hi".to_vec(), ..Default::default() }).await.unwrap();
    assert!(echo.outcome.is_ok());
    let finished_early = hogs.iter().filter(|h| h.is_finished()).count();
    assert_eq!(finished_early, 0, "echo finished while the loops were still running");
    for h in hogs {
        assert_eq!(h.await.unwrap().outcome.kind(), "timeout");
    }
}

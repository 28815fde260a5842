//! The behaviour suite (`suite/`) run against every backend: one test per backend × behaviour.
//!
//! PostgreSQL tests use the server at `OUTLAYER_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and fail when it is unreachable, unless
//! `OUTLAYER_SKIP_PG=1`.

mod common;
mod suite;

/// One module per backend, one `#[tokio::test]` per behaviour, on a multi-threaded runtime so
/// the concurrency behaviours really run in parallel.
macro_rules! backend {
    ($backend:ident) => {
        mod $backend {
            behaviours!(
                $backend;
                get_set_has_delete,
                values_and_keys_round_trip,
                public_flag_round_trips,
                usage_counts_keys_and_bytes,
                list_keys_prefix_in_byte_order,
                list_keys_paginates_with_after,
                set_if_absent_stores_once,
                compare_and_swap_semantics,
                increment_counts,
                increment_rejects_bad_values,
                concurrent_increments_lose_nothing,
                concurrent_set_if_absent_has_one_winner,
                concurrent_compare_and_swap_has_one_winner,
                scopes_are_isolated,
                clear_removes_only_its_scope,
                quota_refuses_growth_and_changes_nothing,
                concurrent_writers_never_pass_the_quota,
            );
        }
    };
}

macro_rules! behaviours {
    ($backend:ident; $($behaviour:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $behaviour() {
            let Some(fixture) = crate::common::$backend().await else { return };
            crate::suite::$behaviour(&fixture).await;
        }
    )+};
}

backend!(memory);
backend!(sqlite);
backend!(postgres);

/// Write sets are applied to the store itself (holding ciphertexts when a stage sits under
/// encryption), so the commit behaviours run against the plain backends.
macro_rules! committing {
    ($backend:ident, $module:ident) => {
        mod $module {
            behaviours!(
                $backend;
                staged_writes_apply_only_on_commit,
                a_commit_over_an_unseen_change_conflicts,
                concurrent_staged_increments_commit_exactly_once,
                quotas_hold_in_the_stage_and_at_commit,
                the_stage_lists_what_the_execution_sees,
                malformed_sets_are_refused,
                the_write_set_is_bounded,
                rewriting_a_key_read_after_a_blind_write_keeps_the_count,
            );
        }
    };
}

committing!(memory, memory_commits);
committing!(sqlite, sqlite_commits);
committing!(postgres, postgres_commits);
backend!(encrypted_memory);
backend!(encrypted_sqlite);
backend!(encrypted_postgres);

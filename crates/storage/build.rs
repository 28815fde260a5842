//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the migration folders at
//! compile time, and the compiler alone cannot see a new file appear in them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

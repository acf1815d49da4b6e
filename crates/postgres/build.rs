//! Rebuilds this crate when `migrations/` changes: `embed_migrations!` reads that
//! directory at compile time, and cargo would not otherwise notice a new migration.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}

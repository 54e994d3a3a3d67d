//! `embed_migrations!` reads `migrations/` when the crate compiles, which cargo does not track:
//! without this, a new migration file would not rebuild the crate, and a binary built
//! incrementally (chat-local, `cargo lambda build`) would lack it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

//! The conformance suite as a cargo test target, so cargo-nextest can drive it
//! (one process per case, its retries and JUnit):
//!
//!     cargo nextest run -p hil-suite --test conformance
//!
//! Not run by plain `cargo test` (`test = false` in Cargo.toml): on a GPU machine it is the
//! whole hardware suite, not a unit test.
fn main() {
    hil_suite::cli::main()
}

//! Invariants checked by the fuzz targets in `fuzz_targets/`, shared so each target is one line.
//!
//! # Layout
//! - [`frame`]: `ClientFrame::parse` invariants that hold for every action, and [`frame::JsonFrame`],
//!   a generator of JSON objects shaped like frames so the fuzzer gets past the JSON parser.
//! - [`token`]: `TokenVerifier::verify` (HS256, built once per process) and `bearer_token`.
//!
//! Every check panics on a broken invariant; libFuzzer reports the panic as a crash.

#![forbid(unsafe_code)]

pub mod frame;
pub mod token;

/// The committed seed inputs of one target (`seeds/<target>/*`).
#[cfg(test)]
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let seeds: Vec<Vec<u8>> = entries.map(|entry| std::fs::read(entry.unwrap().path()).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

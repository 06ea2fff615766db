//! Benchmarks live in benches/ and the comparison tools in src/bin.

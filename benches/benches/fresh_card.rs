//! What a fresh card costs before it can answer: deriving an RSA-2048 key
//! (the prime walk), loading one from the disk cache instead, and issuing the
//! default card once its keys are known (certificates signed by the CAs, every
//! EF built). A new process pays one of the first two for each key it has
//! not met (the CA keys, the card issuer's, the card's own four: JPKI
//! authentication and signature, the text and surface applications' keys)
//! unless the shipped key table has it, then the third; `compare`'s "fresh
//! card start" row times that whole path in a new process.
//!
//! ```text
//! cargo bench -p kazasu-benches --bench fresh_card            # measure
//! cargo bench -p kazasu-benches --bench fresh_card -- --test  # run each once
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sim_card::keys::{AUTH_KEY_LABEL, KeyCache};
use sim_card::personalize;
use sim_card::profile::CardProfile;

/// Walks are of different lengths: cycle through a few seeds, the same ones
/// in every run.
const SEEDS: [&str; 8] = [
    "bench-0", "bench-1", "bench-2", "bench-3", "bench-4", "bench-5", "bench-6", "bench-7",
];

fn fresh_card(c: &mut Criterion) {
    let mut group = c.benchmark_group("fresh card");
    group.sample_size(10);

    let mut next = 0;
    group.bench_function("derive an RSA-2048 key (no cache)", |b| {
        b.iter(|| {
            next = (next + 1) % SEEDS.len();
            black_box(KeyCache::disabled().rsa_key(SEEDS[next], AUTH_KEY_LABEL))
        })
    });

    let dir = std::env::temp_dir().join(format!("kazasu-bench-keys-{}", std::process::id()));
    let cache = KeyCache::in_dir(&dir);
    for seed in SEEDS {
        cache.rsa_key(seed, AUTH_KEY_LABEL);
    }
    group.bench_function("load an RSA-2048 key from the disk cache", |b| {
        b.iter(|| {
            next = (next + 1) % SEEDS.len();
            black_box(cache.rsa_key(SEEDS[next], AUTH_KEY_LABEL))
        })
    });

    let profile = CardProfile::built_in("default").expect("the default profile");
    let pki = personalize::simulated_jpki().expect("the simulated JPKI");
    personalize::issue(&profile, &pki).expect("the default card");
    group.bench_function("issue the default card, keys known", |b| {
        b.iter(|| black_box(personalize::issue(&profile, &pki).expect("the default card")))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, fresh_card);
criterion_main!(benches);

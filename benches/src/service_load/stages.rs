//! The step table: what each step of a confirmation costs on one idle
//! thread (the service core's own methods, then the OpenSSL operations and
//! store reads inside them), timed after the load so that it cannot disturb
//! it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use sim_service::clock::ServiceClock;
use sim_service::fixtures;
use sim_service::http::{AppState, ServiceConfig};
use sim_service::service::{CardPresentation, Service};
use sim_service::store::Store;

use super::cpu::CpuMark;
use crate::service::{BenchService, ClientCard, FACILITY};

/// Times the steps of a confirmation (see [`stage_costs`]) and prints
/// them, warning when other processes took cores meanwhile; answers them
/// for the JSON line, in microseconds.
pub(super) fn timed_stages(
    bench: &BenchService,
    db: &Path,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let stages_db = db.with_file_name("stages.db");
    let (mark, started) = (CpuMark::now(), Instant::now());
    let stages = stage_costs(bench, &stages_db)?;
    let stage_others = mark.used().others_cores(started.elapsed().as_secs_f64());
    if !stages.is_empty() {
        println!("cost of each step of a confirmation on one idle thread (mean of 300 calls):");
    }
    for (what, cost) in &stages {
        println!("  {:>8.1} us  {what}", cost.as_secs_f64() * 1e6);
    }
    if !stages.is_empty() && stage_others > 0.2 {
        println!(
            "WARNING: other processes used {stage_others:.2} cores while the steps were timed: \
             the costs are high; run again on a quiet machine"
        );
    }
    let stages_us: serde_json::Map<String, serde_json::Value> = stages
        .iter()
        .map(|(what, cost)| (what.trim().to_string(), (cost.as_secs_f64() * 1e6).into()))
        .collect();

    Ok(stages_us)
}

/// Mean time of `f` over `rounds` calls, after one call to warm caches.
fn mean_time(rounds: u32, mut f: impl FnMut()) -> Duration {
    f();
    let started = Instant::now();
    for _ in 0..rounds {
        f();
    }
    started.elapsed() / rounds
}

/// What a confirmation costs on one thread with nothing competing: the
/// service core's own methods, called as the HTTP handlers call them, then
/// the OpenSSL operations and store reads inside them taken apart. Under
/// load the sum grows by the contention the steps meet (the store's one
/// connection, OpenSSL's global locks, the hand-offs to the blocking pool);
/// the difference with the measured CPU per confirmation is that.
fn stage_costs(bench: &BenchService, db: &Path) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let BenchService { state, card, .. } = bench;
    let mut stages = core_costs(bench, db)?;
    stages.extend(crypto_costs(state, card)?);
    stages.extend(lookup_costs(state, card.certificate())?);
    stages.push((
        "tokio spawn_blocking round trip (empty closure)",
        spawn_blocking_cost()?,
    ));
    Ok(stages)
}

/// Rounds of each timed step.
const ROUNDS: u32 = 300;

/// The core's methods, whole: `Service::issue_challenge` and
/// `Service::confirm_card` (challenge redeemed, certificate and signature
/// checked, rules, history row committed). They write, so they run on a
/// service of their own (same settings, its own database): the load's is
/// not touched.
fn core_costs(bench: &BenchService, db: &Path) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let BenchService {
        state,
        persons,
        card,
    } = bench;
    let clock = ServiceClock::frozen_at(state.clock.now());
    let service =
        Service::new(Store::open(db)?, clock, ServiceConfig::default()).map_err(|e| anyhow!(e))?;
    service.install_fixtures(persons)?;
    let facility =
        sim_service::model::MedicalInstitutionCode::new(FACILITY).map_err(|e| anyhow!(e))?;
    // Each confirmation redeems a challenge of its own, signed before the
    // clock starts (the card's signature is the client's cost).
    let mut presentations = (0..=ROUNDS)
        .map(|_| {
            let challenge = service.issue_challenge()?;
            Ok(CardPresentation {
                facility: facility.clone(),
                device: "service_load".into(),
                method: sim_service::rules::IdentityCheck::Pin,
                certificate: card.certificate().to_vec(),
                challenge_id: Some(challenge.id),
                signature: Some(card.sign(&challenge.nonce)?),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter();
    let confirm = mean_time(ROUNDS, || {
        let presentation = presentations.next().expect("enough challenges");
        let confirmed = service
            .confirm_card(&presentation, None, None, None)
            .expect("confirms");
        assert!(
            confirmed
                .outcome
                .message_body
                .processing_result_code
                .is_none(),
            "the card confirms"
        );
    });
    let issue = mean_time(ROUNDS, || {
        service.issue_challenge().expect("issues");
    });
    Ok(vec![
        (
            "Service::confirm_card (redeem, verify, rules, history row committed)",
            confirm,
        ),
        ("Service::issue_challenge (in memory)", issue),
    ])
}

/// The OpenSSL operations a confirmation needs, with and without the
/// caches that spare them per request.
fn crypto_costs(
    state: &AppState,
    card: &ClientCard,
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let certificate = card.certificate();
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Verifier;
    use openssl::x509::X509;

    let challenge = [7u8; 32];
    let signature = card.sign(&challenge)?;
    let x509 = X509::from_der(certificate)?;
    let spki = x509.public_key()?.public_key_to_der()?;
    let cached_key = PKey::public_key_from_der(&spki)?;
    let summary = state.anchors.verify(certificate)?;
    Ok(vec![
        (
            "TrustAnchors::verify (parse, CA signature, summary)",
            mean_time(ROUNDS, || {
                state.anchors.verify(certificate).expect("verifies");
            }),
        ),
        (
            "  of which X509::from_der",
            mean_time(ROUNDS, || {
                X509::from_der(certificate).expect("parses");
            }),
        ),
        (
            "  of which public_key + public_key_to_der (summary's SPKI)",
            mean_time(ROUNDS, || {
                x509.public_key()
                    .and_then(|k| k.public_key_to_der())
                    .expect("encodes");
            }),
        ),
        (
            "signature::verify_for_method (SPKI decode + RSA verify)",
            mean_time(ROUNDS, || {
                sim_service::rules::signature::verify_for_method(
                    sim_service::rules::IdentityCheck::Pin,
                    &summary.spki_der,
                    &challenge,
                    &signature,
                )
                .expect("verifies");
            }),
        ),
        (
            "  of which PKey::public_key_from_der",
            mean_time(ROUNDS, || {
                PKey::public_key_from_der(&spki).expect("decodes");
            }),
        ),
        (
            "  the RSA verify alone, key already decoded",
            mean_time(ROUNDS, || {
                let mut v = Verifier::new(MessageDigest::sha256(), &cached_key).expect("verifier");
                v.update(&challenge).expect("update");
                assert!(v.verify(&signature).expect("verify"));
            }),
        ),
        (
            "caches.certificates.verify (a hit: SHA-256 + lookup)",
            mean_time(ROUNDS, || {
                let sha = openssl::sha::sha256(certificate);
                state
                    .caches
                    .certificates
                    .verify(certificate, sha)
                    .expect("verifies");
            }),
        ),
    ])
}

/// The holder's lookup inside a confirmation: the store's reads and the
/// fixture's parse, with and without the cache.
fn lookup_costs(
    state: &AppState,
    certificate: &[u8],
) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let fingerprint = sim_service::confirmation::fingerprint(certificate);
    let (_, stored) = state
        .store
        .certificate(&fingerprint)?
        .context("the card's certificate is installed")?;
    let now = state.clock.now();
    Ok(vec![
        (
            "caches.persons.get (a hit: compares the stored TOML)",
            mean_time(ROUNDS, || {
                state.caches.persons.get(&stored).expect("parses");
            }),
        ),
        (
            "fingerprint + store.certificate (SELECT)",
            mean_time(ROUNDS, || {
                let f = sim_service::confirmation::fingerprint(certificate);
                state.store.certificate(&f).expect("select");
            }),
        ),
        (
            "toml::from_str::<InsuredPerson> (the stored fixture)",
            mean_time(ROUNDS, || {
                toml::from_str::<fixtures::InsuredPerson>(&stored.fixture).expect("parses");
            }),
        ),
        (
            "store.is_registered_by (SELECT; skipped when the fixture says registered)",
            mean_time(ROUNDS, || {
                state
                    .store
                    .is_registered_by(&stored.id, now)
                    .expect("select");
            }),
        ),
    ])
}

/// A hand-off to tokio's blocking pool and back, as each confirmation takes.
fn spawn_blocking_cost() -> anyhow::Result<Duration> {
    let blocking = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()?;
    Ok(mean_time(ROUNDS, || {
        blocking.block_on(async {
            tokio::task::spawn_blocking(|| ()).await.expect("joins");
        });
    }))
}

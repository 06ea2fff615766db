//! In-process card throughput: each command a JPKI client sends, the whole
//! sequence of one PIN confirmation, and COMPUTE DIGITAL SIGNATURE on each
//! carrier (RSA-2048 on the plastic card and on Android, ECDSA P-256 on an
//! iPhone).
//!
//! The card is called directly (`Card::process_at`), with one instant for
//! every command: the card is sans-IO, so this measures the card's own work
//! (parsing, dispatch, access checks, the key operation) and no transport.
//! Certificates are read in the chunks OpenSC and jpki-rs use (a short
//! header, then 256-byte short READ BINARYs: see the crate docs).
//!
//! ```text
//! cargo bench -p kazasu-benches --bench card            # measure
//! cargo bench -p kazasu-benches --bench card -- --test  # run each once
//! ```

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kazasu_benches::{
    BenchCard, confirmation_commands, issue, read_certificate_commands, signature_command,
};
use sim_card::card::Card;
use sim_card::iso7816::{StatusWord, select_aid, select_ef, verify};
use sim_card::mynumber::{EF_AUTH_CERTIFICATE, EF_AUTH_KEY, EF_AUTH_PIN, JPKI_AID};
use sim_card::variant::Variant;

/// Sends `command` and insists on `9000`: a bench of an error path would
/// measure the wrong thing.
fn ok(card: &mut Card, command: &[u8], now: Instant) -> Vec<u8> {
    let response = card.process_at(command, now);
    assert_eq!(
        response.sw,
        StatusWord::Ok,
        "{} answered {}",
        hex::encode_upper(command),
        response.sw
    );
    response.data
}

/// A card of the built-in default profile on `variant`, with the JPKI-AP
/// selected and, where the variant has one, the auth PIN verified; on an
/// iPhone the holder authenticated (Face ID) at `now`.
fn ready_card(variant: Option<Variant>, now: Instant) -> BenchCard {
    let mut bench = issue("default", variant).expect("the default profile issues");
    ok(&mut bench.card, &select_aid(JPKI_AID), now);
    match &bench.auth_pin {
        Some(pin) => {
            ok(&mut bench.card, &select_ef(EF_AUTH_PIN), now);
            ok(&mut bench.card, &verify(pin), now);
        }
        None => assert!(bench.card.authenticate_holder(now)),
    }
    bench
}

fn commands(c: &mut Criterion) {
    let now = Instant::now();
    let BenchCard {
        mut card,
        certificate_len,
        auth_pin,
    } = ready_card(None, now);
    let pin = auth_pin.expect("the plastic card has an auth PIN");
    let mut group = c.benchmark_group("apdu");
    group.throughput(Throughput::Elements(1));

    let select_ap = select_aid(JPKI_AID);
    group.bench_function("SELECT JPKI-AP", |b| {
        b.iter(|| ok(&mut card, black_box(&select_ap), now))
    });
    let select_certificate = select_ef(EF_AUTH_CERTIFICATE);
    group.bench_function("SELECT EF 000A", |b| {
        b.iter(|| ok(&mut card, black_box(&select_certificate), now))
    });

    let select_pin = select_ef(EF_AUTH_PIN);
    let verify_pin = verify(&pin);
    ok(&mut card, &select_pin, now);
    group.bench_function("VERIFY auth PIN", |b| {
        b.iter(|| ok(&mut card, black_box(&verify_pin), now))
    });

    ok(&mut card, &select_certificate, now);
    let reads = read_certificate_commands(certificate_len);
    group.throughput(Throughput::Elements(reads.len() as u64));
    group.bench_function(
        format!(
            "READ BINARY auth certificate ({certificate_len} bytes, {} APDUs)",
            reads.len()
        ),
        |b| {
            b.iter(|| {
                for read in &reads {
                    black_box(ok(&mut card, black_box(read), now));
                }
            })
        },
    );

    // The whole card side of one confirmation, from a fresh session.
    let sequence = confirmation_commands(&pin, certificate_len);
    group.throughput(Throughput::Elements(sequence.len() as u64));
    group.bench_function(
        format!(
            "confirmation sequence ({} APDUs: read certificate + verify + sign)",
            sequence.len()
        ),
        |b| {
            b.iter(|| {
                card.reset_session();
                for command in &sequence {
                    // The empty VERIFY answers 63C3 by design: no `ok` here.
                    black_box(card.process_at(black_box(command), now));
                }
            })
        },
    );
    group.finish();
}

fn signatures(c: &mut Criterion) {
    let now = Instant::now();
    let mut group = c.benchmark_group("COMPUTE DIGITAL SIGNATURE");
    group.throughput(Throughput::Elements(1));
    let sign = signature_command();
    for (name, variant) in [
        ("RSA-2048, physical card", None),
        ("RSA-2048, Android", Some(Variant::Android)),
        (
            "ECDSA P-256, iPhone (Face ID window open)",
            Some(Variant::Iphone),
        ),
    ] {
        let mut card = ready_card(variant, now).card;
        ok(&mut card, &select_ef(EF_AUTH_KEY), now);
        group.bench_function(name, |b| b.iter(|| ok(&mut card, black_box(&sign), now)));
    }
    group.finish();
}

criterion_group!(benches, commands, signatures);
criterion_main!(benches);

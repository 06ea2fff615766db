//! The vpcd wire format and link under hostile input, against the issued
//! card: no panic, and after every hostile connection the link still serves
//! the next well-behaved vpcd.
//!
//! Two passes, each bounded and counted in the test's output:
//!
//! - the codec: random byte streams, cut at random places, through
//!   `VpcdDecoder`, `respond` and `encode_reply`; every reply frame is
//!   well formed and never empty (vpcd reads an empty one as a removal);
//! - the link: `run_vpcd` connects to a fake vpcd on loopback that, one
//!   connection after another, sends random bytes, random frames (empty
//!   ones, unknown control bytes, random APDUs), floods of commands it never
//!   reads the answers to, a frame announced but never completed, or nothing
//!   at all, and closes each gently or with a reset; after each, a good
//!   vpcd connection gets the ATR, a SELECT and a READ BINARY answered.
//!
//! `KAZASU_VPCD_FUZZ_ROUNDS` (default 300) sets the number of hostile
//! connections, `KAZASU_FUZZ_SEED` the seed (printed, to replay a failure).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;
use sim_card::SmartCard;
use sim_card::card::Card;
use sim_card::iso7816::{read_binary, select_aid, select_ef};
use sim_card::mynumber::{EF_AUTH_CERTIFICATE, JPKI_AID};
use sim_card::personalize;
use sim_card::profile::CardProfile;
use sim_card::transport::vpcd::{VpcdControl, VpcdOptions, run_vpcd};
use sim_card::transport::vpcd_codec::{VpcdDecoder, VpcdMessage, encode_reply, respond};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Long enough for anything on loopback, short enough that a hang fails fast.
const PATIENCE: Duration = Duration::from_secs(10);

fn issued_card() -> Card {
    let pki = personalize::simulated_jpki().unwrap();
    personalize::issue(&CardProfile::built_in("default").unwrap(), &pki)
        .unwrap()
        .card
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    env_number("KAZASU_FUZZ_SEED", 0x6B61_7A61_7375)
}

fn random_bytes(rng: &mut XorShiftRng, max: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; below(rng, max + 1)];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// A number in `0..n` (n > 0).
fn below(rng: &mut XorShiftRng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn message(message: &VpcdMessage) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode(&mut out).unwrap();
    out
}

/// Checks that `bytes` is a sequence of complete, non-empty frames; returns
/// how many.
fn count_reply_frames(mut bytes: &[u8]) -> usize {
    let mut frames = 0;
    while !bytes.is_empty() {
        let [hi, lo, rest @ ..] = bytes else {
            panic!("half a length in the replies");
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        assert!(len > 0, "an empty reply frame reads as a removal");
        assert!(rest.len() >= len, "a reply frame cut short");
        bytes = &rest[len..];
        frames += 1;
    }
    frames
}

#[test]
fn the_codec_takes_any_stream() {
    let mut rng = XorShiftRng::seed_from_u64(seed());
    let mut card = issued_card();
    let streams = 4 * env_number("KAZASU_VPCD_FUZZ_ROUNDS", 300);
    let (mut bytes_fed, mut messages, mut replies) = (0usize, 0usize, 0usize);
    for _ in 0..streams {
        // Half random bytes, half random frames: the latter reach the card.
        let stream = if rng.next_u32() % 2 == 0 {
            random_bytes(&mut rng, 4096)
        } else {
            (0..below(&mut rng, 40))
                .flat_map(|_| {
                    let payload = random_bytes(&mut rng, 300);
                    frame(&payload)
                })
                .collect()
        };
        bytes_fed += stream.len();
        let mut decoder = VpcdDecoder::new();
        let mut out = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(1 + below(&mut rng, rest.len()));
            rest = tail;
            decoder.feed(chunk);
            while let Some(decoded) = decoder.next_message() {
                messages += 1;
                if let Ok(m) = decoded
                    && let Some(reply) = respond(&mut card, &m, Instant::now())
                {
                    let _ = encode_reply(&reply, &mut out);
                }
            }
        }
        assert!(decoder.pending() <= stream.len());
        replies += count_reply_frames(&out);
    }
    writeln!(
        std::io::stderr(),
        "vpcd codec fuzz: {streams} streams, {bytes_fed} bytes, {messages} frames decoded, {replies} replies well formed (seed {})",
        seed()
    )
    .unwrap();
}

/// One hostile vpcd connection: what it does before it goes.
async fn hostile(stream: &mut TcpStream, rng: &mut XorShiftRng, kind: usize) -> usize {
    let bytes = match kind {
        // Random bytes.
        0 => random_bytes(rng, 8192),
        // Random frames: empty ones, unknown control bytes, random APDUs.
        1 => (0..below(rng, 60))
            .flat_map(|_| frame(&random_bytes(&mut *rng, 64)))
            .collect(),
        // A flood of commands whose answers are never read: the link's
        // writes block until the connection goes.
        2 => {
            let mut flood = message(&VpcdMessage::PowerOn);
            for _ in 0..20_000 {
                flood.extend(message(&VpcdMessage::GetAtr));
                flood.extend(message(&VpcdMessage::Apdu(select_aid(JPKI_AID))));
            }
            flood
        }
        // A frame announced at the largest length, never completed.
        3 => {
            let mut partial = vec![0xFF, 0xFF];
            partial.extend(random_bytes(rng, 1000));
            partial
        }
        // A good command, then half a frame.
        4 => {
            let mut good = message(&VpcdMessage::Apdu(select_aid(JPKI_AID)));
            good.extend([0x00, 0x05, 0x00, 0xA4]);
            good
        }
        // Nothing at all.
        _ => Vec::new(),
    };
    // Written in random pieces; a write may fail once the link has given up.
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(1 + below(rng, rest.len()));
        rest = tail;
        if timeout(Duration::from_millis(200), stream.write_all(piece))
            .await
            .map_or(true, |r| r.is_err())
        {
            break;
        }
    }
    bytes.len()
}

async fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = timeout(PATIENCE, listener.accept())
        .await
        .expect("the link came back")
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

async fn exchange(stream: &mut TcpStream, m: &VpcdMessage) -> Vec<u8> {
    stream.write_all(&message(m)).await.unwrap();
    let mut len = [0u8; 2];
    timeout(PATIENCE, stream.read_exact(&mut len))
        .await
        .expect("an answer")
        .unwrap();
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(PATIENCE, stream.read_exact(&mut payload))
        .await
        .expect("an answer")
        .unwrap();
    payload
}

/// A well-behaved vpcd: power on, ATR, SELECT, the certificate's header.
async fn good_vpcd(stream: &mut TcpStream, atr: &[u8]) {
    stream
        .write_all(&message(&VpcdMessage::PowerOn))
        .await
        .unwrap();
    assert_eq!(exchange(stream, &VpcdMessage::GetAtr).await, atr);
    let apdu = |bytes: Vec<u8>| VpcdMessage::Apdu(bytes);
    assert_eq!(
        exchange(stream, &apdu(select_aid(JPKI_AID))).await,
        [0x90, 0x00]
    );
    assert_eq!(
        exchange(stream, &apdu(select_ef(EF_AUTH_CERTIFICATE))).await,
        [0x90, 0x00]
    );
    let header = exchange(stream, &apdu(read_binary(0, 4))).await;
    assert_eq!(
        (header[0], header[1], &header[4..]),
        (0x30, 0x82, &[0x90, 0x00][..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_serves_the_next_vpcd_after_any_hostile_one() {
    let rounds = env_number("KAZASU_VPCD_FUZZ_ROUNDS", 300);
    let mut rng = XorShiftRng::seed_from_u64(seed());
    let card = issued_card();
    let atr = SmartCard::atr(&card);
    let card = Arc::new(Mutex::new(card));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = VpcdOptions {
        addr: listener.local_addr().unwrap().to_string(),
        reconnect_min: Duration::from_millis(1),
        reconnect_max: Duration::from_millis(20),
        field_return: Duration::from_millis(1),
        ..VpcdOptions::default()
    };
    let control = VpcdControl::new();
    let link = tokio::spawn(run_vpcd(card, options, control.clone()));

    let (mut bytes, mut resets) = (0usize, 0u64);
    for round in 0..rounds {
        let mut stream = accept(&listener).await;
        let kind = (round % 6) as usize;
        bytes += hostile(&mut stream, &mut rng, kind).await;
        if rng.next_u32() % 2 == 0 {
            // Closed with a reset, as a crashed vpcd's socket would be.
            stream.set_zero_linger().unwrap();
            resets += 1;
        }
        drop(stream);
        let mut good = accept(&listener).await;
        good_vpcd(&mut good, &atr).await;
        drop(good);
    }
    assert!(!link.is_finished(), "the link gave up");
    control.stop();
    timeout(PATIENCE, link).await.unwrap().unwrap().unwrap();
    writeln!(
        std::io::stderr(),
        "vpcd link fuzz: {rounds} hostile connections ({bytes} bytes, {resets} closed by reset), {rounds} good vpcds served after them (seed {})",
        seed()
    )
    .unwrap();
}

//! End to end through the real stack: `kazasu card` on vpcd, pcscd, and
//! OpenSC's own tools (pkcs15-tool, pkcs11-tool) with its JPKI driver.
//!
//! These tests need pcscd running with Debian's vpcd (`bash .ci/setup`). On a
//! machine without them they say so and pass, unless `CI` is set: in CI a
//! missing pcscd is a failure, never a silent skip.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;

/// vpcd slot 0: one card at a time, so the tests take turns.
static SLOT: Mutex<()> = Mutex::new(());
const VPCD: &str = "127.0.0.1:35963";
const READER: &str = "Virtual PCD 00 00";

/// A `kazasu card` process holding the slot; killed (card removed) on drop.
struct VirtualCard {
    child: Child,
    _slot: MutexGuard<'static, ()>,
    dir: PathBuf,
}

impl VirtualCard {
    fn insert(profile: &str) -> VirtualCard {
        let slot = SLOT.lock().unwrap_or_else(|e| e.into_inner());
        static CARDS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kazasu-opensc-{}-{}",
            std::process::id(),
            CARDS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kazasu"))
            .args(["card", "--profile", profile, "--vpcd", VPCD, "--trace"])
            .arg(dir.join("trace.jsonl"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("kazasu card starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains("inserted into vpcd"),
            "kazasu card said {line:?}"
        );
        let card = VirtualCard {
            child,
            _slot: slot,
            dir,
        };
        card.wait_until_pcscd_sees_it();
        card
    }

    fn wait_until_pcscd_sees_it(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let out = Command::new("opensc-tool")
                .arg("--list-readers")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if text
                .lines()
                .any(|l| l.contains(READER) && l.contains("Yes"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("pcscd never saw the card in {READER}");
    }

    fn trace(&self) -> String {
        std::fs::read_to_string(self.dir.join("trace.jsonl")).unwrap_or_default()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        // pcscd notices the removal at its next poll (400 ms).
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs an OpenSC tool with the JPKI driver; returns (success, stdout + stderr).
fn opensc(args: &[&str]) -> (bool, String) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .env("OPENSC_DRIVER", "jpki")
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", args[0]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The "Tries left" of each PIN that `pkcs15-tool --list-pins` shows, in order
/// (the auth PIN first, then the sign password).
fn tries_left() -> Vec<u8> {
    let (ok, text) = opensc(&["pkcs15-tool", "--reader", READER, "--list-pins"]);
    assert!(ok, "pkcs15-tool --list-pins failed:\n{text}");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Tries left"))
        .map(|t| t.trim_start_matches([' ', ':']).trim().parse().unwrap())
        .collect()
}

fn pkcs11_module() -> &'static str {
    [
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("opensc-pkcs11.so is installed")
}

fn sign_with_pkcs11(card: &VirtualCard, pin: &str, message: &[u8]) -> (bool, String, Vec<u8>) {
    let input = card.path("message");
    let output = card.path("signature");
    std::fs::write(&input, message).unwrap();
    let (ok, text) = opensc(&[
        "pkcs11-tool",
        "--module",
        pkcs11_module(),
        "--token-label",
        "JPKI (User Authentication PIN)",
        "--login",
        "--pin",
        pin,
        "--sign",
        "--id",
        "01",
        "-m",
        "SHA256-RSA-PKCS",
        "-i",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    (ok, text, std::fs::read(&output).unwrap_or_default())
}

fn auth_certificate_via_opensc() -> X509 {
    let (ok, pem) = opensc(&["pkcs15-tool", "--reader", READER, "--read-certificate", "1"]);
    assert!(ok, "pkcs15-tool --read-certificate 1 failed:\n{pem}");
    let begin = pem.find("-----BEGIN").expect("a PEM certificate");
    X509::from_pem(&pem.as_bytes()[begin..]).expect("OpenSC's output parses as X.509")
}

#[test]
fn pkcs15_tool_lists_the_pins_with_their_tries() {
    if !support::pcscd_ready() {
        return;
    }
    let card = VirtualCard::insert("default");
    assert_eq!(tries_left(), vec![3, 5]);
    // OpenSC bound through the JPKI AID and queried both PINs with an empty VERIFY.
    let trace = card.trace();
    assert!(trace.contains("SELECT JPKI-AP"), "{trace}");
    assert!(trace.contains("(status query) → 63C3"), "{trace}");
    assert!(trace.contains("(status query) → 63C5"), "{trace}");
}

#[test]
fn pkcs15_tool_reads_the_auth_certificate_and_openssl_parses_it() {
    if !support::pcscd_ready() {
        return;
    }
    let card = VirtualCard::insert("default");
    let certificate = auth_certificate_via_opensc();
    // And `openssl x509` itself agrees.
    let pem_path = card.path("auth.pem");
    std::fs::write(&pem_path, certificate.to_pem().unwrap()).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-issuer", "-enddate", "-in"])
        .arg(&pem_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("O = JPKI-TEST"), "{text}");
    assert!(text.contains("OU = JPKI for user authentication"), "{text}");
    assert!(text.contains("notAfter=Apr 12 14:59:59 2030 GMT"), "{text}");
}

#[test]
fn pkcs11_tool_signs_and_openssl_verifies() {
    if !support::pcscd_ready() {
        return;
    }
    let card = VirtualCard::insert("default");
    let certificate = auth_certificate_via_opensc();
    let message = b"kazasu: hold the card over the reader";
    let (ok, text, signature) = sign_with_pkcs11(&card, "1234", message);
    assert!(ok, "pkcs11-tool --sign failed:\n{text}");
    assert_eq!(signature.len(), 256);
    let key = certificate.public_key().unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &key).unwrap();
    verifier.update(message).unwrap();
    assert!(
        verifier.verify(&signature).unwrap(),
        "the signature verifies with the certificate's key"
    );
    // The card signed (not the host): a COMPUTE DIGITAL SIGNATURE went through,
    // and the PIN never reached the trace.
    let trace = card.trace();
    assert!(
        trace.contains("COMPUTE DIGITAL SIGNATURE EF 0017 (auth key)"),
        "{trace}"
    );
    assert!(
        !trace.contains("31323334"),
        "the PIN is masked in the trace"
    );
}

#[test]
fn wrong_pins_count_down_and_three_lock_the_card() {
    if !support::pcscd_ready() {
        return;
    }
    let card = VirtualCard::insert("default");
    for expected in [2, 1, 0] {
        let (ok, text, _) = sign_with_pkcs11(&card, "9999", b"x");
        assert!(!ok, "a wrong PIN must not sign:\n{text}");
        assert_eq!(
            tries_left()[0],
            expected,
            "auth PIN tries after a wrong PIN"
        );
    }
    // Locked: OpenSC reports it, and even the right PIN is refused.
    let (ok, text) = opensc(&["pkcs11-tool", "--module", pkcs11_module(), "--list-slots"]);
    assert!(ok, "{text}");
    let auth_token = text
        .split("Slot ")
        .find(|slot| slot.contains("JPKI (User Authentication PIN)"))
        .expect("the auth token is listed");
    assert!(auth_token.contains("user PIN locked"), "{text}");
    let (ok, text, _) = sign_with_pkcs11(&card, "1234", b"x");
    assert!(
        !ok,
        "a locked PIN must not sign even with the right value:\n{text}"
    );
    assert!(text.contains("C_Login failed"), "{text}");
    assert!(card.trace().contains("→ 6984 (PIN blocked)"));
    assert_eq!(tries_left()[0], 0, "still locked");
}

/// OpenSC against an Android phone (`android` profile) held to the reader.
///
/// OpenSC's jpki driver does not know the phone's ATR; it binds because the
/// JPKI AID selects. It never reads EF 0006, so the phone's token label
/// (`JPKIAPGPSETOKEN`) changes nothing for it: it shows the same two emulated
/// tokens and PINs as for a plastic card. What differs is EF 000A: the driver
/// learns a certificate EF's size by reading its first 4 bytes as it selects
/// it, and on the phone that read answers 6982 until the smartphone PIN was
/// verified. `pkcs15-tool --read-certificate` has no way to log in first, so
/// it fails (OpenSC words the failed size read as "EF offset too large").
#[test]
fn opensc_binds_to_an_android_phone_but_cannot_read_its_pin_gated_certificate() {
    if !support::pcscd_ready() {
        return;
    }
    let card = VirtualCard::insert("android");
    // The smartphone PIN (4 digits, 3 tries) and the signature password.
    assert_eq!(tries_left(), vec![3, 5]);

    let (ok, text) = opensc(&["pkcs15-tool", "--reader", READER, "--read-certificate", "1"]);
    assert!(
        !ok,
        "the auth certificate must not be readable without the PIN:\n{text}"
    );
    assert!(text.contains("Certificate read failed"), "{text}");
    assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");

    let (ok, text) = opensc(&["pkcs11-tool", "--module", pkcs11_module(), "-L"]);
    assert!(ok, "pkcs11-tool -L failed:\n{text}");
    assert!(
        text.contains("token label        : JPKI (User Authentication PIN)"),
        "{text}"
    );
    assert!(
        text.contains("token label        : JPKI (Digital Signature PIN)"),
        "{text}"
    );
    assert!(
        !text.contains("JPKIAPGPSETOKEN"),
        "OpenSC names its own tokens:\n{text}"
    );

    let trace = card.trace();
    assert!(
        trace.contains("READ BINARY EF 000A (auth certificate) @0 Le=4 → 6982"),
        "{trace}"
    );
    assert!(
        !trace.contains("EF 0006"),
        "OpenSC never reads the token info:\n{trace}"
    );
}

//! `kazasu doctor`: proves, one step at a time, that a virtual card reaches
//! real PC/SC clients on this machine: pcscd answers, vpcd takes the card,
//! OpenSC binds its JPKI driver, reads the certificate and signs with it.
//!
//! Each step prints one line; the first failing step says what to fix.

use std::ffi::CString;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use sim_card::SmartCard;
use sim_card::personalize;
use sim_card::profile::CardProfile;
use sim_card::transport::vpcd::{self, VpcdControl, VpcdEvent, VpcdOptions};

#[derive(Args)]
pub struct DoctorArgs {
    /// The card profile to insert.
    #[arg(long, default_value = "default")]
    profile: String,
    /// The vpcd slot to use (Debian configures 0 and 1).
    #[arg(long, default_value_t = 0)]
    slot: u8,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    println!("kazasu doctor: a virtual card through pcscd, vpcd and OpenSC");
    let reader = format!("Virtual PCD 00 {:02}", args.slot);

    let context = pcsc::Context::establish(pcsc::Scope::User)
        .context("pcscd does not answer: install and start it (bash .ci/setup)")?;
    let readers = list_readers(&context)?;
    if !readers.contains(&reader) {
        bail!(
            "pcscd has no reader {reader:?} (it has {readers:?}): install vsmartcard-vpcd and restart pcscd"
        );
    }
    ok(format!(
        "pcscd answers with {} readers, {reader:?} among them",
        readers.len()
    ));

    let profile = CardProfile::load(&args.profile)?;
    let pki = personalize::simulated_jpki()?;
    let issued = personalize::issue(&profile, &pki)?;
    let pin = profile.pins.auth.value.clone();
    let card: Arc<Mutex<dyn SmartCard + Send>> = Arc::new(Mutex::new(issued.card));
    let control = VpcdControl::new();
    let link = start_link(card, VpcdOptions::for_slot(args.slot), control.clone())?;
    ok(format!(
        "card {:?} inserted into vpcd at {link}",
        args.profile
    ));

    let result = check_clients(&context, &reader, &pin, &issued.auth_certificate);
    control.stop();
    result?;
    println!("all good: OpenSC uses the virtual card as it would a real one");
    Ok(())
}

fn ok(line: String) {
    println!("  ✓ {line}");
}

fn list_readers(context: &pcsc::Context) -> anyhow::Result<Vec<String>> {
    let mut buffer = vec![0u8; context.list_readers_len()?];
    Ok(context
        .list_readers(&mut buffer)?
        .map(|r| r.to_string_lossy().into_owned())
        .collect())
}

/// Runs the vpcd link on its own thread and waits for the insertion.
fn start_link(
    card: Arc<Mutex<dyn SmartCard + Send>>,
    options: VpcdOptions,
    control: VpcdControl,
) -> anyhow::Result<std::net::SocketAddr> {
    let mut events = control.subscribe();
    let addr = options.addr.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        if let Err(e) = runtime.block_on(vpcd::run_vpcd(card, options, control)) {
            eprintln!("vpcd link: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match events.try_recv() {
            Ok(VpcdEvent::Inserted { vpcd }) => return Ok(vpcd),
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    bail!("vpcd at {addr} did not take the card within 10 s: is pcscd running with vpcd?")
}

fn check_clients(
    context: &pcsc::Context,
    reader: &str,
    pin: &str,
    auth_certificate: &[u8],
) -> anyhow::Result<()> {
    let atr = wait_for_card(context, reader)?;
    ok(format!(
        "pcscd sees the card in {reader:?}, ATR {}",
        hex::encode_upper(atr)
    ));

    let pins = opensc(&["pkcs15-tool", "--reader", reader, "--list-pins"])?;
    let tries: Vec<&str> = pins
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Tries left"))
        .map(|t| t.trim_start_matches([' ', ':']))
        .collect();
    ok(format!(
        "OpenSC's jpki driver binds and lists {} PINs, tries left {tries:?}",
        tries.len()
    ));

    let pem = opensc(&["pkcs15-tool", "--reader", reader, "--read-certificate", "1"])?;
    let certificate =
        X509::from_pem(pem.as_bytes()).context("OpenSC's certificate does not parse")?;
    if certificate.to_der()? != auth_certificate {
        bail!("OpenSC read a certificate other than the card's");
    }
    ok(format!(
        "OpenSC reads the auth certificate: {}, valid until {}",
        names(certificate.subject_name()),
        certificate.not_after()
    ));

    let dir = std::env::temp_dir().join(format!("kazasu-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let message = dir.join("message");
    let signature = dir.join("signature");
    std::fs::write(&message, b"kazasu doctor")?;
    let module = opensc_pkcs11_module()?;
    opensc(&[
        "pkcs11-tool",
        "--module",
        &module,
        "--token-label",
        "JPKI (User Authentication PIN)",
        "--login",
        "--pin",
        pin,
        "--sign",
        "--id",
        "01",
        "--mechanism",
        "SHA256-RSA-PKCS",
        "--input-file",
        path(&message)?,
        "--output-file",
        path(&signature)?,
    ])?;
    let public_key = certificate.public_key()?;
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public_key)?;
    verifier.update(b"kazasu doctor")?;
    let signed = std::fs::read(&signature)?;
    let _ = std::fs::remove_dir_all(&dir);
    if !verifier.verify(&signed)? {
        bail!("the signature OpenSC made with the card does not verify");
    }
    ok("OpenSC signs with the auth key after the PIN, and the signature verifies".into());
    Ok(())
}

fn wait_for_card(context: &pcsc::Context, reader: &str) -> anyhow::Result<Vec<u8>> {
    let name = CString::new(reader)?;
    let mut states = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        context
            .get_status_change(Duration::from_millis(500), &mut states)
            .ok();
        if states[0].event_state().contains(pcsc::State::PRESENT) {
            return Ok(states[0].atr().to_vec());
        }
        if Instant::now() > deadline {
            bail!("pcscd does not see the card in {reader:?}");
        }
        states[0].sync_current_state();
    }
}

/// Runs an OpenSC tool, forcing its JPKI driver, and returns its stdout. A
/// failure names the command without its arguments, which may hold a PIN.
fn opensc(argv: &[&str]) -> anyhow::Result<String> {
    let output: Output = Command::new(argv[0])
        .args(&argv[1..])
        .env("OPENSC_DRIVER", "jpki")
        .output()
        .with_context(|| format!("cannot run {} (install opensc)", argv[0]))?;
    if !output.status.success() {
        return Err(anyhow!(
            "{} failed: {}{}",
            argv[0],
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn opensc_pkcs11_module() -> anyhow::Result<String> {
    [
        "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
        "/usr/lib/opensc-pkcs11.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(str::to_string)
    .ok_or_else(|| anyhow!("opensc-pkcs11.so not found (install opensc)"))
}

fn path(p: &std::path::Path) -> anyhow::Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {}", p.display()))
}

fn names(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            format!(
                "{}={}",
                e.object().nid().short_name().unwrap_or("?"),
                e.data().to_string().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

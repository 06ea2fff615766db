//! `kazasu pki`: the simulated JPKI's certificates and keys as PEM files, for
//! a service or a client that must trust them, and the simulated issuer of
//! the 券面 applications' signatures, for a client that verifies the card's
//! own records (the text application's integrity record, the surface
//! application's signed data, the CV certificates in EF 0004), and the keys
//! a verifier holds of the card-level answers (the root of GET DATA `00F8`'s
//! chain; the common application's INTERNAL AUTHENTICATE key).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context;
use clap::Args;
use openssl::x509::X509;
use sim_card::formats::objects::issuer_cv_certificate;
use sim_card::keys::{RsaKey, shipped};
use sim_card::personalize;
use sim_card::pki::Purpose;
use sim_card::pki::card_issuer::{self, CardApplication};
use sim_card::profile::CardProfile;

#[derive(Args)]
pub struct PkiArgs {
    /// The folder to write into (created if missing).
    #[arg(long, required_unless_present = "shipped_keys")]
    out: Option<PathBuf>,
    /// Also write this profile's certificates (auth and sign) and public keys.
    #[arg(long)]
    profile: Option<String>,
    /// Instead: derive every RSA key of the built-in profiles (on every
    /// variant), fixture persons, the scenarios' own persons under DIR, the
    /// simulated PKI and the service's TLS, and print the table sim-card
    /// ships (`sim-card/src/keys/shipped_keys.txt`). Fresh derivations, no
    /// cache: seconds in release.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "scenarios")]
    shipped_keys: Option<PathBuf>,
}

pub fn run(args: PkiArgs) -> anyhow::Result<()> {
    if let Some(scenarios) = &args.shipped_keys {
        print!("{}", shipped_keys(scenarios)?);
        return Ok(());
    }
    let out = args.out.as_deref().context("--out is required")?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let pki = personalize::simulated_jpki()?;
    for (purpose, stem) in [
        (Purpose::UserAuthentication, "jpki-auth-ca"),
        (Purpose::DigitalSignature, "jpki-sign-ca"),
    ] {
        write(out, &format!("{stem}.pem"), pki.ca_certificate_pem(purpose))?;
        write(
            out,
            &format!("{stem}.key.pem"),
            &pki.ca_private_key_pem(purpose)?,
        )?;
    }
    // The key that certifies each 券面 application's EF 0004: as a PEM public
    // key for OpenSSL, and as a self-signed CV certificate in the card's own
    // encoding (`7F21`), for a client that keeps a table of issuer keys.
    for application in CardApplication::ALL {
        let stem = format!("{}-ca", application.slug());
        write_public_key(out, &stem, &application.ca_key())?;
        write_bytes(
            out,
            &format!("{stem}.cvc"),
            &issuer_cv_certificate(application),
        )?;
    }
    // Not on the card, as on real cards: a verifier holds them.
    write_public_key(out, "card-root", &card_issuer::card_root_key())?;
    write_public_key(
        out,
        "common-ap-authentication",
        &card_issuer::common_ap_authentication_key(),
    )?;
    if let Some(name) = &args.profile {
        let profile = CardProfile::load(name)?;
        let issued = personalize::issue(&profile, &pki)?;
        let stem = Path::new(name)
            .file_stem()
            .map_or_else(|| name.clone(), |s| s.to_string_lossy().into_owned());
        for (kind, der) in [
            ("auth", &issued.auth_certificate),
            ("sign", &issued.sign_certificate),
        ] {
            let pem = X509::from_der(der)?.to_pem()?;
            write(out, &format!("{stem}-{kind}.pem"), &String::from_utf8(pem)?)?;
        }
    }
    Ok(())
}

/// Writes `STEM.pub.pem`: the key's public half, as OpenSSL reads it.
fn write_public_key(dir: &Path, stem: &str, key: &RsaKey) -> anyhow::Result<()> {
    let public =
        openssl::pkey::PKey::public_key_from_der(key.public_key_der())?.public_key_to_pem()?;
    write(dir, &format!("{stem}.pub.pem"), &String::from_utf8(public)?)
}

/// The shipped key table: every RSA key the repository's own cards, persons
/// and PKI ask for (collected by issuing them all), with its walks derived
/// afresh, on as many threads as the machine has cores.
fn shipped_keys(scenarios: &Path) -> anyhow::Result<String> {
    let pki = personalize::simulated_jpki()?;
    for application in CardApplication::ALL {
        application.ca_key();
        application.signing_key();
    }
    for (name, _) in sim_card::profile::BUILT_IN {
        let profile = CardProfile::built_in(name)?;
        personalize::issue(&profile, &pki)?;
        // `kazasu card --variant` puts a profile on any carrier that can
        // take it (a child's card on no smartphone: that one is refused).
        for variant in sim_card::variant::Variant::ALL {
            let _ = personalize::issue(&profile.clone().with_variant(variant), &pki);
        }
    }
    for person in sim_service::fixtures::built_in()? {
        personalize::issue(&person.card.profile, &pki)?;
        for phone in &person.phones {
            personalize::issue(&person.phone_profile(phone), &pki)?;
        }
    }
    for loaded in kazasu::scenario::load::load(&[scenarios.to_path_buf()])? {
        kazasu::scenario::card::issue_card(&loaded.scenario).map_err(anyhow::Error::msg)?;
    }
    sim_service::tls::server_tls("kazasu-service", &["localhost".to_owned()])?;

    let keys = RsaKey::derived_in_process();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let walks = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((seed, label)) = keys.get(next.fetch_add(1, Ordering::Relaxed)) {
                        done.push(shipped::derive_walks(seed, label).map(|w| {
                            eprintln!("{seed} {label}: {} {}", w.p, w.q);
                            ((seed.clone(), label.clone()), w)
                        }));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(shipped::render(&walks))
}

fn write(dir: &Path, name: &str, contents: &str) -> anyhow::Result<()> {
    write_bytes(dir, name, contents.as_bytes())
}

fn write_bytes(dir: &Path, name: &str, contents: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

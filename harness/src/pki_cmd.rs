//! `kazasu pki`: the simulated JPKI's certificates and keys as PEM files, for
//! a service or a client that must trust them, and the simulated issuer of
//! the 券面 applications' signatures, for a client that verifies the card's
//! own records (the text application's integrity record, the surface
//! application's signed data, the CV certificates in EF 0004), and the keys
//! a verifier holds of the card-level answers (the root of GET DATA `00F8`'s
//! chain; the common application's INTERNAL AUTHENTICATE key).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use openssl::x509::X509;
use sim_card::formats::objects::issuer_cv_certificate;
use sim_card::keys::RsaKey;
use sim_card::personalize;
use sim_card::pki::Purpose;
use sim_card::pki::card_issuer::{self, CardApplication};
use sim_card::profile::CardProfile;

#[derive(Args)]
pub struct PkiArgs {
    /// The folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Also write this profile's certificates (auth and sign) and public keys.
    #[arg(long)]
    profile: Option<String>,
}

pub fn run(args: PkiArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let pki = personalize::simulated_jpki()?;
    for (purpose, stem) in [
        (Purpose::UserAuthentication, "jpki-auth-ca"),
        (Purpose::DigitalSignature, "jpki-sign-ca"),
    ] {
        write(
            &args.out,
            &format!("{stem}.pem"),
            pki.ca_certificate_pem(purpose),
        )?;
        write(
            &args.out,
            &format!("{stem}.key.pem"),
            &pki.ca_private_key_pem(purpose)?,
        )?;
    }
    // The key that certifies each 券面 application's EF 0004: as a PEM public
    // key for OpenSSL, and as a self-signed CV certificate in the card's own
    // encoding (`7F21`), for a client that keeps a table of issuer keys.
    for application in CardApplication::ALL {
        let stem = format!("{}-ca", application.slug());
        write_public_key(&args.out, &stem, &application.ca_key())?;
        write_bytes(
            &args.out,
            &format!("{stem}.cvc"),
            &issuer_cv_certificate(application),
        )?;
    }
    // Not on the card, as on real cards: a verifier holds them.
    write_public_key(&args.out, "card-root", &card_issuer::card_root_key())?;
    write_public_key(
        &args.out,
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
            write(
                &args.out,
                &format!("{stem}-{kind}.pem"),
                &String::from_utf8(pem)?,
            )?;
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

fn write(dir: &Path, name: &str, contents: &str) -> anyhow::Result<()> {
    write_bytes(dir, name, contents.as_bytes())
}

fn write_bytes(dir: &Path, name: &str, contents: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

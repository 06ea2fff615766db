//! `kazasu pki`: the files a service or a verifying client takes, each the
//! public half of the key the simulated card or PKI really uses.

use std::process::Command;

use openssl::pkey::PKey;
use sim_card::keys::RsaKey;
use sim_card::pki::card_issuer::{self, CardApplication};

fn public_der_of(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let pem = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    PKey::public_key_from_pem(&pem)
        .unwrap_or_else(|e| panic!("{name}: not a public key: {e}"))
        .public_key_to_der()
        .unwrap()
}

#[test]
fn the_exported_keys_are_the_ones_the_card_signs_with() {
    let dir = std::env::temp_dir().join(format!("kazasu-pki-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .args(["pki", "--out"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let expected: Vec<(String, RsaKey)> = CardApplication::ALL
        .into_iter()
        .map(|a| (format!("{}-ca.pub.pem", a.slug()), a.ca_key()))
        .chain([
            ("card-root.pub.pem".into(), card_issuer::card_root_key()),
            (
                "common-ap-authentication.pub.pem".into(),
                card_issuer::common_ap_authentication_key(),
            ),
        ])
        .collect();
    for (name, key) in expected {
        assert_eq!(public_der_of(&dir, &name), key.public_key_der(), "{name}");
    }
    for name in ["jpki-auth-ca.pem", "jpki-sign-ca.pem"] {
        assert!(dir.join(name).exists(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

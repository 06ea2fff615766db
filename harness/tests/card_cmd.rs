//! `kazasu card`'s options that act before a card reaches vpcd: the profile
//! list and the variant/Face ID checks. None of these touches pcscd.

use std::process::Command;

fn kazasu_card(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kazasu"))
        .arg("card")
        .args(args)
        // An unused port: were a check to let the card start, it would fail
        // to connect instead of inserting a card into someone's pcscd.
        .args(["--vpcd", "127.0.0.1:9"])
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn list_profiles_shows_every_built_in_with_its_variant() {
    let (ok, text) = kazasu_card(&["--list-profiles"]);
    assert!(ok, "{text}");
    for (name, variant) in [
        ("default", "physical-contact"),
        ("contactless", "physical-contactless"),
        ("expired-card-body", "physical-contact"),
        ("auth-revoked", "physical-contact"),
        ("android", "android"),
        ("iphone", "iphone"),
        ("iphone-wallet-closed", "iphone"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} is listed:\n{text}"));
        assert_eq!(line.split_whitespace().nth(1), Some(variant), "{line}");
    }
    // The card matrix's cards are built-in profiles too, listed once.
    assert_eq!(text.lines().count(), sim_card::profile::built_ins().len());
    for card in sim_card::card_matrix::card_matrix() {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(card.name)),
            "{} is listed:\n{text}",
            card.name
        );
    }
}

#[test]
fn face_id_is_for_an_iphone_only() {
    let (ok, text) = kazasu_card(&["--face-id"]);
    assert!(!ok);
    assert!(text.contains("--face-id is for an iPhone"), "{text}");
    assert!(text.contains("--variant iphone"), "{text}");
    let (ok, text) = kazasu_card(&["--profile", "android", "--face-id"]);
    assert!(!ok);
    assert!(text.contains("this card is android"), "{text}");
}

#[test]
fn an_unknown_variant_names_the_known_ones() {
    let (ok, text) = kazasu_card(&["--variant", "ipad"]);
    assert!(!ok);
    assert!(
        text.contains("physical-contact, physical-contactless, android, iphone"),
        "{text}"
    );
}

#[test]
fn a_variant_too_young_for_a_phone_is_refused() {
    // The infant of `no-photo` cannot have a smartphone certificate.
    let (ok, text) = kazasu_card(&["--profile", "no-photo", "--variant", "iphone"]);
    assert!(!ok);
    assert!(text.contains("variant: smartphone certificates"), "{text}");
}

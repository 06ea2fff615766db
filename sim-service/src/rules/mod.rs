//! The rules the service applies (docs/service-rules.md), one module per rule.
//!
//! Each rule is a pure function: the certificate bytes, dates and instants it
//! judges are passed in, `now` included, and nothing is read from the system
//! clock, the disk or the network. Bad input is an error value, never a panic.
//! Dates are Japanese calendar days ([`crate::clock::JST`]): a rule that speaks of
//! "the day after expiry" or "the end of the month" means it in Japan.

pub mod certificate;
pub mod challenge;
pub mod expiry;
pub mod maintenance;
pub mod preschool;
pub mod registration;
pub mod retention;
pub mod signature;
pub mod smartphone;

mod calendar;

/// What the patient holds to the reader. The rules differ by carrier: only the
/// physical card has a grace period after its certificate expires, and only the
/// physical card can register for health-insurance use at the facility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// The plastic My Number card.
    PhysicalCard,
    /// An Android phone with the card added (the JPKI applet in its secure element).
    Android,
    /// An iPhone with the card in Wallet.
    Iphone,
}

impl Carrier {
    /// A smartphone carrying the card, rather than the card itself.
    pub fn is_smartphone(self) -> bool {
        matches!(self, Carrier::Android | Carrier::Iphone)
    }
}

/// How the patient's identity is checked (docs/service-rules.md, Identity check: methods A to D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityCheck {
    /// A: the staff compares the card's photo with the patient. No PIN, so no
    /// signature: the app only reads the user-authentication certificate.
    Visual,
    /// B: the patient types the card's 4-digit PIN; the card signs the challenge.
    Pin,
    /// C: Face ID / Touch ID on the patient's iPhone; the phone signs.
    Iphone,
    /// D: the patient types the phone's 4-digit PIN; the phone signs.
    Android,
}

impl IdentityCheck {
    /// What is held to the reader with this method.
    pub fn carrier(self) -> Carrier {
        match self {
            IdentityCheck::Visual | IdentityCheck::Pin => Carrier::PhysicalCard,
            IdentityCheck::Iphone => Carrier::Iphone,
            IdentityCheck::Android => Carrier::Android,
        }
    }

    /// The signature over the service's challenge this method produces, if any.
    pub fn signature_scheme(self) -> Option<signature::SignatureScheme> {
        use signature::SignatureScheme;
        match self {
            IdentityCheck::Visual => None,
            IdentityCheck::Pin | IdentityCheck::Android => Some(SignatureScheme::RsaPkcs1Sha256),
            IdentityCheck::Iphone => Some(SignatureScheme::EcdsaP256Sha256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signature::SignatureScheme;
    use time::macros::{date, datetime};

    #[test]
    fn methods_map_to_carriers_and_schemes() {
        assert_eq!(IdentityCheck::Visual.carrier(), Carrier::PhysicalCard);
        assert_eq!(IdentityCheck::Pin.carrier(), Carrier::PhysicalCard);
        assert_eq!(IdentityCheck::Iphone.carrier(), Carrier::Iphone);
        assert_eq!(IdentityCheck::Android.carrier(), Carrier::Android);
        assert_eq!(IdentityCheck::Visual.signature_scheme(), None);
        assert_eq!(
            IdentityCheck::Pin.signature_scheme(),
            Some(SignatureScheme::RsaPkcs1Sha256)
        );
        assert_eq!(
            IdentityCheck::Android.signature_scheme(),
            Some(SignatureScheme::RsaPkcs1Sha256)
        );
        assert_eq!(
            IdentityCheck::Iphone.signature_scheme(),
            Some(SignatureScheme::EcdsaP256Sha256)
        );
        assert!(!Carrier::PhysicalCard.is_smartphone());
        assert!(Carrier::Android.is_smartphone() && Carrier::Iphone.is_smartphone());
    }

    /// The rules composed the way a confirmation uses them: certificate, then
    /// standing, then the challenge, then its signature. One card, one iPhone.
    #[test]
    fn a_confirmation_through_the_rules() {
        use certificate::TrustAnchors;
        use challenge::{Challenge, ChallengeId};
        use expiry::CertificateStanding;
        use sim_card::keys::{EcKey, RsaKey};
        use sim_card::persona::Sex;
        use sim_card::pki::{CertificateHolder, Jpki, Purpose};

        let pki = Jpki::derive("kazasu-service-flow-test", "JPKI-TEST").unwrap();
        let anchors =
            TrustAnchors::from_ders([pki.ca_certificate_der(Purpose::UserAuthentication)]).unwrap();
        let holder = CertificateHolder {
            name: "資格　花子".into(),
            address: "東京都千代田区".into(),
            birth_date: date!(1990 - 06 - 15),
            sex: Sex::Female,
            municipality_code: "131016".into(),
            city: None,
        };
        let card_key = RsaKey::derive("kazasu-service-flow-card", "jpki-auth");
        let phone_key = EcKey::derive("kazasu-service-flow-phone", "jpki-auth-iphone");
        let expiry = date!(2026 - 02 - 10);
        let card_der = pki
            .issue_auth_certificate(&holder, &card_key, date!(2021 - 02 - 11), expiry)
            .unwrap();
        let phone_der = pki
            .issue_auth_certificate(&holder, &phone_key, date!(2025 - 06 - 24), expiry)
            .unwrap();

        // A month after expiry: the card is in its grace period, the phone is not.
        let now = datetime!(2026-03-10 10:00 +09:00);
        let card = anchors.verify(&card_der).unwrap();
        let phone = anchors.verify(&phone_der).unwrap();
        assert!(matches!(
            expiry::standing(IdentityCheck::Pin.carrier(), &card.validity, now),
            CertificateStanding::InGracePeriod { .. }
        ));
        assert!(
            !expiry::standing(IdentityCheck::Iphone.carrier(), &phone.validity, now)
                .allows_confirmation()
        );

        // The card signs a challenge the way a client drives it.
        let mut challenge = Challenge::with_parts(
            ChallengeId::new("flow"),
            [0x42; challenge::NONCE_LEN],
            now,
            challenge::DEFAULT_LIFETIME,
        );
        challenge::redeem(Some(&mut challenge), now).unwrap();
        let digest = openssl::sha::sha256(&challenge.nonce);
        let digest_info = [
            &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ][..],
            &digest,
        ]
        .concat();
        let card_signature = card_key.sign_digest_info(&digest_info).unwrap();
        assert_eq!(
            signature::verify_for_method(
                IdentityCheck::Pin,
                &card.spki_der,
                &challenge.nonce,
                &card_signature
            ),
            Ok(())
        );
        // The phone's signature is good too; only its certificate's age stops it.
        let phone_signature = phone_key.sign_digest(&digest).unwrap();
        assert_eq!(
            signature::verify_for_method(
                IdentityCheck::Iphone,
                &phone.spki_der,
                &challenge.nonce,
                &phone_signature
            ),
            Ok(())
        );
        // The challenge is spent.
        assert_eq!(
            challenge::redeem(Some(&mut challenge), now),
            Err(challenge::ChallengeError::AlreadyUsed)
        );
    }
}

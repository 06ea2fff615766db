//! The rules the service applies (service spec §5), one module per rule.
//!
//! Each rule is a pure function: the certificate bytes, dates and instants it
//! judges are passed in, `now` included, and nothing is read from the system
//! clock, the disk or the network. Bad input is an error value, never a panic.
//! Dates are Japanese calendar days ([`crate::clock::JST`]): a rule that speaks of
//! "the day after expiry" or "the end of the month" means it in Japan.

pub mod certificate;
pub mod challenge;
pub mod signature;

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

/// How the patient's identity is checked (service spec §3, methods A to D).
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
}

//! One confirmation, from the certificate a client read off the card to the
//! outcome it is shown: the rules applied in the order the service applies
//! them (method fits the carrier, revocation, the smartphone rules, expiry and
//! grace, registration, lookup). Pure: the caller brings the clock's reading, the trust anchors, the
//! person the certificate belongs to and whether the challenge was redeemed.

use openssl::sha::sha256;
use time::OffsetDateTime;

use crate::caches::VerifiedCertificate;
use crate::codes::{self, ResultCode};
use crate::fixtures::InsuredPerson;
use crate::lookup::{LookupOptions, qualification_result};
use crate::model::{ConfirmationOutcome, ResponseContext};
use crate::rules::certificate::{CertificateError, CertificateSummary};
use crate::rules::expiry::{self, CertificateStanding};
use crate::rules::signature::{self, SignatureError};
use crate::rules::smartphone::{self, PhoneStanding};
use crate::rules::{Carrier, IdentityCheck};

/// What the client sent, decoded.
#[derive(Debug, Clone)]
pub struct Presented<'a> {
    pub method: IdentityCheck,
    /// The user-authentication certificate, DER.
    pub certificate: &'a [u8],
    /// The signature over the challenge (PIN, iPhone and Android methods).
    pub signature: Option<&'a [u8]>,
    /// The redeemed challenge's nonce (PIN, iPhone and Android methods).
    pub challenge: Option<&'a [u8]>,
}

/// What the service knows of the certificate's holder.
#[derive(Debug, Clone)]
pub struct CardHolder {
    pub person: InsuredPerson,
    /// Which of the person's phones the certificate is on (`None`: the
    /// physical card).
    pub phone: Option<String>,
    pub revoked: bool,
    /// Registered for health-insurance use, by the fixture or since.
    pub registered: bool,
}

/// Why a presentation is refused before any result: the client sent
/// something that cannot be a card's answer. The HTTP edge answers 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the certificate is not a JPKI user-authentication certificate: {0}")]
    Certificate(CertificateError),
    #[error("the signature over the challenge does not verify: {0}")]
    Signature(SignatureError),
    #[error("the {method:?} method needs a signature over a challenge")]
    MissingSignature { method: IdentityCheck },
    #[error("the certificate belongs to a {held:?} but the method is {method:?}")]
    MethodMismatch {
        method: IdentityCheck,
        held: Carrier,
    },
}

/// The outcome and what the history keeps of it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub outcome: ConfirmationOutcome,
    /// The person the certificate belongs to, if the service knows it.
    pub person: Option<String>,
    /// Whether qualification information was shown (only those are listed
    /// in the facility's result search).
    pub shows_qualification: bool,
}

/// The SHA-256 of a certificate, hex: how the service finds its holder.
pub fn fingerprint(certificate: &[u8]) -> String {
    hex::encode(sha256(certificate))
}

/// The challenge signature of a certificate already verified against the
/// trust anchors (see [`crate::caches::VerifiedCertificates`]), checked with
/// the certified key as decoded then.
pub fn authenticate_verified(
    presented: &Presented<'_>,
    verified: &VerifiedCertificate,
) -> Result<(), Rejection> {
    check_signature(presented, |challenge, signature| {
        signature::verify_key_for_method(presented.method, &verified.key, challenge, signature)
    })
}

/// The challenge signature, for the methods that sign one.
fn check_signature(
    presented: &Presented<'_>,
    verify: impl FnOnce(&[u8], &[u8]) -> Result<(), SignatureError>,
) -> Result<(), Rejection> {
    if presented.method.signature_scheme().is_some() {
        let (Some(signature), Some(challenge)) = (presented.signature, presented.challenge) else {
            return Err(Rejection::MissingSignature {
                method: presented.method,
            });
        };
        verify(challenge, signature).map_err(Rejection::Signature)?;
    }
    Ok(())
}

/// Decides the outcome for an authenticated certificate.
pub fn decide(
    presented: &Presented<'_>,
    summary: &CertificateSummary,
    holder: Option<&CardHolder>,
    context: &ResponseContext,
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let refused = |code: &ResultCode, person: Option<&CardHolder>| Decision {
        outcome: ConfirmationOutcome::refused(context, code, None)
            .expect("refusal codes are refusals"),
        person: person.map(|h| h.person.id.clone()),
        shows_qualification: false,
    };
    // A valid JPKI certificate the service has no record of: nobody has
    // registered this card for health-insurance use.
    let Some(holder) = holder else {
        return Ok(refused(&codes::NOT_REGISTERED, None));
    };
    let Some(held) = holder.person.carrier(holder.phone.as_deref()) else {
        // The certificate names a phone the person's record does not have:
        // as good as no record.
        return Ok(refused(&codes::NOT_REGISTERED, None));
    };
    if presented.method.carrier() != held {
        return Err(Rejection::MethodMismatch {
            method: presented.method,
            held,
        });
    }
    if holder.revoked {
        return Ok(refused(&codes::CERTIFICATE_REVOKED, Some(holder)));
    }
    if let Some(phone) = &holder.phone {
        let phones = holder.person.added_phones();
        if let PhoneStanding::Superseded { .. } = smartphone::standing(&phones, phone) {
            return Ok(refused(&codes::PHONE_CERTIFICATE_REPLACED, Some(holder)));
        }
        let born = holder.person.persona().birth_date;
        if !smartphone::old_enough(born, summary.validity.start_date()) {
            return Ok(refused(&codes::PHONE_HOLDER_UNDER_15, Some(holder)));
        }
    }
    let standing = expiry::standing(held, &summary.validity, now);
    let notice = match standing {
        CertificateStanding::NotYetValid { .. } => {
            return Ok(refused(&codes::CERTIFICATE_UNTRUSTED, Some(holder)));
        }
        CertificateStanding::Expired { .. } if held == Carrier::PhysicalCard => {
            return Ok(refused(&codes::CERTIFICATE_EXPIRED, Some(holder)));
        }
        CertificateStanding::Expired { .. } => {
            return Ok(refused(&codes::PHONE_CERTIFICATE_EXPIRED, Some(holder)));
        }
        CertificateStanding::InGracePeriod { .. } => Some(&codes::GRACE_PERIOD_ONLY),
        CertificateStanding::ValidExpiringSoon { .. } => Some(&codes::EXPIRY_WARNING),
        CertificateStanding::Valid => None,
    };
    if !holder.registered {
        return Ok(refused(&codes::NOT_REGISTERED, Some(holder)));
    }
    let options = LookupOptions {
        facility: Some(&context.medical_institution_code),
        ..LookupOptions::default()
    };
    let (validity, results) = qualification_result(
        &holder.person,
        context.qualification_confirmation_date,
        &options,
    );
    let shows_qualification = !results.is_empty();
    let mut outcome = ConfirmationOutcome::confirmed(context, validity, results, None);
    if let Some(notice) = notice {
        outcome = outcome
            .with_notice(notice)
            .expect("notice codes are notices");
    }
    Ok(Decision {
        outcome,
        person: Some(holder.person.id.clone()),
        shows_qualification,
    })
}

/// A confirmation by insurance card number (OQSsiquc01req, ReferenceClassification
/// 2): no card, so no certificate rules; the qualifications matching the number
/// and birth date decide. Nobody matching gives validity 4 (該当資格なし).
pub fn by_insurance_card(
    persons: &[InsuredPerson],
    search: &crate::model::QualificationConfirmSearchInfo,
    context: &ResponseContext,
) -> Decision {
    let holder = persons.iter().find(|p| {
        p.qualifications
            .iter()
            .any(|r| crate::lookup::matches_search(p, r, search))
    });
    let (validity, results) = match holder {
        Some(person) => {
            let options = LookupOptions {
                search: Some(search),
                facility: Some(&context.medical_institution_code),
                ..LookupOptions::default()
            };
            qualification_result(person, context.qualification_confirmation_date, &options)
        }
        None => (
            crate::model::QualificationValidity::NoQualification,
            Vec::new(),
        ),
    };
    let shows_qualification = !results.is_empty();
    Decision {
        outcome: ConfirmationOutcome::confirmed(context, validity, results, Some(search.clone())),
        person: holder.map(|p| p.id.clone()),
        shows_qualification,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, Phone};
    use crate::model::{CharacterCodeIdentifier, MedicalInstitutionCode, ReferenceClassification};
    use crate::rules::certificate::TrustAnchors;
    use sim_card::keys::{EcKey, RsaKey};
    use sim_card::pki::{CertificateHolder, Jpki, Purpose};
    use sim_card::profile::CertificateSetting;
    use sim_card::variant::Variant;
    use time::macros::{date, datetime};

    fn context(now: OffsetDateTime) -> ResponseContext {
        let jst = now.to_offset(crate::clock::JST);
        ResponseContext {
            process_execution_time: time::PrimitiveDateTime::new(jst.date(), jst.time()),
            qualification_confirmation_date: jst.date(),
            medical_institution_code: MedicalInstitutionCode::new("0110000001").unwrap(),
            arbitrary_file_identifier: None,
            reference_classification: ReferenceClassification::MyNumberCard,
            character_code_identifier: CharacterCodeIdentifier::Utf8,
        }
    }

    /// Decides for a certificate of `person` valid from `from`, held on `phone`.
    fn decide_for(
        person: &InsuredPerson,
        phone: Option<&str>,
        method: IdentityCheck,
        from: time::Date,
        now: OffsetDateTime,
    ) -> Decision {
        let pki = Jpki::derive("kazasu-confirmation-test", "JPKI-TEST").unwrap();
        let anchors =
            TrustAnchors::from_ders([pki.ca_certificate_der(Purpose::UserAuthentication)]).unwrap();
        let holder = CertificateHolder::from(person.persona());
        let der = if method == IdentityCheck::Iphone {
            let key = EcKey::derive("kazasu-confirmation-test", "phone");
            pki.issue_auth_certificate(&holder, &key, from, date!(2030 - 01 - 01))
        } else {
            let key = RsaKey::derive("kazasu-confirmation-test", "card");
            pki.issue_auth_certificate(&holder, &key, from, date!(2030 - 01 - 01))
        }
        .unwrap();
        let summary = anchors.verify(&der).unwrap();
        let presented = Presented {
            method,
            certificate: &der,
            signature: None,
            challenge: None,
        };
        let holder = CardHolder {
            person: person.clone(),
            phone: phone.map(str::to_string),
            revoked: false,
            registered: true,
        };
        decide(&presented, &summary, Some(&holder), &context(now), now).unwrap()
    }

    fn code(decision: &Decision) -> Option<&str> {
        decision
            .outcome
            .message_body
            .processing_result_code
            .as_deref()
    }

    #[test]
    fn only_the_newest_phone_confirms() {
        let persons = fixtures::built_in().unwrap();
        let person = fixtures::find(&persons, "phone-replaced").unwrap();
        let now = datetime!(2026-12-01 10:00 +09:00);
        let old = decide_for(
            person,
            Some("old-android"),
            IdentityCheck::Android,
            date!(2025 - 02 - 01),
            now,
        );
        assert_eq!(code(&old), Some(codes::PHONE_CERTIFICATE_REPLACED.code));
        assert!(!old.shows_qualification);
        let new = decide_for(
            person,
            Some("new-iphone"),
            IdentityCheck::Iphone,
            date!(2026 - 10 - 15),
            now,
        );
        assert_eq!(code(&new), None);
        assert!(new.shows_qualification);
        // The physical card is not affected by the phones.
        let card = decide_for(person, None, IdentityCheck::Pin, date!(2024 - 09 - 01), now);
        assert!(card.shows_qualification);
    }

    fn android_phone(id: &str, added: time::Date) -> Phone {
        Phone {
            id: id.into(),
            variant: Variant::Android,
            added,
            certificate: CertificateSetting {
                not_before: added,
                not_after: date!(2030 - 01 - 01),
                revoked: false,
            },
            pin: None,
            authentication_window_seconds: None,
            iphone_key: None,
        }
    }

    #[test]
    fn a_smartphone_certificate_of_a_holder_under_15_is_refused() {
        let persons = fixtures::built_in().unwrap();
        // Born 2014-05-05. A phone no card would accept, as a record the
        // service might still hold.
        let mut junior = fixtures::find(&persons, "junior").unwrap().clone();
        junior.phones = vec![android_phone("at-12", date!(2026 - 06 - 01))];
        let refused = decide_for(
            &junior,
            Some("at-12"),
            IdentityCheck::Android,
            date!(2026 - 06 - 01),
            datetime!(2026-12-01 10:00 +09:00),
        );
        assert_eq!(code(&refused), Some(codes::PHONE_HOLDER_UNDER_15.code));
        // The physical card is never refused for age.
        let card = decide_for(
            &junior,
            None,
            IdentityCheck::Pin,
            date!(2024 - 06 - 01),
            datetime!(2026-12-01 10:00 +09:00),
        );
        assert!(card.shows_qualification);
        // Issued on the 15th birthday: allowed.
        junior.phones = vec![android_phone("at-15", date!(2029 - 05 - 05))];
        let allowed = decide_for(
            &junior,
            Some("at-15"),
            IdentityCheck::Android,
            date!(2029 - 05 - 05),
            datetime!(2029-06-01 10:00 +09:00),
        );
        assert!(allowed.shows_qualification, "{:?}", allowed.outcome);
    }

    #[test]
    fn a_phone_the_record_does_not_have_is_no_record() {
        let persons = fixtures::built_in().unwrap();
        let person = fixtures::find(&persons, "android").unwrap();
        let decision = decide_for(
            person,
            Some("gone"),
            IdentityCheck::Android,
            date!(2025 - 04 - 01),
            datetime!(2026-12-01 10:00 +09:00),
        );
        assert_eq!(code(&decision), Some(codes::NOT_REGISTERED.code));
        assert_eq!(decision.person, None);
    }
}

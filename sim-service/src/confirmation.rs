//! One confirmation, from the certificate a client read off the card to the
//! outcome it is shown: the rules applied in the order the service applies
//! them. Pure: the caller brings the clock's reading, the trust anchors, the
//! person the certificate belongs to and whether the challenge was redeemed.

use openssl::sha::sha256;
use time::OffsetDateTime;

use crate::codes::{self, ResultCode};
use crate::fixtures::{CardKind, InsuredPerson};
use crate::lookup::{LookupOptions, qualification_result};
use crate::model::{ConfirmationOutcome, ResponseContext};
use crate::rules::certificate::{CertificateError, CertificateSummary, TrustAnchors};
use crate::rules::expiry::{self, CertificateStanding};
use crate::rules::signature::{self, SignatureError};
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
pub struct Holder {
    pub person: InsuredPerson,
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

/// Checks the certificate and the signature: everything that does not need
/// to know whose card it is.
pub fn authenticate(
    presented: &Presented<'_>,
    anchors: &TrustAnchors,
) -> Result<CertificateSummary, Rejection> {
    let summary = anchors
        .verify(presented.certificate)
        .map_err(Rejection::Certificate)?;
    if presented.method.signature_scheme().is_some() {
        let (Some(signature), Some(challenge)) = (presented.signature, presented.challenge) else {
            return Err(Rejection::MissingSignature {
                method: presented.method,
            });
        };
        signature::verify_for_method(presented.method, &summary.spki_der, challenge, signature)
            .map_err(Rejection::Signature)?;
    }
    Ok(summary)
}

fn carrier_of(kind: CardKind) -> Carrier {
    match kind {
        CardKind::Physical => Carrier::PhysicalCard,
        CardKind::Android => Carrier::Android,
        CardKind::Iphone => Carrier::Iphone,
    }
}

/// Decides the outcome for an authenticated certificate.
pub fn decide(
    presented: &Presented<'_>,
    summary: &CertificateSummary,
    holder: Option<&Holder>,
    context: &ResponseContext,
    now: OffsetDateTime,
) -> Result<Decision, Rejection> {
    let refused = |code: &ResultCode, person: Option<&Holder>| Decision {
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
    let held = carrier_of(holder.person.kind);
    if presented.method.carrier() != held {
        return Err(Rejection::MethodMismatch {
            method: presented.method,
            held,
        });
    }
    if holder.revoked {
        return Ok(refused(&codes::CERTIFICATE_REVOKED, Some(holder)));
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

//! What a confirmation would otherwise recompute on every request: the
//! verification of a certificate against the trust anchors, and the parsing
//! of a person's fixture.
//!
//! Both are pure functions of bytes the service already holds, so caching
//! them changes no answer:
//!
//! - A certificate is identified by its bytes: [`VerifiedCertificates`] keys
//!   the result of [`TrustAnchors::verify`] by the SHA-256 of the DER, and
//!   keeps the certified key decoded for the challenge signature. The trust
//!   anchors are fixed when the service starts, so a verification stays true
//!   for the service's life. What depends on the clock or the store (expiry
//!   and grace, revocation, the holder, registration) is *not* cached: the
//!   rules check it on every request.
//! - A person is the TOML text the store holds: [`ParsedPersons`] keeps the
//!   parsed fixture with the text it came from, and parses again when the
//!   store's text differs (fixtures reloaded, a phone added). Whoever changes
//!   a fixture, the cache cannot serve a stale one.
//!
//! Both caches are bounded: past [`CAPACITY`] entries they are emptied and
//! refilled, which costs one parse per certificate or person and keeps a
//! client sending endless distinct certificates from growing the service's
//! memory. Refused certificates are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use openssl::pkey::{PKey, Public};

use crate::fixtures::InsuredPerson;
use crate::rules::certificate::{CertificateError, CertificateSummary, TrustAnchors};
use crate::store::StoredPerson;

/// The caches a service keeps, shared by its handlers.
pub struct Caches {
    pub certificates: VerifiedCertificates,
    pub persons: ParsedPersons,
}

impl Caches {
    pub fn new(anchors: Arc<TrustAnchors>) -> Self {
        Caches {
            certificates: VerifiedCertificates::new(anchors),
            persons: ParsedPersons::default(),
        }
    }
}

/// Entries each cache holds at most (the built-in fixtures have a few dozen
/// certificates).
pub const CAPACITY: usize = 16_384;

/// A certificate a trusted CA issued (name and signature checked), as the
/// confirmation rules use it.
pub struct VerifiedCertificate {
    pub summary: CertificateSummary,
    /// The certified key, decoded once from `summary.spki_der`.
    pub key: PKey<Public>,
}

/// Certificate verifications by the certificate's SHA-256.
pub struct VerifiedCertificates {
    anchors: Arc<TrustAnchors>,
    entries: Mutex<HashMap<[u8; 32], Arc<VerifiedCertificate>>>,
}

/// A mutex whose holder panicked still guards a whole map: entries are
/// inserted whole or not at all.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl VerifiedCertificates {
    pub fn new(anchors: Arc<TrustAnchors>) -> Self {
        VerifiedCertificates {
            anchors,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// [`TrustAnchors::verify`] of `der`, whose SHA-256 is `sha256`, from
    /// the cache when this certificate was verified before.
    pub fn verify(
        &self,
        der: &[u8],
        sha256: [u8; 32],
    ) -> Result<Arc<VerifiedCertificate>, CertificateError> {
        if let Some(hit) = lock(&self.entries).get(&sha256) {
            return Ok(hit.clone());
        }
        // Verified outside the lock: two requests racing with a new
        // certificate both verify it, and both get the same answer.
        let summary = self.anchors.verify(der)?;
        let key = PKey::public_key_from_der(&summary.spki_der)
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        let verified = Arc::new(VerifiedCertificate { summary, key });
        let mut entries = lock(&self.entries);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(sha256, verified.clone());
        Ok(verified)
    }
}

/// Parsed person fixtures by person id, each with the TOML it was parsed from.
#[derive(Default)]
pub struct ParsedPersons {
    entries: Mutex<HashMap<String, (String, Arc<InsuredPerson>)>>,
}

impl ParsedPersons {
    /// The person `stored` holds, parsed: from the cache when the stored TOML
    /// is the text parsed before.
    pub fn get(&self, stored: &StoredPerson) -> Result<Arc<InsuredPerson>, toml::de::Error> {
        if let Some((text, person)) = lock(&self.entries).get(&stored.id)
            && *text == stored.fixture
        {
            return Ok(person.clone());
        }
        let person: Arc<InsuredPerson> = Arc::new(toml::from_str(&stored.fixture)?);
        let mut entries = lock(&self.entries);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(stored.id.clone(), (stored.fixture.clone(), person.clone()));
        Ok(person)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors_and_card() -> (Arc<TrustAnchors>, Vec<u8>) {
        let pki = sim_card::personalize::simulated_jpki().unwrap();
        let anchors = TrustAnchors::from_ders([
            pki.ca_certificate_der(sim_card::pki::Purpose::UserAuthentication)
        ])
        .unwrap();
        let persons = crate::fixtures::built_in().unwrap();
        let person = crate::fixtures::find(&persons, "valid").unwrap();
        let der = sim_card::personalize::auth_certificate(&person.card.profile, &pki).unwrap();
        (Arc::new(anchors), der)
    }

    #[test]
    fn a_verified_certificate_is_served_again_and_a_refused_one_is_refused_again() {
        let (anchors, der) = anchors_and_card();
        let cache = VerifiedCertificates::new(anchors.clone());
        let sha = openssl::sha::sha256(&der);
        let first = cache.verify(&der, sha).unwrap();
        let again = cache.verify(&der, sha).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.summary, anchors.verify(&der).unwrap());
        assert_eq!(
            first.key.public_key_to_der().unwrap(),
            first.summary.spki_der
        );

        // The card's EF with filler after the certificate: refused, every time.
        let mut padded = der.clone();
        padded.push(0xFF);
        let padded_sha = openssl::sha::sha256(&padded);
        for _ in 0..2 {
            assert_eq!(
                cache.verify(&padded, padded_sha).err(),
                Some(CertificateError::TrailingData { extra: 1 })
            );
        }
    }

    #[test]
    fn a_changed_fixture_is_parsed_again() {
        let persons = crate::fixtures::built_in().unwrap();
        let person = crate::fixtures::find(&persons, "valid").unwrap();
        let mut stored = StoredPerson {
            id: person.id.clone(),
            fixture: toml::to_string(person).unwrap(),
        };
        let cache = ParsedPersons::default();
        let first = cache.get(&stored).unwrap();
        assert_eq!(*first, *person);
        assert!(Arc::ptr_eq(&first, &cache.get(&stored).unwrap()));

        let mut changed = person.clone();
        changed.registered = !changed.registered;
        stored.fixture = toml::to_string(&changed).unwrap();
        let second = cache.get(&stored).unwrap();
        assert_eq!(*second, changed);

        stored.fixture = "not = [toml".into();
        assert!(cache.get(&stored).is_err());
    }
}

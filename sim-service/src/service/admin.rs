//! What a tester changes about the service (its clock, its fixtures, a
//! person's phones, its state) and what the console reads of it.

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Service, ServiceError};
use crate::clock::ClockMode;
use crate::fixtures::{self, InsuredPerson, Phone};
use crate::rules::smartphone::{self, PhoneStanding};
use crate::store::{CertificateEntry, Confirmation, ConfirmationTrace, StoredPerson};

/// The service clock as the admin API, the console and the lab show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Clock)]
pub struct ClockView {
    /// RFC 3339, UTC.
    pub now: String,
    /// RFC 3339, Japan.
    pub now_jst: String,
    /// `wall`, `ticking` (set, and running from there) or `frozen`.
    pub mode: &'static str,
}

/// A phone to add a person's card to (スマートフォンへの追加).
#[derive(Debug, Clone)]
pub struct PhoneToAdd {
    pub variant: sim_card::variant::Variant,
    /// The smartphone certificate's first and last day.
    pub not_before: time::Date,
    pub not_after: time::Date,
    /// The phone's id; `<variant>-<n>` when `None`.
    pub id: Option<String>,
    /// The day the card was added; the service's date (JST) when `None`.
    pub added: Option<time::Date>,
    /// Android: the smartphone PIN (the card's auth PIN when `None`).
    pub pin: Option<String>,
}

/// A phone added.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AddedPhone {
    pub person: String,
    pub phone: String,
    pub variant: &'static str,
    pub added: String,
    /// SHA-256 of the new smartphone certificate.
    pub fingerprint: String,
    /// The person's other phones, whose certificates are no longer valid.
    pub replaced: Vec<String>,
}

/// A certificate revoked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevokedCertificate {
    pub person: String,
    /// The phone whose certificate it was; absent for the physical card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Service {
    pub fn clock_view(&self) -> ClockView {
        let format = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        ClockView {
            now: format(self.clock.now()),
            now_jst: format(self.clock.now_jst()),
            mode: match self.clock.mode() {
                ClockMode::Wall => "wall",
                ClockMode::Offset(_) => "ticking",
                ClockMode::Frozen(_) => "frozen",
            },
        }
    }

    /// Sets the clock to `at`: standing still there, or ticking from it.
    pub fn set_clock(&self, at: OffsetDateTime, frozen: bool) -> ClockView {
        if frozen {
            self.clock.freeze(at);
        } else {
            self.clock.set(at);
        }
        self.clock_view()
    }

    pub fn advance_clock(&self, by: time::Duration) -> Result<ClockView, ServiceError> {
        self.clock
            .advance(by)
            .map_err(|e| ServiceError::InvalidTime(e.to_string()))?;
        Ok(self.clock_view())
    }

    /// Back to wall time.
    pub fn reset_clock(&self) -> ClockView {
        self.clock.reset();
        self.clock_view()
    }

    /// Issues every person's card and phones (deterministically, as `kazasu
    /// card` would) and stores the persons with the fingerprints of all
    /// their certificates, replacing what was there. Slow-ish (a key
    /// derivation per new card).
    pub fn install_fixtures(&self, persons: &[InsuredPerson]) -> Result<(), ServiceError> {
        let pki = sim_card::personalize::simulated_jpki().map_err(ServiceError::internal)?;
        let (stored, certificates) = fixtures::rows(persons, &pki).map_err(|e| match e {
            fixtures::RowsError::Issue { .. } => ServiceError::InvalidFixtures(e.to_string()),
            fixtures::RowsError::Encode { .. } => ServiceError::internal(e),
        })?;
        self.install_fixture_rows(&stored, &certificates)
    }

    /// Stores rows made by [`fixtures::rows`] (made once, installed in many
    /// services: the scenario runner's way).
    pub fn install_fixture_rows(
        &self,
        persons: &[StoredPerson],
        certificates: &[CertificateEntry],
    ) -> Result<(), ServiceError> {
        Ok(self.store.replace_fixtures(persons, certificates)?)
    }

    /// Replaces the fixtures with a TOML document's; answers the ids.
    pub fn replace_fixtures(&self, toml: &str, source: &str) -> Result<Vec<String>, ServiceError> {
        let persons = fixtures::parse(toml, source)
            .map_err(|e| ServiceError::InvalidFixtures(e.to_string()))?;
        // Replacing every person with none is what an empty upload (a
        // forgotten `--data @file`, an empty form) would do: refused, so a
        // slip cannot wipe the fixtures. `POST /admin/v1/reset` clears state.
        if persons.is_empty() {
            return Err(ServiceError::InvalidFixtures(format!(
                "{source}: no [[person]] in it; the fixtures were left as they are"
            )));
        }
        self.install_fixtures(&persons)?;
        self.fixture_ids()
    }

    /// The ids of the persons installed.
    pub fn fixture_ids(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self.store.persons()?.into_iter().map(|p| p.id).collect())
    }

    /// The persons installed, parsed.
    pub fn fixture_persons(&self) -> Result<Vec<InsuredPerson>, ServiceError> {
        self.store
            .persons()?
            .into_iter()
            .map(|stored| {
                // The parse error would quote the fixture (names, numbers):
                // the log gets the person's id only.
                toml::from_str(&stored.fixture).map_err(|_| {
                    ServiceError::internal(format!("stored fixture {} does not parse", stored.id))
                })
            })
            .collect()
    }

    /// Forgets challenges, history and registrations; keeps fixtures, clock
    /// and faults.
    pub fn reset_state(&self) -> Result<(), ServiceError> {
        Ok(self.store.reset_state()?)
    }

    /// Adds the person's card to a new phone: the new phone's certificate is
    /// valid from now on, the older phones' are not (one phone per person).
    pub fn add_phone(&self, person_id: &str, new: PhoneToAdd) -> Result<AddedPhone, ServiceError> {
        let added = new.added.unwrap_or_else(|| self.clock.now_jst().date());
        let stored = self
            .store
            .person(person_id)?
            .ok_or_else(|| ServiceError::UnknownPerson(person_id.to_string()))?;
        let mut person: InsuredPerson = toml::from_str(&stored.fixture)
            .map_err(|e| ServiceError::internal(format!("stored fixture {person_id}: {e}")))?;
        let id = new.id.unwrap_or_else(|| {
            (1..)
                .map(|n| format!("{}-{n}", new.variant.name()))
                .find(|id| person.phone(id).is_none())
                .unwrap_or_default()
        });
        let phone = Phone {
            id: id.clone(),
            variant: new.variant,
            added,
            certificate: sim_card::profile::CertificateSetting {
                not_before: new.not_before,
                not_after: new.not_after,
                revoked: false,
            },
            pin: new.pin,
            authentication_window_seconds: None,
            iphone_key: None,
        };
        person
            .add_phone(phone)
            .map_err(|e| ServiceError::InvalidPhone(e.to_string()))?;
        let phone = person.phone(&id).expect("just added");
        let pki = sim_card::personalize::simulated_jpki().map_err(ServiceError::internal)?;
        let certificate =
            sim_card::personalize::auth_certificate(&person.phone_profile(phone), &pki)
                .map_err(|e| ServiceError::InvalidPhone(e.to_string()))?;
        let fingerprint = crate::confirmation::fingerprint(&certificate);
        let entry = CertificateEntry {
            fingerprint: fingerprint.clone(),
            person: person.id.clone(),
            kind: phone.variant.name().to_string(),
            phone: Some(id.clone()),
            revoked: false,
        };
        let phones = person.added_phones();
        let replaced = person
            .phones
            .iter()
            .filter(|p| {
                matches!(
                    smartphone::standing(&phones, &p.id),
                    PhoneStanding::Superseded { .. }
                )
            })
            .map(|p| p.id.clone())
            .collect();
        let view = AddedPhone {
            person: person.id.clone(),
            phone: id,
            variant: phone.variant.name(),
            added: added.to_string(),
            fingerprint,
            replaced,
        };
        let stored = StoredPerson {
            id: person.id.clone(),
            fixture: toml::to_string(&person).map_err(ServiceError::internal)?,
        };
        if !self.store.add_certificate(&stored, &entry)? {
            return Err(ServiceError::UnknownPerson(person.id));
        }
        Ok(view)
    }

    /// Revokes the user-authentication certificate a person's card carries
    /// (the physical card's, or the phone `phone`'s), as the municipality
    /// does for a lost card, a move or a death: from now on a confirmation
    /// with it is refused `KZE101`. The fixture records it too, so the
    /// console and a fixtures download show the certificate revoked.
    pub fn revoke_certificate(
        &self,
        person_id: &str,
        phone: Option<&str>,
    ) -> Result<RevokedCertificate, ServiceError> {
        let stored = self
            .store
            .person(person_id)?
            .ok_or_else(|| ServiceError::UnknownPerson(person_id.to_string()))?;
        let mut person: InsuredPerson = toml::from_str(&stored.fixture)
            .map_err(|e| ServiceError::internal(format!("stored fixture {person_id}: {e}")))?;
        match phone {
            Some(id) => {
                let phone = person
                    .phones
                    .iter_mut()
                    .find(|p| p.id == id)
                    .ok_or_else(|| {
                        ServiceError::InvalidPhone(format!("{person_id} has no phone {id:?}"))
                    })?;
                phone.certificate.revoked = true;
            }
            None => {
                // A card named after a built-in profile is written out in
                // full: the name alone would lose the revocation.
                person.card.built_in = None;
                person.card.profile.certificates.auth.revoked = true;
            }
        }
        let stored = StoredPerson {
            id: person.id.clone(),
            fixture: toml::to_string(&person).map_err(ServiceError::internal)?,
        };
        if self.store.revoke_certificate(&stored, phone)? == 0 {
            return Err(ServiceError::InvalidPhone(format!(
                "the service holds no certificate of {person_id} on {}",
                phone.map_or("the physical card".to_string(), |id| format!(
                    "phone {id:?}"
                ))
            )));
        }
        Ok(RevokedCertificate {
            person: person.id,
            phone: phone.map(str::to_string),
        })
    }

    /// How many persons and confirmations the service holds.
    pub fn counts(&self) -> Result<(usize, i64), ServiceError> {
        Ok((
            self.store.persons()?.len(),
            self.store.confirmation_count()?,
        ))
    }

    /// The latest confirmations, newest first, with whether each has an
    /// HTTP and an APDU trace.
    pub fn latest_confirmations(
        &self,
        limit: u32,
    ) -> Result<Vec<(Confirmation, bool, bool)>, ServiceError> {
        Ok(self.store.latest_confirmations(limit)?)
    }

    /// One confirmation with its traces.
    pub fn confirmation_with_trace(
        &self,
        id: i64,
    ) -> Result<(Confirmation, ConfirmationTrace), ServiceError> {
        let confirmation = self
            .store
            .confirmation(id)?
            .ok_or(ServiceError::UnknownConfirmation(id))?;
        Ok((confirmation, self.store.confirmation_trace(id)?))
    }

    /// A recorded confirmation's answer as the XmlMsg the facility receives
    /// (`Accept: application/xml`, the folder's answer file): rendered from
    /// the outcome the history keeps, in the character code the facility
    /// asked in, Shift_JIS substitutions (●) included.
    pub fn confirmation_xml(&self, id: i64) -> Result<Vec<u8>, ServiceError> {
        let confirmation = self
            .store
            .confirmation(id)?
            .ok_or(ServiceError::UnknownConfirmation(id))?;
        let outcome: crate::model::ConfirmationOutcome =
            serde_json::from_value(confirmation.result)
                .map_err(|e| ServiceError::internal(format!("stored result {id}: {e}")))?;
        crate::xml::render(&outcome).map_err(ServiceError::internal)
    }

    /// Keeps the APDU trace the harness recorded for a confirmation
    /// (replacing an earlier one).
    pub fn record_apdu_trace(
        &self,
        id: i64,
        records: &serde_json::Value,
    ) -> Result<(), ServiceError> {
        if self.store.record_apdu_trace(id, records)? {
            Ok(())
        } else {
            Err(ServiceError::UnknownConfirmation(id))
        }
    }
}

//! The card of one scenario: the fixture person's card or phone, issued
//! once per process and copied for each scenario with its overrides (tries
//! left, Face ID, Wallet), and the in-process reader slot that can pull it
//! out at the Nth command.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use sim_card::card::Card;
use sim_card::personalize::{self, AUTH_PIN};
use sim_card::profile::CardProfile;
use sim_card::reader::SimulatedReader as CardReader;
use sim_card::trace::{SharedTrace, Traced};
use sim_card::transport::in_process::InProcessReader;
use sim_card::variant::Variant;
use sim_service::fixtures::InsuredPerson;

use super::format::{CardSetup, Scenario};
use super::persons;
use crate::client::{CardChannel, CardError};

/// The fixture person's card (or phone) as issued, with the scenario's
/// overrides; `None` when the reader is to stay empty.
///
/// Issued cards are kept per person and carrier for the process: issuing
/// signs two certificates and draws the card face, the same bytes every
/// time. Each scenario gets its own copy, so a PIN locked in one is not
/// locked in another.
pub fn issue_card(scenario: &Scenario) -> Result<Option<Card>, String> {
    if scenario.card.absent {
        return Ok(None);
    }
    static ISSUED: OnceLock<Mutex<std::collections::HashMap<String, Card>>> = OnceLock::new();
    let person_id = &scenario.card.person;
    let person = persons::find(scenario, person_id)?
        .ok_or_else(|| format!("card.person: no person {person_id:?}"))?;
    let held = held_card(&scenario.card, person)?;
    // A scenario's own person is issued for it alone: another scenario may
    // define a different person under the same id.
    let shared = !persons::is_own(scenario, person_id);
    let cache = ISSUED.get_or_init(Default::default);
    let cached = shared
        .then(|| {
            cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&held.key)
                .cloned()
        })
        .flatten();
    let mut card = match cached {
        Some(card) => card,
        None => {
            let card = match &held.profile {
                Some(profile) => {
                    personalize::issue(profile, persons::jpki()?)
                        .map_err(|e| format!("cannot issue {}: {e}", held.key))?
                        .card
                }
                None => {
                    let atr = held.variant.atr().bytes().map_err(|e| e.to_string())?;
                    Card::new(atr, Vec::new())
                }
            };
            if shared {
                cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(held.key.clone(), card.clone());
            }
            card
        }
    };
    if let Some(tries) = scenario.card.auth_tries_left
        && !card.set_pin_tries_left(AUTH_PIN, tries)
    {
        return Err("the card has no auth PIN to set tries on".into());
    }
    if let Some(seconds) = scenario.card.face_id_seconds_before_hold {
        let at = Instant::now()
            .checked_sub(std::time::Duration::from_secs(seconds))
            .ok_or("card.face_id_seconds_before_hold: further back than this machine's clock")?;
        if !card.authenticate_holder(at) {
            return Err(
                "card.face_id_seconds_before_hold: only an iPhone authenticates its holder".into(),
            );
        }
    }
    Ok(Some(card))
}

/// What a scenario's `[card]` holds to the reader, resolved against the
/// fixtures: a name for the cache, and the profile to issue.
struct HeldCard {
    key: String,
    /// `None`: a phone without the card (see [`phone_without_card`]).
    profile: Option<CardProfile>,
    variant: Variant,
}

/// The person's physical card (in the variant asked for), or one of their
/// phones: by id, or the newest of the variant asked for.
fn held_card(setup: &CardSetup, person: &InsuredPerson) -> Result<HeldCard, String> {
    let person_id = &setup.person;
    let phone = match (&setup.phone, setup.variant) {
        (Some(id), variant) => {
            let phone = person.phone(id).ok_or_else(|| {
                let ids: Vec<_> = person.phones.iter().map(|p| p.id.as_str()).collect();
                format!("card.phone: {person_id} has no phone {id:?} (phones: {ids:?})")
            })?;
            if variant.is_some_and(|v| v != phone.variant) {
                return Err(format!(
                    "card.variant: {person_id}'s phone {id:?} is an {}",
                    phone.variant
                ));
            }
            Some(phone)
        }
        (None, Some(variant)) if variant.is_smartphone() => {
            let newest = person
                .phones
                .iter()
                .enumerate()
                .filter(|(_, p)| p.variant == variant)
                .max_by_key(|(index, p)| (p.added, *index))
                .map(|(_, p)| p);
            match newest {
                Some(phone) => Some(phone),
                None => return phone_without_card(setup, variant),
            }
        }
        _ => None,
    };
    let (key, mut profile) = match phone {
        Some(phone) => (
            format!("{person_id}'s phone {}", phone.id),
            person.phone_profile(phone),
        ),
        None => {
            let variant = setup.variant.unwrap_or(person.card.profile.variant);
            (
                format!("{person_id}'s card ({variant})"),
                person.card.profile.with_variant(variant),
            )
        }
    };
    let iphone = profile.variant == Variant::Iphone;
    if setup.face_id_seconds_before_hold.is_some() && !iphone {
        return Err("card.face_id_seconds_before_hold: only for an iPhone".into());
    }
    if let Some(opened) = setup.wallet_opened {
        if !iphone {
            return Err("card.wallet_opened: only for an iPhone".into());
        }
        profile.phone.wallet_opened = opened;
    }
    if let Some(behaviour) = setup.behaviour {
        profile.behaviour = behaviour;
    }
    Ok(HeldCard {
        key: format!(
            "{key}, wallet opened {}, {:?}",
            profile.phone.wallet_opened, profile.behaviour
        ),
        variant: profile.variant,
        profile: Some(profile),
    })
}

/// A phone the person never added the card to (or could not: no smartphone
/// certificate is issued under 15): it answers as a phone, with no JPKI
/// applet at all, so a SELECT finds nothing (6A82).
fn phone_without_card(setup: &CardSetup, variant: Variant) -> Result<HeldCard, String> {
    if setup.face_id_seconds_before_hold.is_some() || setup.wallet_opened.is_some() {
        return Err(format!(
            "card: {} has no {variant} phone with the card to authenticate on or open in Wallet",
            setup.person
        ));
    }
    Ok(HeldCard {
        key: format!("an {variant} phone without the card"),
        profile: None,
        variant,
    })
}

/// The scenario's card behind its reader, traced, as the runner holds it.
pub type ScenarioCard = Traced<CardReader<Card>, SharedTrace>;

/// The in-process reader slot of one scenario: the card (or none), and the
/// moment it is pulled out.
pub struct SimulatedSlot {
    reader: Option<InProcessReader<ScenarioCard>>,
    removed_at_apdu: Option<usize>,
    sent: usize,
    removed: bool,
}

impl SimulatedSlot {
    pub fn new(card: Option<ScenarioCard>, removed_at_apdu: Option<usize>) -> Self {
        SimulatedSlot {
            reader: card.map(InProcessReader::new),
            removed_at_apdu,
            sent: 0,
            removed: false,
        }
    }

    /// The card's auth PIN tries left now (`None` without a card).
    pub fn auth_tries_left(&self) -> Option<u8> {
        self.reader
            .as_ref()
            .and_then(|r| r.card().card().card().pin_tries_left(AUTH_PIN))
    }
}

impl SimulatedSlot {
    /// The card itself, to change it between two checks (the lab's hands,
    /// the municipality): `None` without a card.
    pub fn card_mut(&mut self) -> Option<&mut Card> {
        self.reader
            .as_mut()
            .map(|r| r.card_mut().card_mut().card_mut())
    }

    /// Takes the card out of the slot.
    pub fn into_card(self) -> Option<ScenarioCard> {
        self.reader.map(InProcessReader::into_card)
    }
}

impl CardChannel for SimulatedSlot {
    fn connect(&mut self) -> Result<Vec<u8>, CardError> {
        match &mut self.reader {
            Some(reader) if !self.removed => Ok(reader.connect()),
            _ => Err(CardError::NoCard),
        }
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, CardError> {
        let reader = self.reader.as_mut().ok_or(CardError::NoCard)?;
        if self.removed {
            // Sent to a card that is gone: the trace keeps it (without an
            // answer), so `no_apdu_after_removal` can see it.
            reader.card_mut().record_unanswered(command, Instant::now());
            return Err(CardError::Removed);
        }
        self.sent += 1;
        if self.removed_at_apdu == Some(self.sent) {
            // Pulled out as the command goes: the card never sees it, and
            // loses power (the trace shows the unanswered command and the
            // power-off).
            self.removed = true;
            reader.card_mut().record_unanswered(command, Instant::now());
            reader.disconnect();
            return Err(CardError::Removed);
        }
        let response = reader
            .transmit(command)
            .map_err(|e| CardError::Reader(e.to_string()))?;
        if response.is_empty() {
            // The card left the field during the command (the reader has
            // already cut its power).
            self.removed = true;
            return Err(CardError::Removed);
        }
        Ok(response)
    }

    fn disconnect(&mut self) {
        if let Some(reader) = &mut self.reader
            && !self.removed
        {
            reader.disconnect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Method;
    use crate::scenario::conformance::Rule;

    fn setup(person: &str) -> CardSetup {
        CardSetup {
            person: person.into(),
            auth_tries_left: None,
            removed_at_apdu: None,
            absent: false,
            variant: None,
            phone: None,
            face_id_seconds_before_hold: None,
            wallet_opened: None,
            reader: Default::default(),
            behaviour: None,
        }
    }

    #[test]
    fn the_card_setup_picks_the_physical_card_or_a_phone() {
        let persons = crate::scenario::load::built_in_persons().unwrap();
        let held = |s: &CardSetup| {
            let person = sim_service::fixtures::find(persons, &s.person)
                .ok_or_else(|| format!("no fixture person {:?}", s.person))?;
            held_card(s, person)
        };
        // The physical card by default, or in the variant asked for.
        let card = held(&setup("phone-replaced")).unwrap();
        assert_eq!(card.profile.unwrap().variant, Variant::PhysicalContact);
        let contactless = held(&CardSetup {
            variant: Some(Variant::PhysicalContactless),
            ..setup("valid")
        })
        .unwrap();
        assert_eq!(contactless.variant, Variant::PhysicalContactless);
        // A phone by variant is the newest of that kind; by id, that one.
        let iphone = held(&CardSetup {
            variant: Some(Variant::Iphone),
            ..setup("phone-replaced")
        })
        .unwrap();
        assert!(iphone.key.contains("new-iphone"), "{}", iphone.key);
        let old = held(&CardSetup {
            phone: Some("old-android".into()),
            ..setup("phone-replaced")
        })
        .unwrap();
        assert_eq!(old.variant, Variant::Android);
        // Wallet closed.
        let closed = held(&CardSetup {
            variant: Some(Variant::Iphone),
            wallet_opened: Some(false),
            ..setup("iphone")
        })
        .unwrap();
        assert!(!closed.profile.unwrap().phone.wallet_opened);
        // A person without an iPhone holds one without the card.
        let without = held(&CardSetup {
            variant: Some(Variant::Iphone),
            ..setup("junior")
        })
        .unwrap();
        assert!(without.profile.is_none());
        // What does not fit is a setup error that says why.
        let errors = [
            (
                CardSetup {
                    phone: Some("nope".into()),
                    ..setup("phone-replaced")
                },
                "card.phone",
            ),
            (
                CardSetup {
                    phone: Some("old-android".into()),
                    variant: Some(Variant::Iphone),
                    ..setup("phone-replaced")
                },
                "card.variant",
            ),
            (
                CardSetup {
                    face_id_seconds_before_hold: Some(5),
                    ..setup("valid")
                },
                "only for an iPhone",
            ),
            (
                CardSetup {
                    wallet_opened: Some(false),
                    variant: Some(Variant::Android),
                    ..setup("android")
                },
                "only for an iPhone",
            ),
            (
                CardSetup {
                    variant: Some(Variant::Iphone),
                    face_id_seconds_before_hold: Some(5),
                    ..setup("junior")
                },
                "no iphone phone",
            ),
            (setup("nobody"), "no fixture person"),
        ];
        for (bad, expected) in errors {
            let error = held(&bad).err().unwrap();
            assert!(error.contains(expected), "{bad:?}: {error}");
        }
    }

    #[test]
    fn face_id_before_the_hold_opens_the_iphones_window() {
        let scenario = |seconds: u64| -> Scenario {
            let text = format!(
                "name = \"x\"\nrule = \"x\"\n[card]\nperson = \"iphone\"\nvariant = \"iphone\"\nface_id_seconds_before_hold = {seconds}\n[client]\nmethod = \"iphone\"\n[expect]\n"
            );
            toml::from_str(&text).unwrap()
        };
        let now = Instant::now();
        let fresh = issue_card(&scenario(5)).unwrap().unwrap();
        assert!(fresh.holder_authenticated(now));
        let stale = issue_card(&scenario(90)).unwrap().unwrap();
        assert!(!stale.holder_authenticated(now), "past the 60 s window");
    }

    #[test]
    fn a_card_leaving_the_field_is_a_removal_and_later_commands_are_caught() {
        use sim_card::reader::{Field, FlakyField, ReaderProfile};
        let persons = crate::scenario::load::built_in_persons().unwrap();
        let person = sim_service::fixtures::find(persons, "valid").unwrap();
        let pki = personalize::simulated_jpki().unwrap();
        let card = personalize::issue(&person.card.profile, &pki).unwrap().card;
        let profile = ReaderProfile {
            field: Field::Flaky(FlakyField {
                seed: 1,
                drop_percent: 100,
            }),
            ..ReaderProfile::default()
        };
        let trace = SharedTrace::default();
        let mut slot = SimulatedSlot::new(
            Some(Traced::new(CardReader::new(card, profile), trace.clone())),
            None,
        );
        slot.connect().unwrap();
        let select = hex::decode("00A4040C0AD392F000260100000001").unwrap();
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        let records = trace.lock().unwrap().clone();
        assert!(
            Rule::NoApduAfterRemoval
                .check(&records, Method::Pin, &[])
                .is_ok()
        );
        // A client that keeps sending is seen doing it.
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        assert_eq!(slot.connect(), Err(CardError::NoCard));
        let records = trace.lock().unwrap().clone();
        assert!(
            Rule::NoApduAfterRemoval
                .check(&records, Method::Pin, &[])
                .is_err()
        );
    }

    #[test]
    fn the_slot_removes_the_card_at_the_nth_apdu() {
        let persons = crate::scenario::load::built_in_persons().unwrap();
        let person = sim_service::fixtures::find(persons, "valid").unwrap();
        let pki = personalize::simulated_jpki().unwrap();
        let card = personalize::issue(&person.card.profile, &pki).unwrap().card;
        let trace = SharedTrace::default();
        let mut slot = SimulatedSlot::new(
            Some(Traced::new(
                CardReader::new(card, Default::default()),
                trace.clone(),
            )),
            Some(2),
        );
        slot.connect().unwrap();
        let select = hex::decode("00A4040C0AD392F000260100000001").unwrap();
        assert!(slot.transmit(&select).is_ok());
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        assert_eq!(slot.transmit(&select), Err(CardError::Removed));
        assert_eq!(slot.connect(), Err(CardError::NoCard));
        let records = trace.lock().unwrap();
        let apdus: Vec<_> = records
            .iter()
            .filter(|r| r.event == sim_card::trace::TraceEvent::Apdu)
            .collect();
        // One answered; the one pulled out and the one after have no answer.
        let answered: Vec<_> = apdus.iter().map(|r| r.sw.is_some()).collect();
        assert_eq!(answered, [true, false, false]);
        drop(records);
        let mut empty = SimulatedSlot::new(None, None);
        assert_eq!(empty.connect(), Err(CardError::NoCard));
    }
}

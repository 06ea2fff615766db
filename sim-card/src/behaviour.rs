//! The behaviours in which real My Number cards are known (or suspected) to
//! differ from one another, as options of the virtual card.
//!
//! Public clients of the card were written against different cards, and some
//! of them depend on what their author's card did. Where the public evidence
//! disagrees, or shows two kinds of card, the difference is an option here,
//! with the default the evidence favours; `docs/card-reference.md` cites the
//! evidence for each. A profile sets them under `[behaviour]`; a missing
//! table or field takes the default, so every existing profile keeps meaning
//! what it meant.
//!
//! Its own module, like [`crate::variant`], so that the card state machine
//! and the file formats read the options without depending on the TOML
//! profiles.

use serde::{Deserialize, Serialize};

/// How this card differs from other real cards (profile `[behaviour]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardBehaviour {
    /// What SELECT of the application that is already current does to the
    /// PINs verified in it.
    pub reselect: Reselect,
    /// The byte that fills each EF from the end of its content to the end of
    /// its allocation (`FF` on every filler seen on real cards).
    pub filler: u8,
    /// The allocation of the JPKI-AP's certificate EFs (0001, 0002, 000A,
    /// 000B), in bytes: what a client reading "until the card refuses" gets.
    /// Not public; 2048 holds a real 1573-byte certificate.
    pub certificate_allocation: u16,
    /// How the card writes BER lengths of 128 and more in the files it
    /// builds (the outer `FF 20 …` header of the text AP's attributes first).
    pub length_form: LengthForm,
    /// What an empty VERIFY (a retry-counter query) answers once the PIN was
    /// verified in the current session.
    pub verified_pin_query: VerifiedPinQuery,
}

impl Default for CardBehaviour {
    fn default() -> Self {
        CardBehaviour {
            reselect: Reselect::default(),
            filler: DEFAULT_FILLER,
            certificate_allocation: DEFAULT_CERTIFICATE_ALLOCATION,
            length_form: LengthForm::default(),
            verified_pin_query: VerifiedPinQuery::default(),
        }
    }
}

/// The filler byte of the default card.
pub const DEFAULT_FILLER: u8 = 0xFF;

/// The allocation of the certificate EFs on the default card.
pub const DEFAULT_CERTIFICATE_ALLOCATION: u16 = 2048;

impl CardBehaviour {
    /// Checks that the options describe a card that can exist.
    ///
    /// A certificate EF must hold the longest certificate the simulated PKI
    /// issues (below 2 KiB) and stay inside the 15-bit offset a READ BINARY
    /// can address.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_CERTIFICATE_ALLOCATION..=MAX_CERTIFICATE_ALLOCATION)
            .contains(&self.certificate_allocation)
        {
            return Err(format!(
                "behaviour.certificate_allocation: {MIN_CERTIFICATE_ALLOCATION} to \
                 {MAX_CERTIFICATE_ALLOCATION} bytes, not {}",
                self.certificate_allocation
            ));
        }
        Ok(())
    }
}

/// The smallest certificate allocation a profile may set: the simulated
/// PKI's certificates are all shorter.
pub const MIN_CERTIFICATE_ALLOCATION: u16 = 1800;
/// The largest: READ BINARY addresses offsets up to `7FFF`.
pub const MAX_CERTIFICATE_ALLOCATION: u16 = 0x7FFF;

/// What SELECT of the current application does to its security state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reselect {
    /// `keep` (default): the verified PINs stay; only selecting another
    /// application clears them. A client that selects the application again
    /// between VERIFY and COMPUTE DIGITAL SIGNATURE signs.
    #[default]
    Keep,
    /// `clear`: any SELECT by AID starts a new security context, the model
    /// OpenSC's JPKI logout is written against.
    Clear,
}

/// How the card writes a BER length of 128 bytes or more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LengthForm {
    /// `short-or-82` (default): one byte below 128, else `82 HH LL` even
    /// below 256, as every long length seen on real cards.
    #[default]
    #[serde(rename = "short-or-82")]
    ShortOr82,
    /// `always-82`: `82 HH LL` for every length of the outer file headers,
    /// even below 128 (`FF 20 82 00 65`).
    #[serde(rename = "always-82")]
    Always82,
    /// `shortest`: the shortest BER form, `81 LL` for 128 to 255.
    Shortest,
}

/// What an empty VERIFY answers for a PIN already verified in the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifiedPinQuery {
    /// `retries` (default): `63Cx`, the tries left, as before verifying.
    #[default]
    Retries,
    /// `ok`: `9000`, "already verified".
    Ok,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(default)]
        behaviour: CardBehaviour,
    }

    #[test]
    fn a_missing_table_or_field_takes_the_default() {
        let none: Holder = toml::from_str("").unwrap();
        assert_eq!(none.behaviour, CardBehaviour::default());
        let one: Holder = toml::from_str("[behaviour]\nreselect = \"clear\"\n").unwrap();
        assert_eq!(
            one.behaviour,
            CardBehaviour {
                reselect: Reselect::Clear,
                ..CardBehaviour::default()
            }
        );
    }

    #[test]
    fn every_option_is_written_in_kebab_case_and_round_trips() {
        let behaviour = CardBehaviour {
            reselect: Reselect::Clear,
            filler: 0x00,
            certificate_allocation: 4096,
            length_form: LengthForm::Always82,
            verified_pin_query: VerifiedPinQuery::Ok,
        };
        let text = toml::to_string(&behaviour).unwrap();
        for expected in [
            "reselect = \"clear\"",
            "filler = 0",
            "certificate_allocation = 4096",
            "length_form = \"always-82\"",
            "verified_pin_query = \"ok\"",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert_eq!(toml::from_str::<CardBehaviour>(&text).unwrap(), behaviour);
    }

    #[test]
    fn unknown_options_and_values_are_refused() {
        assert!(toml::from_str::<CardBehaviour>("reselct = \"keep\"").is_err());
        assert!(toml::from_str::<CardBehaviour>("reselect = \"forget\"").is_err());
        assert!(toml::from_str::<CardBehaviour>("length_form = \"81\"").is_err());
        let form = |text: &str| toml::from_str::<CardBehaviour>(text).map(|b| b.length_form);
        assert_eq!(
            form("length_form = \"short-or-82\""),
            Ok(LengthForm::ShortOr82)
        );
        assert_eq!(form("length_form = \"shortest\""), Ok(LengthForm::Shortest));
        assert!(toml::from_str::<CardBehaviour>("filler = 256").is_err());
    }

    #[test]
    fn a_certificate_allocation_must_hold_a_certificate() {
        CardBehaviour::default().validate().unwrap();
        for bad in [0, 1024, MIN_CERTIFICATE_ALLOCATION - 1, 0x8000] {
            let behaviour = CardBehaviour {
                certificate_allocation: bad,
                ..CardBehaviour::default()
            };
            let error = behaviour.validate().unwrap_err();
            assert!(error.contains("certificate_allocation"), "{error}");
        }
    }
}

//! The card matrix: named cards, one for each behaviour in which real My
//! Number cards differ (see [`crate::behaviour`]), for running a client's
//! suite against every kind of card it may meet (`kazasu run --card-matrix`).
//!
//! A client that passes on `default` but fails on another entry depends on
//! one card's quirk: it works on the cards its author had, and will fail at
//! a counter whose patient holds the other kind. Each entry changes exactly
//! one option from the default, so a failure names the quirk.
//!
//! This is the one list of them: each card is also a built-in card profile
//! of its name (the default profile with its behaviour, see
//! [`crate::profile::built_ins`]), so a card seen failing in the matrix can
//! be started alone (`kazasu card --profile reselect-clears`) or named in a
//! scenario's person.

use crate::behaviour::{
    CardBehaviour, LengthForm, MIN_CERTIFICATE_ALLOCATION, Reselect, VerifiedPinQuery,
};

/// One card of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixCard {
    /// A short name for reports and file names (`reselect-clears`).
    pub name: &'static str,
    /// How this card differs from the default, in one line.
    pub differs: &'static str,
    pub behaviour: CardBehaviour,
}

/// Every card of the matrix, `default` first.
pub fn card_matrix() -> Vec<MatrixCard> {
    let default = CardBehaviour::default();
    vec![
        MatrixCard {
            name: "default",
            differs: "the behaviour the public evidence favours",
            behaviour: default,
        },
        MatrixCard {
            name: "reselect-clears",
            differs: "SELECT of the current application clears its verified PINs",
            behaviour: CardBehaviour {
                reselect: Reselect::Clear,
                ..default
            },
        },
        MatrixCard {
            name: "zero-filler",
            differs: "EFs are filled with 00 after their content, not FF",
            behaviour: CardBehaviour {
                filler: 0x00,
                ..default
            },
        },
        MatrixCard {
            name: "small-certificate-efs",
            differs: "certificate EFs allocated at the smallest size that holds them",
            behaviour: CardBehaviour {
                certificate_allocation: MIN_CERTIFICATE_ALLOCATION,
                ..default
            },
        },
        MatrixCard {
            name: "always-82",
            differs: "file headers always carry a three-byte length (FF 20 82 00 LL)",
            behaviour: CardBehaviour {
                length_form: LengthForm::Always82,
                ..default
            },
        },
        MatrixCard {
            name: "shortest-lengths",
            differs: "lengths of 128 to 255 in the shortest BER form (81 LL)",
            behaviour: CardBehaviour {
                length_form: LengthForm::Shortest,
                ..default
            },
        },
        MatrixCard {
            name: "verified-query-ok",
            differs: "an empty VERIFY of a PIN verified in the session answers 9000",
            behaviour: CardBehaviour {
                verified_pin_query: VerifiedPinQuery::Ok,
                ..default
            },
        },
    ]
}

/// The matrix card called `name`.
pub fn matrix_card(name: &str) -> Option<MatrixCard> {
    card_matrix().into_iter().find(|card| card.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_card_differs_from_the_default_in_one_option_and_is_valid() {
        let matrix = card_matrix();
        assert_eq!(matrix[0].behaviour, CardBehaviour::default());
        let names: std::collections::HashSet<_> = matrix.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), matrix.len(), "names are unique");
        let d = CardBehaviour::default();
        for card in &matrix[1..] {
            let b = card.behaviour;
            let changed = [
                b.reselect != d.reselect,
                b.filler != d.filler,
                b.certificate_allocation != d.certificate_allocation,
                b.length_form != d.length_form,
                b.verified_pin_query != d.verified_pin_query,
            ];
            assert_eq!(
                changed.iter().filter(|c| **c).count(),
                1,
                "{} changes one option",
                card.name
            );
            assert_eq!(b.validate(), Ok(()), "{}", card.name);
        }
        assert_eq!(matrix_card("zero-filler").unwrap().behaviour.filler, 0);
        assert!(matrix_card("no-such-card").is_none());
    }
}

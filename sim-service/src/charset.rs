//! Which characters a facility receives: JIS levels, substitution and `●`.
//!
//! Insurers register names in a wide character set; the service holds what it
//! can and a facility set to Shift_JIS (CharacterCodeIdentifier 1) works in JIS
//! X 0208 levels 1 and 2 only. The manuals describe three outcomes:
//!
//! - a character the service cannot hold shows as `●` for every facility;
//! - a UTF-8 facility gets every held character as registered;
//! - a Shift_JIS facility gets level-3/4 kanji converted to a level-1/2
//!   equivalent where one exists (髙→高, 﨑→崎) and `●` where none does.
//!
//! What the simulator's service holds: JIS X 0208 (all rows), the NEC and IBM
//! extensions of Windows' Shift_JIS, and the BMP characters of JIS X 0213
//! (levels 3 and 4). Anything else, in particular characters outside the BMP
//! (𠮷, 𩸽) and control characters, becomes `●`. The official conversion
//! table is not public: [`substitutions.tsv`](charset/substitutions.tsv) is the
//! simulator's, kept as data.
//!
//! "In JIS X 0208 levels 1–2" is decided by encoding the character with
//! encoding_rs's Shift_JIS, which is the WHATWG encoding: it also encodes the
//! NEC special row 13 (①, Ⅰ, ㈱), the NEC-selected IBM extensions (rows 89–92)
//! and the IBM extensions (lead bytes FA–FC), which hold characters such as 髙
//! and 﨑 that are *not* JIS X 0208. So a character counts only when it
//! round-trips and its two-byte code lies in rows 1–8 or 16–84; single bytes
//! count when they are printable ASCII or half-width katakana (JIS X 0201).
//!
//! This module knows characters only: the facility's setting
//! (`model::CharacterCodeIdentifier`) chooses between [`as_held`] and
//! [`as_level_1_2`] (`CharacterCodeIdentifier::received_text`), so the model
//! depends on the character rules and not the reverse.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// What a facility sees in place of a character it cannot receive (U+25CF,
/// itself in JIS X 0208 row 2).
pub const BLACK_CIRCLE: char = '●';

const SUBSTITUTIONS: &str = include_str!("charset/substitutions.tsv");
const JIS_X_0213_ADDITIONS: &str = include_str!("charset/jisx0213_bmp_additions.txt");

/// The text a UTF-8 facility receives for `text`: every held character as
/// registered, `●` for the rest.
pub fn as_held(text: &str) -> String {
    text.chars().map(held_or_circle).collect()
}

/// The text a Shift_JIS facility receives for `text`: JIS X 0208 levels 1–2
/// as they are, a level-1/2 equivalent where the table has one, `●` for the
/// rest.
pub fn as_level_1_2(text: &str) -> String {
    text.chars().map(level_1_2_or_substitute).collect()
}

fn held_or_circle(c: char) -> char {
    if is_held(c) { c } else { BLACK_CIRCLE }
}

fn level_1_2_or_substitute(c: char) -> char {
    if is_jis_x_0208_level_1_2(c) {
        return c;
    }
    match substitutions().get(&c) {
        Some(Some(equivalent)) => *equivalent,
        _ => BLACK_CIRCLE,
    }
}

/// Whether the service can hold `c` at all (see the module documentation).
pub fn is_held(c: char) -> bool {
    if is_single_byte_jis(c) {
        return true;
    }
    if c.is_control() || u32::from(c) > 0xFFFF {
        return false;
    }
    shift_jis_code(c).is_some() || jis_x_0213_additions().contains(&c)
}

/// Whether `c` is in JIS X 0208 levels 1–2 (rows 1–8 and 16–84), printable
/// ASCII, or half-width katakana: what a Shift_JIS facility can receive.
pub fn is_jis_x_0208_level_1_2(c: char) -> bool {
    if is_single_byte_jis(c) {
        return true;
    }
    match shift_jis_code(c) {
        Some([lead, trail]) => {
            matches!(jis_x_0208_row(lead, trail), Some(row) if (1..=8).contains(&row) || (16..=84).contains(&row))
        }
        None => false,
    }
}

fn is_single_byte_jis(c: char) -> bool {
    matches!(c, ' '..='~' | '\t' | '\n' | '\r' | '\u{FF61}'..='\u{FF9F}')
}

/// The two-byte WHATWG Shift_JIS code of `c`, when it has one that decodes
/// back to `c`.
fn shift_jis_code(c: char) -> Option<[u8; 2]> {
    let mut buffer = [0u8; 4];
    let text = c.encode_utf8(&mut buffer);
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    if unmappable || bytes.len() != 2 {
        return None;
    }
    let (back, malformed) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&bytes);
    if malformed || back != *text {
        return None;
    }
    Some([bytes[0], bytes[1]])
}

/// The JIS X 0208 row (区, 1–94) of a Shift_JIS double-byte code, or `None`
/// for lead bytes outside the JIS X 0208 mapping (user-defined F0–F9, IBM
/// extensions FA–FC).
fn jis_x_0208_row(lead: u8, trail: u8) -> Option<u8> {
    let pair = match lead {
        0x81..=0x9F => lead - 0x81,
        0xE0..=0xEF => lead - 0xC1,
        _ => return None,
    };
    Some(pair * 2 + 1 + u8::from(trail >= 0x9F))
}

fn substitutions() -> &'static HashMap<char, Option<char>> {
    static TABLE: OnceLock<HashMap<char, Option<char>>> = OnceLock::new();
    TABLE.get_or_init(|| parse_substitutions(SUBSTITUTIONS))
}

fn jis_x_0213_additions() -> &'static HashSet<char> {
    static SET: OnceLock<HashSet<char>> = OnceLock::new();
    SET.get_or_init(|| {
        JIS_X_0213_ADDITIONS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .flat_map(str::chars)
            .collect()
    })
}

/// Parses the table: `U+XXXX<TAB>U+YYYY` or `U+XXXX<TAB>-`, then a comment.
/// A malformed line is skipped (the table is built in and tested whole).
fn parse_substitutions(text: &str) -> HashMap<char, Option<char>> {
    fn code_point(field: &str) -> Option<char> {
        let hex = field.trim().strip_prefix("U+")?;
        char::from_u32(u32::from_str_radix(hex, 16).ok()?)
    }
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let source = code_point(fields.next()?)?;
            let target = fields.next()?.trim();
            let target = if target == "-" {
                None
            } else {
                Some(code_point(target)?)
            };
            Some((source, target))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_table_maps_held_level_3_4_characters_to_level_1_2() {
        let table = substitutions();
        let lines = SUBSTITUTIONS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count();
        assert_eq!(table.len(), lines, "every line of the table parses");
        for (source, target) in table {
            assert!(is_held(*source), "{source} must be held");
            assert!(
                !is_jis_x_0208_level_1_2(*source),
                "{source} is already level 1-2"
            );
            if let Some(target) = target {
                assert!(
                    is_jis_x_0208_level_1_2(*target),
                    "{target} must be level 1-2"
                );
            }
        }
        assert!(jis_x_0213_additions().len() > 3000);
    }

    #[test]
    fn shift_jis_facilities_get_equivalents_or_circles() {
        assert_eq!(as_level_1_2("髙橋　一郎"), "高橋　一郎");
        assert_eq!(as_level_1_2("山﨑　德子"), "山崎　徳子");
        assert_eq!(as_level_1_2("濵田"), "浜田");
        assert_eq!(as_level_1_2("草彅　剛"), "草●　剛");
        // 邉 is level 2 already: kept.
        assert_eq!(as_level_1_2("渡邉"), "渡邉");
        // NEC row 13 and IBM extensions are not JIS X 0208 levels 1-2.
        assert_eq!(as_level_1_2("①"), "●");
        assert_eq!(as_level_1_2("ｼｶｸ ﾀﾛｳ"), "ｼｶｸ ﾀﾛｳ");
    }

    #[test]
    fn utf8_facilities_get_what_the_service_holds() {
        assert_eq!(as_held("髙﨑　德子"), "髙﨑　德子");
        assert_eq!(as_held("草彅　剛"), "草彅　剛");
        assert_eq!(as_held("①"), "①");
    }

    #[test]
    fn characters_the_service_cannot_hold_are_circles_for_everybody() {
        for received in [as_held, as_level_1_2] {
            // Outside the BMP (also outside JIS X 0213), an emoji, Hangul,
            // a control character.
            assert_eq!(received("𠮷田"), "●田");
            assert_eq!(received("𩸽"), "●");
            assert_eq!(received("😀"), "●");
            assert_eq!(received("한"), "●");
            assert_eq!(received("a\u{1}b"), "a●b");
        }
    }

    #[test]
    fn rows_of_known_codes() {
        // 亜 is 16-01 (889F), 腕 84-06 (EAA4), ① 13-01 (8740), 髙 is FBFC.
        assert_eq!(shift_jis_code('亜'), Some([0x88, 0x9F]));
        assert_eq!(jis_x_0208_row(0x88, 0x9F), Some(16));
        assert_eq!(jis_x_0208_row(0xEA, 0xA4), Some(84));
        assert_eq!(jis_x_0208_row(0x87, 0x40), Some(13));
        assert_eq!(shift_jis_code('髙'), Some([0xFB, 0xFC]));
        assert_eq!(jis_x_0208_row(0xFB, 0xFC), None);
        assert!(is_jis_x_0208_level_1_2('腕'));
        assert!(is_jis_x_0208_level_1_2('●'));
    }

    proptest! {
        #[test]
        fn shift_jis_output_always_encodes_cleanly(text in "\\PC{0,16}") {
            let out = as_level_1_2(&text);
            prop_assert_eq!(out.chars().count(), text.chars().count());
            prop_assert!(out.chars().all(is_jis_x_0208_level_1_2));
            let (_, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&out);
            prop_assert!(!unmappable);
            prop_assert_eq!(as_level_1_2(&out), out.clone());
        }

        #[test]
        fn utf8_output_is_idempotent(text in "\\PC{0,16}") {
            let out = as_held(&text);
            prop_assert_eq!(as_held(&out), out.clone());
        }
    }
}

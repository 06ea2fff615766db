//! Full-width to half-width kana, as the service writes フリガナ (NameKana).
//!
//! The service writes kana in half-width katakana with an ASCII space between
//! family and given name (`ｼｶｸ ﾀﾛｳ`), while a card holds full-width katakana
//! separated by U+3000 (`シカク　タロウ`). Half-width katakana has no voiced
//! letters, so ガ becomes two characters, ｶ and the half-width dakuten ﾞ. Small
//! letters without a half-width form (ヮ, ヵ, ヶ) become their full-size
//! half-width letter, as the manual notes the service's kana sometimes do.

/// Half-width forms of U+30A1 (ァ) through U+30F6 (ヶ), in code-point order.
const KATAKANA: [&str; 86] = [
    "ｧ", "ｱ", "ｨ", "ｲ", "ｩ", "ｳ", "ｪ", "ｴ", "ｫ", "ｵ", // ァ..オ
    "ｶ", "ｶﾞ", "ｷ", "ｷﾞ", "ｸ", "ｸﾞ", "ｹ", "ｹﾞ", "ｺ", "ｺﾞ", // カ..ゴ
    "ｻ", "ｻﾞ", "ｼ", "ｼﾞ", "ｽ", "ｽﾞ", "ｾ", "ｾﾞ", "ｿ", "ｿﾞ", // サ..ゾ
    "ﾀ", "ﾀﾞ", "ﾁ", "ﾁﾞ", "ｯ", "ﾂ", "ﾂﾞ", "ﾃ", "ﾃﾞ", "ﾄ", "ﾄﾞ", // タ..ド
    "ﾅ", "ﾆ", "ﾇ", "ﾈ", "ﾉ", // ナ..ノ
    "ﾊ", "ﾊﾞ", "ﾊﾟ", "ﾋ", "ﾋﾞ", "ﾋﾟ", "ﾌ", "ﾌﾞ", "ﾌﾟ", "ﾍ", "ﾍﾞ", "ﾍﾟ", "ﾎ", "ﾎﾞ", "ﾎﾟ", // ハ..ポ
    "ﾏ", "ﾐ", "ﾑ", "ﾒ", "ﾓ", // マ..モ
    "ｬ", "ﾔ", "ｭ", "ﾕ", "ｮ", "ﾖ", // ャ..ヨ
    "ﾗ", "ﾘ", "ﾙ", "ﾚ", "ﾛ", // ラ..ロ
    "ﾜ", "ﾜ", "ｲ", "ｴ", "ｦ", "ﾝ", // ヮ ワ ヰ ヱ ヲ ン
    "ｳﾞ", "ｶ", "ｹ", // ヴ ヵ ヶ
];

/// Converts kana to the service's half-width form.
///
/// Full-width katakana and hiragana become half-width katakana (voiced and
/// semi-voiced letters as two characters), the ideographic space an ASCII
/// space, full-width ASCII its ASCII form, and the long-vowel mark, middle dot
/// and Japanese punctuation their half-width forms. Anything else (kanji,
/// already half-width text) is kept, so the conversion is idempotent.
pub fn to_half_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_half_width(c, &mut out);
    }
    out
}

fn push_half_width(c: char, out: &mut String) {
    let code = u32::from(c);
    match c {
        // Hiragana ぁ..ゖ sit 0x60 below their katakana.
        '\u{3041}'..='\u{3096}' => match char::from_u32(code + 0x60) {
            Some(katakana) => push_half_width(katakana, out),
            None => out.push(c),
        },
        '\u{30A1}'..='\u{30F6}' => out.push_str(KATAKANA[(code - 0x30A1) as usize]),
        'ヷ' => out.push_str("ﾜﾞ"),
        'ヺ' => out.push_str("ｦﾞ"),
        'ヸ' => out.push_str("ｲﾞ"),
        'ヹ' => out.push_str("ｴﾞ"),
        'ー' => out.push('ｰ'),
        '・' => out.push('･'),
        '\u{3000}' => out.push(' '),
        '、' => out.push('､'),
        '。' => out.push('｡'),
        '「' => out.push('｢'),
        '」' => out.push('｣'),
        // Spacing and combining (semi-)voiced sound marks.
        '゛' | '\u{3099}' => out.push('ﾞ'),
        '゜' | '\u{309A}' => out.push('ﾟ'),
        // Full-width ASCII ！..～.
        '\u{FF01}'..='\u{FF5E}' => out.push(char::from_u32(code - 0xFEE0).unwrap_or(c)),
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_become_half_width_with_an_ascii_space() {
        assert_eq!(to_half_width("シカク　タロウ"), "ｼｶｸ ﾀﾛｳ");
        assert_eq!(to_half_width("タシカク　タロウ"), "ﾀｼｶｸ ﾀﾛｳ");
    }

    #[test]
    fn voiced_letters_become_two_characters() {
        assert_eq!(to_half_width("ガッコウ"), "ｶﾞｯｺｳ");
        assert_eq!(to_half_width("パピプペポ"), "ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ");
        assert_eq!(to_half_width("ヂヅ"), "ﾁﾞﾂﾞ");
        assert_eq!(to_half_width("ヴァイオリン"), "ｳﾞｧｲｵﾘﾝ");
        // A decomposed ガ (カ + U+3099) gives the same result.
        assert_eq!(to_half_width("カ\u{3099}"), "ｶﾞ");
    }

    #[test]
    fn the_rest_of_the_table() {
        assert_eq!(to_half_width("ヨシダ　ユーコ"), "ﾖｼﾀﾞ ﾕｰｺ");
        assert_eq!(to_half_width("ヲンヰヱヮヵヶ"), "ｦﾝｲｴﾜｶｹ");
        assert_eq!(to_half_width("しかく　はなこ"), "ｼｶｸ ﾊﾅｺ");
        assert_eq!(to_half_width("ＡＢＣ１２３"), "ABC123");
        assert_eq!(to_half_width("ジョン・スミス"), "ｼﾞｮﾝ･ｽﾐｽ");
        assert_eq!(to_half_width("資格"), "資格");
        // Each table entry is the letter's own: spot-check both ends and the middle.
        assert_eq!(KATAKANA[0], "ｧ");
        assert_eq!(KATAKANA[(u32::from('ナ') - 0x30A1) as usize], "ﾅ");
        assert_eq!(KATAKANA[(u32::from('ポ') - 0x30A1) as usize], "ﾎﾟ");
        assert_eq!(KATAKANA[(u32::from('ン') - 0x30A1) as usize], "ﾝ");
    }

    proptest! {
        #[test]
        fn idempotent_and_leaves_no_full_width_katakana(text in "[\\u{3000}-\\u{30FF}\\u{FF01}-\\u{FF9F}a-z ]{0,24}") {
            let once = to_half_width(&text);
            prop_assert_eq!(to_half_width(&once), once.clone());
            let full_width = |c: char| ('ァ'..='ヶ').contains(&c) || c == '　';
            prop_assert!(!once.chars().any(full_width), "{}", once);
        }
    }
}

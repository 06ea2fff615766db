//! The outcome as the app's result screen (資格確認結果) shows it: banners,
//! then one table per qualification, with the screen's labels and its way of
//! writing dates, sexes and ratios.

use std::fmt::Write;

use serde_json::Value;

use super::flow::results;
use super::{ClientOutcome, OutcomeKind};

/// The screen for `outcome`, as text.
pub fn screen(outcome: &ClientOutcome) -> String {
    let mut out = String::new();
    let title = match outcome.outcome {
        OutcomeKind::Confirmed | OutcomeKind::Registered => "資格確認結果",
        _ => "資格確認できませんでした",
    };
    let _ = writeln!(out, "{title} [{}]", kind_name(outcome.outcome));
    for banner in &outcome.banners {
        let _ = writeln!(out, "  ■ {banner}");
    }
    let _ = writeln!(out, "  {}", outcome.message);
    if let Some(left) = outcome.tries_left {
        let _ = writeln!(out, "  残り回数: {left}");
    }
    if let Some(code) = &outcome.processing_result_code {
        let _ = writeln!(out, "  処理結果コード: {code}");
    }
    let Some(result) = &outcome.result else {
        return out;
    };
    if results(result).is_empty() {
        return out;
    }
    if let Some(day) = result["MessageHeader"]["QualificationConfirmationDate"].as_str() {
        let _ = writeln!(out, "資格情報 確認日：{}", date(day));
    }
    for (i, r) in results(result).iter().enumerate() {
        if i > 0 {
            let _ = writeln!(out, "――");
        }
        qualification(&mut out, r);
    }
    out
}

fn kind_name(kind: OutcomeKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn row(out: &mut String, label: &str, value: Option<String>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        let _ = writeln!(out, "  {label:\u{3000}<7} {value}");
    }
}

fn field(r: &Value, key: &str) -> Option<String> {
    r.get(key).and_then(Value::as_str).map(str::to_string)
}

fn qualification(out: &mut String, r: &Value) {
    row(out, "保険者番号", field(r, "InsurerNumber"));
    row(out, "保険者名", field(r, "InsurerName"));
    row(out, "記号", field(r, "InsuredCardSymbol"));
    row(out, "番号", field(r, "InsuredIdentificationNumber"));
    row(out, "枝番", field(r, "InsuredBranchNumber"));
    row(out, "フリガナ", field(r, "NameKana"));
    row(out, "氏名", field(r, "Name"));
    row(out, "生年月日", field(r, "Birthdate").map(|d| date(&d)));
    row(out, "性別", field(r, "Sex1").map(|s| sex(&s)));
    row(
        out,
        "証区分",
        field(r, "InsuredCardClassification").map(|c| classification(&c)),
    );
    row(
        out,
        "有効開始日",
        field(r, "InsuredCardValidDate").map(|d| date(&d)),
    );
    row(
        out,
        "有効終了日",
        field(r, "InsuredCardExpirationDate").map(|d| date(&d)),
    );
    row(
        out,
        "資格取得年月日",
        field(r, "QualificationDate").map(|d| date(&d)),
    );
    row(
        out,
        "負担割合",
        field(r, "InsuredPartialContributionRatio").map(|p| ratio(&p)),
    );
    row(
        out,
        "本人・家族の別",
        field(r, "PersonalFamilyClassification").map(|p| match p.as_str() {
            "1" => "本人".to_string(),
            "2" => "家族".to_string(),
            _ => p,
        }),
    );
    row(out, "被保険者氏名", field(r, "InsuredName"));
    row(out, "照会番号", field(r, "ReferenceNumber"));
    if ["NameOfOther", "NameOfOtherKana", "Sex2"]
        .iter()
        .any(|k| r.get(*k).is_some())
    {
        let _ = writeln!(out, "  裏面記載情報");
        row(out, "氏名カナ", field(r, "NameOfOtherKana"));
        row(out, "氏名", field(r, "NameOfOther"));
        row(out, "性別", field(r, "Sex2").map(|s| sex(&s)));
    }
    if let Some(e) = r.get("ElderlyRecipientCertificateInfo") {
        let _ = writeln!(out, "  高齢受給者証");
        row(
            out,
            "有効開始日",
            field(e, "ElderlyRecipientValidStartDate").map(|d| date(&d)),
        );
        row(
            out,
            "有効終了日",
            field(e, "ElderlyRecipientValidEndDate").map(|d| date(&d)),
        );
        row(
            out,
            "負担割合",
            field(e, "ElderlyRecipientContributionRatio").map(|p| ratio(&p)),
        );
    }
}

/// `20261201` → `2026年12月01日`; anything else as it came.
fn date(text: &str) -> String {
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}年{}月{}日", &text[..4], &text[4..6], &text[6..])
    } else {
        text.to_string()
    }
}

fn sex(code: &str) -> String {
    match code {
        "1" => "男".into(),
        "2" => "女".into(),
        "3" => "未設定".into(),
        other => other.into(),
    }
}

fn classification(code: &str) -> String {
    let name = match code {
        "01" => "被保険者証（一般）",
        "05" => "特別療養費支給対象者",
        "07" => "自衛官診療証",
        "A1" => "医療扶助",
        _ => return code.into(),
    };
    name.into()
}

/// `010` (a 3-digit percent) → `1割`.
fn ratio(percent: &str) -> String {
    match percent.parse::<u32>() {
        Ok(p) if p % 10 == 0 => format!("{}割", p / 10),
        Ok(p) => format!("{p}%"),
        Err(_) => percent.into(),
    }
}

/// The result search's list (資格確認結果検索), newest first as the app
/// lists it: 資格確認日時, 氏名, 資格確認結果, and the count.
pub fn history_list(history: &Value) -> String {
    let mut out = String::new();
    let entries = history["confirmations"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let _ = writeln!(out, "総件数：{}件", entries.len());
    if entries.is_empty() {
        return out;
    }
    let _ = writeln!(out, "資格確認日時\t氏名\t資格確認結果");
    for entry in entries.iter().rev() {
        let when = entry["confirmed_at"]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| {
                let t = t.to_offset(sim_service::clock::JST);
                format!(
                    "{}年{:02}月{:02}日 {:02}時{:02}分",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute()
                )
            })
            .unwrap_or_default();
        let name = entry["name"].as_str().unwrap_or("");
        let result = match entry["validity"].as_str() {
            Some("1" | "6") => "資格有効",
            Some("2" | "3") => "資格無効",
            Some("5") => "複数該当",
            Some(other) => other,
            None => "",
        };
        let _ = writeln!(out, "{when}\t{name}\t{result}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_values() {
        assert_eq!(date("20261201"), "2026年12月01日");
        assert_eq!(date("bad"), "bad");
        assert_eq!(ratio("010"), "1割");
        assert_eq!(ratio("030"), "3割");
        assert_eq!(sex("2"), "女");
        assert_eq!(classification("01"), "被保険者証（一般）");
    }
}

//! The code lists (コード値) of the service's file interface.
//!
//! Each list is an enum whose variants carry the official code value (what the
//! XML and JSON carry), the official Japanese label (what a screen shows) and a
//! kebab-case name. Fixtures may write either the code (`"07"`) or the name
//! (`"self-defense-forces"`), so that a fixture reads well without hiding the
//! value a client will see; output is always the code.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Defines a code list. `retired` lists codes that once existed and are now
/// refused with an explanation rather than as unknown.
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $list:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $name:literal, $label:literal; )+
        }
        $( retired { $( $rcode:literal => $rwhy:literal ),+ $(,)? } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $list {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $list {
            /// Every value, in code order.
            pub const ALL: &'static [$list] = &[$($list::$variant),+];

            /// The official code value, as the XML carries it.
            pub fn code(self) -> &'static str {
                match self { $($list::$variant => $code,)+ }
            }

            /// The official Japanese label, as a screen shows it.
            pub fn label(self) -> &'static str {
                match self { $($list::$variant => $label,)+ }
            }

            /// The kebab-case name fixtures may use instead of the code.
            pub fn name(self) -> &'static str {
                match self { $($list::$variant => $name,)+ }
            }

            /// The value of an official code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($list::$variant),)+
                    _ => None,
                }
            }

            /// The value of a code or a kebab-case name, or why there is none.
            pub fn parse(text: &str) -> Result<Self, String> {
                if let Some(value) = Self::from_code(text) {
                    return Ok(value);
                }
                if let Some(value) = Self::ALL.iter().find(|v| v.name() == text) {
                    return Ok(*value);
                }
                $( $(
                    if text == $rcode {
                        return Err(format!(
                            "{} {:?} is retired: {}", stringify!($list), text, $rwhy
                        ));
                    }
                )+ )?
                let expected: Vec<String> = Self::ALL
                    .iter()
                    .map(|v| format!("{} ({})", v.code(), v.name()))
                    .collect();
                Err(format!(
                    "unknown {} {:?}: expected one of {}",
                    stringify!($list), text, expected.join(", ")
                ))
            }
        }

        impl fmt::Display for $list {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl Serialize for $list {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $list {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

code_list! {
    /// 資格有効性: what the result list says about the person's qualification.
    ///
    /// Code 6 is in the publicly known list as "valid, unregistered (welfare)": the
    /// simulator uses it for a person whose only valid qualification is 医療扶助
    /// (no health-insurance qualification). Its label is the simulator's own.
    QualificationValidity {
        Valid = "1", "valid", "有効";
        Invalid = "2", "invalid", "無効";
        InvalidNewerExists = "3", "invalid-newer-exists", "無効（新しい資格あり）";
        NoQualification = "4", "no-qualification", "該当資格なし";
        Several = "5", "several", "複数該当";
        ValidMedicalAssistanceOnly = "6", "valid-medical-assistance-only", "有効（医療扶助）";
    }
}

code_list! {
    /// 区分 (formerly 被保険者証区分). Since 2024-12-02 only four values remain;
    /// the labels are the current ones (一般, not 被保険者証（一般）).
    InsuredCardClassification {
        General = "01", "general", "一般";
        SpecialMedicalExpenses = "05", "special-medical-expenses", "特別療養費支給対象者";
        SelfDefenseForces = "07", "self-defense-forces", "自衛官";
        MedicalAssistance = "A1", "medical-assistance", "医療扶助";
    }
    retired {
        "02" => "被保険者証（退職） was retired on 2024-12-02",
        "03" => "短期被保険者証（一般） was retired on 2024-12-02",
        "04" => "短期被保険者証（退職） was retired on 2024-12-02",
        "06" => "特例退職被保険者証 was retired on 2024-12-02",
    }
}

code_list! {
    /// 性別 (Sex1 on the card face, Sex2 the legal sex on the back).
    Sex {
        Male = "1", "male", "男";
        Female = "2", "female", "女";
        Unset = "3", "unset", "未設定";
    }
}

code_list! {
    /// 本人・家族の別. Empty for 後期高齢者, where everyone is insured in their own right.
    PersonalFamilyClassification {
        Insured = "1", "insured", "本人";
        Family = "2", "family", "家族";
    }
}

code_list! {
    /// 資格喪失事由.
    ReasonOfLoss {
        Death = "01", "death", "死亡";
        PublicAssistance = "02", "public-assistance", "生活保護受給開始";
        OtherInsurance = "03", "other-insurance", "医療保険等の資格取得";
        Other = "99", "other", "その他";
    }
}

code_list! {
    /// 未就学区分: present (1) only for a child before compulsory schooling.
    PreschoolClassification {
        Preschool = "1", "preschool", "義務教育就学前";
    }
}

code_list! {
    /// 処理結果状況 of the message body.
    ProcessingResultStatus {
        Ok = "1", "ok", "正常終了";
        Error = "2", "error", "エラー";
    }
}

code_list! {
    /// 処理結果区分 of the message header.
    SegmentOfResult {
        Completed = "1", "completed", "正常終了";
        Processing = "2", "processing", "処理中";
        Failed = "9", "failed", "異常終了";
    }
}

code_list! {
    /// 文字コード識別: the facility's setting, which decides the response's
    /// encoding and whether JIS level-3/4 kanji are substituted.
    CharacterCodeIdentifier {
        Utf8 = "0", "utf-8", "UTF-8";
        ShiftJis = "1", "shift_jis", "Shift_JIS";
    }
}

code_list! {
    /// 照会区分: how the person was identified.
    ReferenceClassification {
        MyNumberCard = "1", "my-number-card", "マイナンバーカード";
        InsuredCardInfo = "2", "insured-card-info", "被保険者証情報";
    }
}

code_list! {
    /// 限度額適用認定証関連情報提供同意フラグ.
    LimitApplicationCertificateRelatedConsFlg {
        NotConsented = "0", "not-consented", "未同意";
        Consented = "1", "consented", "同意";
    }
}

code_list! {
    /// 券種 of a 医療扶助 ticket (medium confidence: from receipt-computer code,
    /// not an official list).
    TicketType {
        MedicalTicket = "01", "medical-ticket", "医療券";
        DispensingTicket = "02", "dispensing-ticket", "調剤券";
    }
}

impl CharacterCodeIdentifier {
    /// The encoding's name in the XML declaration.
    pub fn xml_encoding_name(self) -> &'static str {
        match self {
            CharacterCodeIdentifier::Utf8 => "UTF-8",
            CharacterCodeIdentifier::ShiftJis => "Shift_JIS",
        }
    }

    /// The text a facility with this setting receives for `text`: the
    /// character rules of [`crate::charset`] for its encoding.
    pub fn received_text(self, text: &str) -> String {
        match self {
            CharacterCodeIdentifier::Utf8 => crate::charset::as_held(text),
            CharacterCodeIdentifier::ShiftJis => crate::charset::as_level_1_2(text),
        }
    }
}

impl From<sim_card::persona::Sex> for Sex {
    /// The card stores ISO/IEC 5218 (9 = not applicable); the service has 3 未設定.
    fn from(sex: sim_card::persona::Sex) -> Self {
        match sex {
            sim_card::persona::Sex::Male => Sex::Male,
            sim_card::persona::Sex::Female => Sex::Female,
            sim_card::persona::Sex::NotApplicable => Sex::Unset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_both_parse_and_output_is_the_code() {
        assert_eq!(
            InsuredCardClassification::parse("07"),
            Ok(InsuredCardClassification::SelfDefenseForces)
        );
        assert_eq!(
            InsuredCardClassification::parse("self-defense-forces"),
            Ok(InsuredCardClassification::SelfDefenseForces)
        );
        let json = serde_json::to_string(&InsuredCardClassification::MedicalAssistance).unwrap();
        assert_eq!(json, "\"A1\"");
        assert_eq!(QualificationValidity::Several.label(), "複数該当");
        assert_eq!(ReasonOfLoss::from_code("99"), Some(ReasonOfLoss::Other));
    }

    #[test]
    fn retired_classifications_are_refused_with_the_reason() {
        for code in ["02", "03", "04", "06"] {
            let error = InsuredCardClassification::parse(code).unwrap_err();
            assert!(error.contains("retired on 2024-12-02"), "{error}");
        }
        let error = Sex::parse("9").unwrap_err();
        assert!(error.contains("expected one of 1 (male)"), "{error}");
    }

    #[test]
    fn every_code_is_unique_within_its_list() {
        fn unique<T: Copy>(all: &[T], code: fn(T) -> &'static str) {
            let mut codes: Vec<_> = all.iter().map(|v| code(*v)).collect();
            codes.sort();
            codes.dedup();
            assert_eq!(codes.len(), all.len());
        }
        unique(QualificationValidity::ALL, QualificationValidity::code);
        unique(
            InsuredCardClassification::ALL,
            InsuredCardClassification::code,
        );
        unique(ReasonOfLoss::ALL, ReasonOfLoss::code);
        unique(SegmentOfResult::ALL, SegmentOfResult::code);
    }
}

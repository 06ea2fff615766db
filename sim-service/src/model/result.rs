//! One qualification as the service reports it: ResultOfQualificationConfirmation.

use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::date;

use super::dates::yyyymmdd;
use super::numbers::{ContributionRatio, InsurerNumber};
use super::values::{
    InsuredCardClassification, PersonalFamilyClassification, PreschoolClassification, ReasonOfLoss,
    Sex, TicketType,
};

/// The birth date the service writes when a 医療扶助 recipient's is unknown.
pub const UNKNOWN_BIRTHDATE: Date = date!(1900 - 01 - 01);

/// One qualification (資格) in a result list, with the fields of the result
/// screen under their XML element names.
///
/// Every field is optional because the service omits what it does not have
/// (枝番 for 後期高齢者, 負担割合 outside 後期高齢者, everything but six fields
/// for 医療扶助) and what an insurer has hidden (see [`ResultField`]). Absent
/// fields are left out of JSON and XML alike. Field order is the order of the
/// XML elements this simulator writes; real files do not keep one order, and
/// readers must not depend on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ResultOfQualificationConfirmation {
    /// 区分.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_card_classification: Option<InsuredCardClassification>,
    /// 保険者番号, 8 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_number: Option<InsurerNumber>,
    /// 記号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_card_symbol: Option<String>,
    /// 番号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_identification_number: Option<String>,
    /// 枝番: two digits; absent for 後期高齢者.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_branch_number: Option<String>,
    /// 本人・家族の別; absent for 後期高齢者.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_family_classification: Option<PersonalFamilyClassification>,
    /// 被保険者氏名: the insured (head of household for 国保); absent for 医療扶助.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_name: Option<String>,
    /// 氏名, family and given name separated by U+3000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 裏面記載情報: the legal name when the face shows another (通称).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_of_other: Option<String>,
    /// フリガナ in half-width katakana (`ｼｶｸ ﾀﾛｳ`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    /// 裏面記載情報: the legal name's kana, half-width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_of_other_kana: Option<String>,
    /// 性別1: the sex on the face.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex1: Option<Sex>,
    /// 性別2: the legal sex, on the back when the face shows none or another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex2: Option<Sex>,
    /// 生年月日; [`UNKNOWN_BIRTHDATE`] for a 医療扶助 recipient whose is unknown.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub birthdate: Option<Date>,
    /// 有効開始日.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub insured_card_valid_date: Option<Date>,
    /// 有効終了日: usually empty.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub insured_card_expiration_date: Option<Date>,
    /// 負担割合: 後期高齢者 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_partial_contribution_ratio: Option<ContributionRatio>,
    /// 未就学区分: `1` before compulsory schooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preschool_classification: Option<PreschoolClassification>,
    /// 資格喪失事由.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_of_loss: Option<ReasonOfLoss>,
    /// 高齢受給者証 (ages 70 to 74).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elderly_recipient_certificate_info: Option<ElderlyRecipientCertificateInfo>,
    /// 資格取得年月日.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub qualification_date: Option<Date>,
    /// 保険者名; the 福祉事務所 for 医療扶助.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_name: Option<String>,
    /// 照会番号: the facility's own patient number, when it registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    /// 医療扶助 tickets (medium confidence on the element names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_expense_result_list: Option<PublicExpenseResultList>,
}

/// 高齢受給者証: for insured persons aged 70 to 74 outside 後期高齢者医療.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ElderlyRecipientCertificateInfo {
    /// 交付年月日.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub elderly_recipient_certificate_date: Option<Date>,
    /// 有効開始日.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub elderly_recipient_valid_start_date: Option<Date>,
    /// 有効終了日.
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub elderly_recipient_valid_end_date: Option<Date>,
    /// 負担割合, three-digit percent (`020` = 2割).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elderly_recipient_contribution_ratio: Option<ContributionRatio>,
}

/// 医療扶助 tickets attached to a welfare result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PublicExpenseResultList {
    #[serde(default)]
    pub medical_ticket_info: Vec<MedicalTicketInfo>,
}

/// One 医療券 or 調剤券. The element names come from receipt-computer code, not
/// from a published schema: medium confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MedicalTicketInfo {
    pub ticket_type: TicketType,
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub medical_ticket_valid_date: Option<Date>,
    #[serde(
        default,
        with = "yyyymmdd::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub medical_ticket_expiration_date: Option<Date>,
    /// 交付番号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_number: Option<String>,
    /// 診療年月, `YYYYMM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medical_treatment_month: Option<String>,
    /// 指定医療機関コード.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designated_medical_institution_code: Option<String>,
    /// 指定医療機関名.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designated_medical_institution_name: Option<String>,
    /// 本人支払額, yen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_pay_amount: Option<String>,
}

/// A field of a result, by its XML element name: what an insurer can hide
/// (開示制限, for victims of domestic violence or abuse) and what the 医療扶助
/// shape allows.
///
/// The order of [`ResultField::ALL`] is the order in which the XML writes the
/// elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResultField {
    InsuredCardClassification,
    InsurerNumber,
    InsuredCardSymbol,
    InsuredIdentificationNumber,
    InsuredBranchNumber,
    PersonalFamilyClassification,
    InsuredName,
    Name,
    NameOfOther,
    NameKana,
    NameOfOtherKana,
    Sex1,
    Sex2,
    Birthdate,
    InsuredCardValidDate,
    InsuredCardExpirationDate,
    InsuredPartialContributionRatio,
    PreschoolClassification,
    ReasonOfLoss,
    ElderlyRecipientCertificateInfo,
    QualificationDate,
    InsurerName,
    ReferenceNumber,
    PublicExpenseResultList,
}

/// What a field holds, as the XML writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A leaf element's text.
    Text(String),
    /// The nested 高齢受給者証 element.
    Elderly(&'a ElderlyRecipientCertificateInfo),
    /// The nested list of 医療扶助 tickets.
    Tickets(&'a PublicExpenseResultList),
}

impl ResultField {
    /// Every field, in the order the XML writes them.
    pub const ALL: &'static [ResultField] = &[
        ResultField::InsuredCardClassification,
        ResultField::InsurerNumber,
        ResultField::InsuredCardSymbol,
        ResultField::InsuredIdentificationNumber,
        ResultField::InsuredBranchNumber,
        ResultField::PersonalFamilyClassification,
        ResultField::InsuredName,
        ResultField::Name,
        ResultField::NameOfOther,
        ResultField::NameKana,
        ResultField::NameOfOtherKana,
        ResultField::Sex1,
        ResultField::Sex2,
        ResultField::Birthdate,
        ResultField::InsuredCardValidDate,
        ResultField::InsuredCardExpirationDate,
        ResultField::InsuredPartialContributionRatio,
        ResultField::PreschoolClassification,
        ResultField::ReasonOfLoss,
        ResultField::ElderlyRecipientCertificateInfo,
        ResultField::QualificationDate,
        ResultField::InsurerName,
        ResultField::ReferenceNumber,
        ResultField::PublicExpenseResultList,
    ];

    /// The fields a 医療扶助 result may carry: 福祉事務所名, フリガナ, 氏名,
    /// 生年月日, 性別, 区分, and its tickets.
    pub const MEDICAL_ASSISTANCE: &'static [ResultField] = &[
        ResultField::InsuredCardClassification,
        ResultField::Name,
        ResultField::NameKana,
        ResultField::Sex1,
        ResultField::Birthdate,
        ResultField::InsurerName,
        ResultField::PublicExpenseResultList,
    ];

    /// The XML element name (and JSON key).
    pub fn element_name(self) -> &'static str {
        match self {
            ResultField::InsuredCardClassification => "InsuredCardClassification",
            ResultField::InsurerNumber => "InsurerNumber",
            ResultField::InsuredCardSymbol => "InsuredCardSymbol",
            ResultField::InsuredIdentificationNumber => "InsuredIdentificationNumber",
            ResultField::InsuredBranchNumber => "InsuredBranchNumber",
            ResultField::PersonalFamilyClassification => "PersonalFamilyClassification",
            ResultField::InsuredName => "InsuredName",
            ResultField::Name => "Name",
            ResultField::NameOfOther => "NameOfOther",
            ResultField::NameKana => "NameKana",
            ResultField::NameOfOtherKana => "NameOfOtherKana",
            ResultField::Sex1 => "Sex1",
            ResultField::Sex2 => "Sex2",
            ResultField::Birthdate => "Birthdate",
            ResultField::InsuredCardValidDate => "InsuredCardValidDate",
            ResultField::InsuredCardExpirationDate => "InsuredCardExpirationDate",
            ResultField::InsuredPartialContributionRatio => "InsuredPartialContributionRatio",
            ResultField::PreschoolClassification => "PreschoolClassification",
            ResultField::ReasonOfLoss => "ReasonOfLoss",
            ResultField::ElderlyRecipientCertificateInfo => "ElderlyRecipientCertificateInfo",
            ResultField::QualificationDate => "QualificationDate",
            ResultField::InsurerName => "InsurerName",
            ResultField::ReferenceNumber => "ReferenceNumber",
            ResultField::PublicExpenseResultList => "PublicExpenseResultList",
        }
    }
}

/// The details a 医療扶助 result is built from; nothing else can get in.
#[derive(Debug, Clone, PartialEq)]
pub struct MedicalAssistanceDetails {
    /// 福祉事務所名, written as InsurerName.
    pub welfare_office_name: String,
    pub name: String,
    /// Half-width kana, when the office registered it.
    pub name_kana: Option<String>,
    /// `None` when unknown: written as 19000101.
    pub birthdate: Option<Date>,
    pub sex: Sex,
    pub tickets: Vec<MedicalTicketInfo>,
}

impl ResultOfQualificationConfirmation {
    /// A 医療扶助 result: 福祉事務所名, フリガナ, 氏名, 生年月日 (19000101 when
    /// unknown), 性別 and 区分 A1, plus any tickets. Nothing else.
    pub fn medical_assistance(details: MedicalAssistanceDetails) -> Self {
        ResultOfQualificationConfirmation {
            insured_card_classification: Some(InsuredCardClassification::MedicalAssistance),
            insurer_name: Some(details.welfare_office_name),
            name: Some(details.name),
            name_kana: details.name_kana,
            birthdate: Some(details.birthdate.unwrap_or(UNKNOWN_BIRTHDATE)),
            sex1: Some(details.sex),
            public_expense_result_list: (!details.tickets.is_empty()).then_some(
                PublicExpenseResultList {
                    medical_ticket_info: details.tickets,
                },
            ),
            ..Default::default()
        }
    }

    /// Whether this is a 医療扶助 result.
    pub fn is_medical_assistance(&self) -> bool {
        self.insured_card_classification == Some(InsuredCardClassification::MedicalAssistance)
    }

    /// The fields present, in XML order, with their values.
    pub fn present_fields(&self) -> Vec<(ResultField, FieldValue<'_>)> {
        ResultField::ALL
            .iter()
            .filter_map(|f| self.value(*f).map(|v| (*f, v)))
            .collect()
    }

    /// One field's value, or `None` when absent.
    pub fn value(&self, field: ResultField) -> Option<FieldValue<'_>> {
        use super::dates::format_yyyymmdd as ymd;
        let text = |s: &Option<String>| s.clone().map(FieldValue::Text);
        let code = |c: Option<&'static str>| c.map(|c| FieldValue::Text(c.to_string()));
        let day = |d: Option<Date>| d.map(|d| FieldValue::Text(ymd(d)));
        match field {
            ResultField::InsuredCardClassification => {
                code(self.insured_card_classification.map(|c| c.code()))
            }
            ResultField::InsurerNumber => self
                .insurer_number
                .as_ref()
                .map(|n| FieldValue::Text(n.as_str().to_string())),
            ResultField::InsuredCardSymbol => text(&self.insured_card_symbol),
            ResultField::InsuredIdentificationNumber => text(&self.insured_identification_number),
            ResultField::InsuredBranchNumber => text(&self.insured_branch_number),
            ResultField::PersonalFamilyClassification => {
                code(self.personal_family_classification.map(|c| c.code()))
            }
            ResultField::InsuredName => text(&self.insured_name),
            ResultField::Name => text(&self.name),
            ResultField::NameOfOther => text(&self.name_of_other),
            ResultField::NameKana => text(&self.name_kana),
            ResultField::NameOfOtherKana => text(&self.name_of_other_kana),
            ResultField::Sex1 => code(self.sex1.map(|s| s.code())),
            ResultField::Sex2 => code(self.sex2.map(|s| s.code())),
            ResultField::Birthdate => day(self.birthdate),
            ResultField::InsuredCardValidDate => day(self.insured_card_valid_date),
            ResultField::InsuredCardExpirationDate => day(self.insured_card_expiration_date),
            ResultField::InsuredPartialContributionRatio => self
                .insured_partial_contribution_ratio
                .map(|r| FieldValue::Text(r.code())),
            ResultField::PreschoolClassification => {
                code(self.preschool_classification.map(|c| c.code()))
            }
            ResultField::ReasonOfLoss => code(self.reason_of_loss.map(|r| r.code())),
            ResultField::ElderlyRecipientCertificateInfo => self
                .elderly_recipient_certificate_info
                .as_ref()
                .map(FieldValue::Elderly),
            ResultField::QualificationDate => day(self.qualification_date),
            ResultField::InsurerName => text(&self.insurer_name),
            ResultField::ReferenceNumber => text(&self.reference_number),
            ResultField::PublicExpenseResultList => self
                .public_expense_result_list
                .as_ref()
                .map(FieldValue::Tickets),
        }
    }

    /// Removes one field: what disclosure restriction does to it.
    pub fn hide(&mut self, field: ResultField) {
        match field {
            ResultField::InsuredCardClassification => self.insured_card_classification = None,
            ResultField::InsurerNumber => self.insurer_number = None,
            ResultField::InsuredCardSymbol => self.insured_card_symbol = None,
            ResultField::InsuredIdentificationNumber => self.insured_identification_number = None,
            ResultField::InsuredBranchNumber => self.insured_branch_number = None,
            ResultField::PersonalFamilyClassification => self.personal_family_classification = None,
            ResultField::InsuredName => self.insured_name = None,
            ResultField::Name => self.name = None,
            ResultField::NameOfOther => self.name_of_other = None,
            ResultField::NameKana => self.name_kana = None,
            ResultField::NameOfOtherKana => self.name_of_other_kana = None,
            ResultField::Sex1 => self.sex1 = None,
            ResultField::Sex2 => self.sex2 = None,
            ResultField::Birthdate => self.birthdate = None,
            ResultField::InsuredCardValidDate => self.insured_card_valid_date = None,
            ResultField::InsuredCardExpirationDate => self.insured_card_expiration_date = None,
            ResultField::InsuredPartialContributionRatio => {
                self.insured_partial_contribution_ratio = None
            }
            ResultField::PreschoolClassification => self.preschool_classification = None,
            ResultField::ReasonOfLoss => self.reason_of_loss = None,
            ResultField::ElderlyRecipientCertificateInfo => {
                self.elderly_recipient_certificate_info = None
            }
            ResultField::QualificationDate => self.qualification_date = None,
            ResultField::InsurerName => self.insurer_name = None,
            ResultField::ReferenceNumber => self.reference_number = None,
            ResultField::PublicExpenseResultList => self.public_expense_result_list = None,
        }
    }

    /// Removes every field in `hidden`.
    pub fn hide_all<'a>(&mut self, hidden: impl IntoIterator<Item = &'a ResultField>) {
        for field in hidden {
            self.hide(*field);
        }
    }

    /// Checks that a 医療扶助 result carries nothing but its six fields (and
    /// tickets). Other results pass.
    pub fn check_shape(&self) -> Result<(), String> {
        if !self.is_medical_assistance() {
            return Ok(());
        }
        let extra: Vec<&str> = self
            .present_fields()
            .into_iter()
            .map(|(f, _)| f)
            .filter(|f| !ResultField::MEDICAL_ASSISTANCE.contains(f))
            .map(ResultField::element_name)
            .collect();
        if extra.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "a 医療扶助 result carries only InsurerName, NameKana, Name, Birthdate, Sex1 and InsuredCardClassification, not {}",
                extra.join(", ")
            ))
        }
    }

    /// Applies `f` to every free-text value (names, kana, insurer name,
    /// symbol, numbers, reference number, ticket texts): how the character
    /// rules reach every string a facility sees.
    pub fn map_text(&mut self, f: &dyn Fn(&str) -> String) {
        for text in [
            &mut self.insured_card_symbol,
            &mut self.insured_identification_number,
            &mut self.insured_name,
            &mut self.name,
            &mut self.name_of_other,
            &mut self.name_kana,
            &mut self.name_of_other_kana,
            &mut self.insurer_name,
            &mut self.reference_number,
        ]
        .into_iter()
        .flatten()
        {
            *text = f(text);
        }
        if let Some(list) = &mut self.public_expense_result_list {
            for ticket in &mut list.medical_ticket_info {
                for text in [
                    &mut ticket.issue_number,
                    &mut ticket.designated_medical_institution_name,
                ]
                .into_iter()
                .flatten()
                {
                    *text = f(text);
                }
            }
        }
    }
}

impl ElderlyRecipientCertificateInfo {
    /// The nested elements present, in XML order.
    pub fn present_fields(&self) -> Vec<(&'static str, String)> {
        use super::dates::format_yyyymmdd as ymd;
        [
            (
                "ElderlyRecipientCertificateDate",
                self.elderly_recipient_certificate_date.map(ymd),
            ),
            (
                "ElderlyRecipientValidStartDate",
                self.elderly_recipient_valid_start_date.map(ymd),
            ),
            (
                "ElderlyRecipientValidEndDate",
                self.elderly_recipient_valid_end_date.map(ymd),
            ),
            (
                "ElderlyRecipientContributionRatio",
                self.elderly_recipient_contribution_ratio.map(|r| r.code()),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

impl MedicalTicketInfo {
    /// The nested elements present, in XML order.
    pub fn present_fields(&self) -> Vec<(&'static str, String)> {
        use super::dates::format_yyyymmdd as ymd;
        [
            ("TicketType", Some(self.ticket_type.code().to_string())),
            (
                "MedicalTicketValidDate",
                self.medical_ticket_valid_date.map(ymd),
            ),
            (
                "MedicalTicketExpirationDate",
                self.medical_ticket_expiration_date.map(ymd),
            ),
            ("IssueNumber", self.issue_number.clone()),
            (
                "MedicalTreatmentMonth",
                self.medical_treatment_month.clone(),
            ),
            (
                "DesignatedMedicalInstitutionCode",
                self.designated_medical_institution_code.clone(),
            ),
            (
                "DesignatedMedicalInstitutionName",
                self.designated_medical_institution_name.clone(),
            ),
            ("SelfPayAmount", self.self_pay_amount.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> ResultOfQualificationConfirmation {
        ResultOfQualificationConfirmation {
            insured_card_classification: Some(InsuredCardClassification::General),
            insurer_number: Some(InsurerNumber::new("06139990").unwrap()),
            insured_card_symbol: Some("1234".into()),
            insured_identification_number: Some("5678".into()),
            insured_branch_number: Some("00".into()),
            personal_family_classification: Some(PersonalFamilyClassification::Insured),
            insured_name: Some("資格　太郎".into()),
            name: Some("資格　太郎".into()),
            name_kana: Some("ｼｶｸ ﾀﾛｳ".into()),
            sex1: Some(Sex::Male),
            birthdate: Some(date!(1985 - 04 - 12)),
            insured_card_valid_date: Some(date!(2024 - 04 - 01)),
            qualification_date: Some(date!(2024 - 04 - 01)),
            insurer_name: Some("かざす健康保険組合".into()),
            ..Default::default()
        }
    }

    #[test]
    fn json_uses_the_element_names_and_omits_absent_fields() {
        let json = serde_json::to_value(full()).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object["InsurerNumber"], "06139990");
        assert_eq!(object["Birthdate"], "19850412");
        assert_eq!(object["Sex1"], "1");
        assert_eq!(object["InsuredBranchNumber"], "00");
        assert!(!object.contains_key("Sex2"));
        assert!(!object.contains_key("InsuredCardExpirationDate"));
        for key in object.keys() {
            assert!(
                ResultField::ALL.iter().any(|f| f.element_name() == key),
                "{key}"
            );
        }
        let back: ResultOfQualificationConfirmation = serde_json::from_value(json).unwrap();
        assert_eq!(back, full());
    }

    #[test]
    fn hidden_fields_disappear_and_nothing_else_does() {
        for field in ResultField::ALL {
            let mut result = full();
            result.elderly_recipient_certificate_info = Some(ElderlyRecipientCertificateInfo {
                elderly_recipient_certificate_date: None,
                elderly_recipient_valid_start_date: None,
                elderly_recipient_valid_end_date: None,
                elderly_recipient_contribution_ratio: None,
            });
            let before: Vec<ResultField> = result
                .present_fields()
                .into_iter()
                .map(|(f, _)| f)
                .collect();
            result.hide(*field);
            let after: Vec<ResultField> = result
                .present_fields()
                .into_iter()
                .map(|(f, _)| f)
                .collect();
            let expected: Vec<ResultField> = before.into_iter().filter(|f| f != field).collect();
            assert_eq!(after, expected, "{field:?}");
        }
    }

    #[test]
    fn medical_assistance_results_have_only_their_fields() {
        let result =
            ResultOfQualificationConfirmation::medical_assistance(MedicalAssistanceDetails {
                welfare_office_name: "港区福祉事務所".into(),
                name: "資格　太郎".into(),
                name_kana: Some("ｼｶｸ ﾀﾛｳ".into()),
                birthdate: None,
                sex: Sex::Male,
                tickets: vec![],
            });
        assert_eq!(result.birthdate, Some(UNKNOWN_BIRTHDATE));
        assert!(result.check_shape().is_ok());
        let fields: Vec<&str> = result
            .present_fields()
            .into_iter()
            .map(|(f, _)| f.element_name())
            .collect();
        assert_eq!(
            fields,
            [
                "InsuredCardClassification",
                "Name",
                "NameKana",
                "Sex1",
                "Birthdate",
                "InsurerName"
            ]
        );
        let mut bad = result.clone();
        bad.insured_name = Some("資格　太郎".into());
        let error = bad.check_shape().unwrap_err();
        assert!(error.contains("InsuredName"), "{error}");
        assert!(full().check_shape().is_ok());
    }
}

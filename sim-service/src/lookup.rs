//! Which of a person's qualifications a confirmation shows, on a given date.
//!
//! The rules, as the simulator applies them (the real layout for validities
//! 2 to 5 is not public):
//!
//! - A qualification is *valid* on a day from its 有効開始日 up to the day
//!   before its 資格喪失日; *lost* from the loss date; *future* before it starts.
//! - One valid qualification gives validity 1 (有効); more than one gives 5
//!   (複数該当) with all of them.
//! - With none valid, the most recently lost one is shown: validity 3 (無効
//!   (新しい資格あり)) when the person has a qualification that started after
//!   it (already valid, or registered ahead to start later), else 2 (無効).
//! - With nothing valid or lost, validity 4 (該当資格なし): the insurer has
//!   not registered the person.
//! - 医療扶助: a person's valid welfare records are shown after their valid
//!   health-insurance qualifications, and the validity is the insurance's.
//!   When welfare is the only valid qualification the validity is 6 (有効,
//!   医療扶助のみ) and only welfare is shown. Ended welfare records are never
//!   shown.
//! - A request by insurance card number (ReferenceClassification 2) looks at
//!   the qualifications matching the number and birth date; welfare has no
//!   such number and is never shown there. Validity 3 is then the usual answer
//!   for an old card whose holder has moved on to a new insurer.
//!
//! Each shown result gets the person's name (half-width kana), the insurer's
//! hidden fields removed, 未就学区分 from the birth date (see
//! [`crate::rules::preschool`]), and the facility's 照会番号.

use time::{Date, Duration};

use crate::fixtures::{InsuredPerson, QualificationRecord, WelfareRecord};
use crate::kana;
use crate::model::{
    ElderlyRecipientCertificateInfo, MedicalAssistanceDetails, MedicalInstitutionCode,
    MedicalTicketInfo, PersonalFamilyClassification, PreschoolClassification,
    QualificationConfirmSearchInfo, QualificationValidity, ResultOfQualificationConfirmation, Sex,
};

/// What a lookup knows besides the person and the date.
#[derive(Debug, Clone, Copy, Default)]
pub struct LookupOptions<'a> {
    /// The insurance card number of a ReferenceClassification 2 request;
    /// `None` for a card read.
    pub search: Option<&'a QualificationConfirmSearchInfo>,
    /// The facility asking: picks the fixture's 照会番号 for it.
    pub facility: Option<&'a MedicalInstitutionCode>,
    /// A 照会番号 registered through the service (the store's), which wins
    /// over the fixture's.
    pub reference_number: Option<&'a str>,
}

/// Where a qualification stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// Starts after the day.
    Future,
    Valid,
    /// Lost on or before the day.
    Lost,
}

/// The status of a qualification on `date`.
pub fn record_status(record: &QualificationRecord, date: Date) -> RecordStatus {
    if record.lost_on.is_some_and(|lost| lost <= date) {
        RecordStatus::Lost
    } else if record.valid_from() > date {
        RecordStatus::Future
    } else {
        RecordStatus::Valid
    }
}

fn welfare_valid(record: &WelfareRecord, date: Date) -> bool {
    record.started_on <= date && record.ended_on.is_none_or(|end| date < end)
}

/// Whether a qualification matches an insurance-card-number search for this
/// person: insurer number, 番号, 記号 and 枝番 when the request gives them,
/// and the birth date.
pub fn matches_search(
    person: &InsuredPerson,
    record: &QualificationRecord,
    search: &QualificationConfirmSearchInfo,
) -> bool {
    let birth = record.birth_date.unwrap_or(person.persona().birth_date);
    let symbol_ok = match &search.insured_card_symbol {
        None => true,
        Some(s) if s.is_empty() => true,
        Some(s) => record.symbol.as_deref() == Some(s.as_str()),
    };
    let branch_ok = match &search.insured_branch_number {
        None => true,
        Some(b) if b.is_empty() => true,
        Some(b) => record.branch.as_deref() == Some(b.as_str()),
    };
    record.insurer_number == search.insurer_number
        && record.number == search.insured_identification_number
        && symbol_ok
        && branch_ok
        && birth == search.birthdate
}

/// The validity and the results a confirmation on `confirmation_date` shows
/// for `person` (see the module documentation for the rules).
pub fn qualification_result(
    person: &InsuredPerson,
    confirmation_date: Date,
    options: &LookupOptions<'_>,
) -> (
    QualificationValidity,
    Vec<ResultOfQualificationConfirmation>,
) {
    let reference_number = options
        .reference_number
        .or_else(|| options.facility.and_then(|f| person.reference_number(f)));
    let insurance = |record: &QualificationRecord| {
        insurance_result(person, record, confirmation_date, reference_number)
    };
    let (validity, records) = select_insurance(person, confirmation_date, options.search);
    let mut results: Vec<_> = records.into_iter().map(insurance).collect();
    if options.search.is_some() {
        return (validity, results);
    }
    let welfare: Vec<_> = person
        .welfare
        .iter()
        .filter(|w| welfare_valid(w, confirmation_date))
        .map(|w| welfare_result(person, w))
        .collect();
    match validity {
        QualificationValidity::Valid | QualificationValidity::Several => {
            results.extend(welfare);
            (validity, results)
        }
        _ if !welfare.is_empty() => (QualificationValidity::ValidMedicalAssistanceOnly, welfare),
        _ => (validity, results),
    }
}

fn select_insurance<'a>(
    person: &'a InsuredPerson,
    date: Date,
    search: Option<&QualificationConfirmSearchInfo>,
) -> (QualificationValidity, Vec<&'a QualificationRecord>) {
    let targets: Vec<&QualificationRecord> = person
        .qualifications
        .iter()
        .filter(|r| search.is_none_or(|s| matches_search(person, r, s)))
        .collect();
    let valid: Vec<_> = targets
        .iter()
        .copied()
        .filter(|r| record_status(r, date) == RecordStatus::Valid)
        .collect();
    match valid.len() {
        1 => return (QualificationValidity::Valid, valid),
        n if n > 1 => return (QualificationValidity::Several, valid),
        _ => {}
    }
    let latest_lost = targets
        .iter()
        .copied()
        .filter(|r| record_status(r, date) == RecordStatus::Lost)
        .max_by_key(|r| (r.lost_on, r.valid_from()));
    match latest_lost {
        None => (QualificationValidity::NoQualification, Vec::new()),
        Some(lost) => {
            let newer = person
                .qualifications
                .iter()
                .any(|r| !std::ptr::eq(r, lost) && r.valid_from() > lost.valid_from());
            let validity = if newer {
                QualificationValidity::InvalidNewerExists
            } else {
                QualificationValidity::Invalid
            };
            (validity, vec![lost])
        }
    }
}

/// The result for one health-insurance qualification.
fn insurance_result(
    person: &InsuredPerson,
    record: &QualificationRecord,
    date: Date,
    reference_number: Option<&str>,
) -> ResultOfQualificationConfirmation {
    let persona = person.persona();
    let name = record.name.clone().unwrap_or_else(|| persona.name.clone());
    let name_kana = record.name_kana.as_deref().unwrap_or(&persona.name_kana);
    let birthdate = record.birth_date.unwrap_or(persona.birth_date);
    let late_elderly = record.insurer_number.is_late_elderly();
    let insured_name = match record.personal_family {
        Some(PersonalFamilyClassification::Family) => record.insured_name.clone(),
        _ => Some(record.insured_name.clone().unwrap_or_else(|| name.clone())),
    };
    let expiration = record
        .valid_until
        .or_else(|| record.lost_on.map(|lost| lost - Duration::days(1)));
    let back = record.back_side.as_ref();
    let mut result = ResultOfQualificationConfirmation {
        insured_card_classification: Some(record.classification),
        insurer_number: Some(record.insurer_number.clone()),
        insured_card_symbol: record.symbol.clone(),
        insured_identification_number: Some(record.number.clone()),
        insured_branch_number: if late_elderly {
            None
        } else {
            record.branch.clone()
        },
        personal_family_classification: if late_elderly {
            None
        } else {
            record.personal_family
        },
        insured_name,
        name: Some(name),
        name_of_other: back.and_then(|b| b.name.clone()),
        name_kana: Some(kana::to_half_width(name_kana)),
        name_of_other_kana: back.and_then(|b| b.name_kana.as_deref().map(kana::to_half_width)),
        sex1: Some(record.sex.unwrap_or_else(|| Sex::from(persona.sex))),
        sex2: back.and_then(|b| b.sex),
        birthdate: Some(birthdate),
        insured_card_valid_date: Some(record.valid_from()),
        insured_card_expiration_date: expiration,
        insured_partial_contribution_ratio: if late_elderly {
            record.contribution_ratio
        } else {
            None
        },
        preschool_classification: crate::rules::preschool::is_preschool(birthdate, date)
            .then_some(PreschoolClassification::Preschool),
        reason_of_loss: record.reason_of_loss,
        elderly_recipient_certificate_info: record.elderly_recipient.as_ref().map(|e| {
            ElderlyRecipientCertificateInfo {
                elderly_recipient_certificate_date: e.certificate_date,
                elderly_recipient_valid_start_date: Some(e.valid_from),
                elderly_recipient_valid_end_date: e.valid_until,
                elderly_recipient_contribution_ratio: Some(e.contribution_ratio),
            }
        }),
        qualification_date: Some(record.qualification_date),
        insurer_name: Some(record.insurer_name.clone()),
        reference_number: reference_number.map(str::to_string),
        public_expense_result_list: None,
    };
    result.hide_all(&record.hidden);
    result
}

/// The result for one 医療扶助 record: built only through
/// [`ResultOfQualificationConfirmation::medical_assistance`], so it cannot
/// carry more than its six fields.
fn welfare_result(
    person: &InsuredPerson,
    record: &WelfareRecord,
) -> ResultOfQualificationConfirmation {
    let persona = person.persona();
    let birthdate = if record.birth_date_unknown {
        None
    } else {
        Some(record.birth_date.unwrap_or(persona.birth_date))
    };
    let tickets = record
        .tickets
        .iter()
        .map(|t| MedicalTicketInfo {
            ticket_type: t.ticket_type,
            medical_ticket_valid_date: t.valid_from,
            medical_ticket_expiration_date: t.valid_until,
            issue_number: t.issue_number.clone(),
            medical_treatment_month: t.treatment_month.clone(),
            designated_medical_institution_code: t.institution_code.clone(),
            designated_medical_institution_name: t.institution_name.clone(),
            self_pay_amount: t.self_pay_amount.map(|a| a.to_string()),
        })
        .collect();
    let mut result =
        ResultOfQualificationConfirmation::medical_assistance(MedicalAssistanceDetails {
            welfare_office_name: record.office_name.clone(),
            name: record.name.clone().unwrap_or_else(|| persona.name.clone()),
            name_kana: Some(kana::to_half_width(
                record.name_kana.as_deref().unwrap_or(&persona.name_kana),
            )),
            birthdate,
            sex: record.sex.unwrap_or_else(|| Sex::from(persona.sex)),
            tickets,
        });
    result.hide_all(&record.hidden);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    use crate::fixtures::{self, REFERENCE_DATE};
    use crate::model::{
        InsuredCardClassification as Class, InsurerNumber,
        LimitApplicationCertificateRelatedConsFlg, ReasonOfLoss, ResultField, UNKNOWN_BIRTHDATE,
    };
    use QualificationValidity as V;

    fn person(id: &str) -> InsuredPerson {
        let all = fixtures::built_in().unwrap();
        fixtures::find(&all, id).unwrap().clone()
    }

    fn on(
        id: &str,
        date: Date,
    ) -> (
        QualificationValidity,
        Vec<ResultOfQualificationConfirmation>,
    ) {
        qualification_result(&person(id), date, &LookupOptions::default())
    }

    #[test]
    fn every_built_in_case_shows_its_validity_on_the_reference_date() {
        let expected: &[(&str, QualificationValidity, usize)] = &[
            ("valid", V::Valid, 1),
            ("preschool", V::Valid, 1),
            ("expiring-soon", V::Valid, 1),
            ("back-side", V::Valid, 1),
            ("elderly-recipient", V::Valid, 1),
            ("late-elderly", V::Valid, 1),
            ("invalid-job-change", V::Invalid, 1),
            ("invalid-newer", V::InvalidNewerExists, 1),
            ("no-qualification", V::NoQualification, 0),
            ("several", V::Several, 2),
            ("disclosure-restricted", V::Valid, 1),
            ("medical-assistance", V::ValidMedicalAssistanceOnly, 1),
            ("medical-assistance-and-insurance", V::Valid, 2),
            ("self-defense-forces", V::Valid, 1),
            ("special-medical-expenses", V::Valid, 1),
            ("not-registered", V::Valid, 1),
            ("certificate-revoked", V::Valid, 1),
            ("expired-in-grace", V::Valid, 1),
            ("expired-beyond-grace", V::Valid, 1),
            ("phone-expired", V::Valid, 1),
            ("national-health-insurance", V::Valid, 1),
            ("jis-level-3", V::Valid, 1),
            ("jis-unmappable", V::Valid, 1),
            ("iphone", V::Valid, 1),
            ("android", V::Valid, 1),
            ("phone-replaced", V::Valid, 1),
            ("iphone-rsa", V::Valid, 1),
            ("junior", V::Valid, 1),
        ];
        let all = fixtures::built_in().unwrap();
        assert_eq!(
            expected.len(),
            all.len(),
            "every built-in person is expected"
        );
        for (id, validity, count) in expected {
            let (got, results) = on(id, REFERENCE_DATE);
            assert_eq!(got, *validity, "{id}");
            assert_eq!(results.len(), *count, "{id}");
            for result in &results {
                result.check_shape().unwrap_or_else(|e| panic!("{id}: {e}"));
                let kana = result.name_kana.as_deref().unwrap_or("");
                assert!(
                    !kana
                        .chars()
                        .any(|c| ('ァ'..='ヶ').contains(&c) || c == '　'),
                    "{id}: {kana}"
                );
            }
        }
    }

    #[test]
    fn a_valid_result_carries_the_screen_fields() {
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let options = LookupOptions {
            facility: Some(&facility),
            ..Default::default()
        };
        let (_, results) = qualification_result(&person("valid"), REFERENCE_DATE, &options);
        let r = &results[0];
        assert_eq!(r.insurer_number.as_ref().unwrap().as_str(), "06139990");
        assert_eq!(r.insured_branch_number.as_deref(), Some("00"));
        assert_eq!(r.name.as_deref(), Some("資格　太郎"));
        assert_eq!(r.name_kana.as_deref(), Some("ｼｶｸ ﾀﾛｳ"));
        assert_eq!(r.insured_name.as_deref(), Some("資格　太郎"));
        assert_eq!(r.sex1, Some(Sex::Male));
        assert_eq!(r.birthdate, Some(date!(1985 - 04 - 12)));
        assert_eq!(r.insured_card_classification, Some(Class::General));
        assert_eq!(r.insured_card_valid_date, Some(date!(2024 - 04 - 01)));
        assert_eq!(r.insured_card_expiration_date, None);
        assert_eq!(r.preschool_classification, None);
        assert_eq!(r.insured_partial_contribution_ratio, None);
        assert_eq!(r.reference_number.as_deref(), Some("K0001"));
        // Another facility has no 照会番号; one registered through the store wins.
        let other = MedicalInstitutionCode::new("0110000002").unwrap();
        let (_, results) = qualification_result(
            &person("valid"),
            REFERENCE_DATE,
            &LookupOptions {
                facility: Some(&other),
                ..Default::default()
            },
        );
        assert_eq!(results[0].reference_number, None);
        let (_, results) = qualification_result(
            &person("valid"),
            REFERENCE_DATE,
            &LookupOptions {
                facility: Some(&facility),
                reference_number: Some("NEW-7"),
                ..Default::default()
            },
        );
        assert_eq!(results[0].reference_number.as_deref(), Some("NEW-7"));
    }

    #[test]
    fn case_details() {
        let (_, r) = on("preschool", REFERENCE_DATE);
        assert_eq!(
            r[0].preschool_classification,
            Some(PreschoolClassification::Preschool)
        );
        assert_eq!(r[0].insured_name.as_deref(), Some("資格　太郎"));
        assert_eq!(
            r[0].personal_family_classification,
            Some(PersonalFamilyClassification::Family)
        );
        // The child enters school on 2028-04-01.
        let (_, r) = on("preschool", date!(2028 - 04 - 01));
        assert_eq!(r[0].preschool_classification, None);

        let (_, r) = on("back-side", REFERENCE_DATE);
        assert_eq!(r[0].name.as_deref(), Some("資格　ひかる"));
        assert_eq!(r[0].name_of_other.as_deref(), Some("他資格　光子"));
        assert_eq!(r[0].name_of_other_kana.as_deref(), Some("ﾀｼｶｸ ﾐﾂｺ"));
        assert_eq!(r[0].sex1, Some(Sex::Unset));
        assert_eq!(r[0].sex2, Some(Sex::Female));

        let (_, r) = on("elderly-recipient", REFERENCE_DATE);
        let elderly = r[0].elderly_recipient_certificate_info.as_ref().unwrap();
        assert_eq!(
            elderly.elderly_recipient_contribution_ratio.unwrap().code(),
            "020"
        );
        assert_eq!(
            elderly.elderly_recipient_valid_end_date,
            Some(date!(2027 - 07 - 31))
        );

        let (_, r) = on("late-elderly", REFERENCE_DATE);
        assert_eq!(
            r[0].insured_partial_contribution_ratio.unwrap().code(),
            "010"
        );
        assert_eq!(r[0].insured_branch_number, None);
        assert_eq!(r[0].personal_family_classification, None);
        assert_eq!(r[0].insured_card_symbol, None);

        let (_, r) = on("invalid-job-change", REFERENCE_DATE);
        assert_eq!(r[0].reason_of_loss, Some(ReasonOfLoss::Other));
        assert_eq!(
            r[0].insured_card_expiration_date,
            Some(date!(2026 - 10 - 31))
        );
        // The day before the loss it was valid.
        assert_eq!(on("invalid-job-change", date!(2026 - 10 - 31)).0, V::Valid);

        let (_, r) = on("invalid-newer", REFERENCE_DATE);
        assert_eq!(r[0].insured_identification_number.as_deref(), Some("8102"));
        let (validity, r) = on("invalid-newer", date!(2026 - 12 - 16));
        assert_eq!(validity, V::Valid);
        assert_eq!(r[0].insured_identification_number.as_deref(), Some("45"));

        let (_, r) = on("several", REFERENCE_DATE);
        let numbers: Vec<_> = r
            .iter()
            .map(|r| r.insurer_number.as_ref().unwrap().as_str())
            .collect();
        assert!(
            numbers.contains(&"  139998") && numbers.contains(&"06139990"),
            "{numbers:?}"
        );

        let (_, r) = on("disclosure-restricted", REFERENCE_DATE);
        assert_eq!(r[0].insured_name, None);
        assert_eq!(r[0].personal_family_classification, None);
        assert!(r[0].name.is_some() && r[0].insurer_number.is_some());

        let (_, r) = on("medical-assistance", REFERENCE_DATE);
        assert!(r[0].is_medical_assistance());
        assert_eq!(r[0].insurer_name.as_deref(), Some("かざす市福祉事務所"));
        assert_eq!(r[0].birthdate, Some(UNKNOWN_BIRTHDATE));
        // Before assistance started, the lost 国保 was what there was.
        assert_eq!(on("medical-assistance", date!(2025 - 05 - 31)).0, V::Valid);
        assert_eq!(
            on("medical-assistance", date!(2025 - 06 - 01)).0,
            V::ValidMedicalAssistanceOnly
        );

        let (_, r) = on("medical-assistance-and-insurance", REFERENCE_DATE);
        assert!(!r[0].is_medical_assistance());
        assert!(r[1].is_medical_assistance());
        let tickets = &r[1]
            .public_expense_result_list
            .as_ref()
            .unwrap()
            .medical_ticket_info;
        assert_eq!(tickets[0].self_pay_amount.as_deref(), Some("0"));

        assert_eq!(
            on("self-defense-forces", REFERENCE_DATE).1[0].insured_card_classification,
            Some(Class::SelfDefenseForces)
        );
        let (_, r) = on("special-medical-expenses", REFERENCE_DATE);
        assert_eq!(
            r[0].insured_card_classification,
            Some(Class::SpecialMedicalExpenses)
        );
        assert_eq!(r[0].insured_card_valid_date, Some(date!(2026 - 08 - 01)));
        assert_eq!(r[0].qualification_date, Some(date!(2019 - 04 - 01)));

        let (_, r) = on("national-health-insurance", REFERENCE_DATE);
        assert_eq!(r[0].insurer_number.as_ref().unwrap().as_str(), "  139998");
    }

    fn search_for(number: &str, insurer: &str, birth: Date) -> QualificationConfirmSearchInfo {
        QualificationConfirmSearchInfo {
            insurer_number: InsurerNumber::new(insurer).unwrap(),
            insured_card_symbol: None,
            insured_identification_number: number.into(),
            insured_branch_number: Some("00".into()),
            birthdate: birth,
            limit_application_certificate_related_cons_flg:
                LimitApplicationCertificateRelatedConsFlg::NotConsented,
        }
    }

    #[test]
    fn requests_by_insurance_card_number() {
        let newer = person("invalid-newer");
        let birth = newer.persona().birth_date;
        let old_card = search_for("8102", "06139990", birth);
        let options = LookupOptions {
            search: Some(&old_card),
            ..Default::default()
        };
        // After the new qualification has started, the old card still says 3.
        let (validity, r) = qualification_result(&newer, date!(2027 - 01 - 05), &options);
        assert_eq!(validity, V::InvalidNewerExists);
        assert_eq!(r[0].insured_identification_number.as_deref(), Some("8102"));
        // The new card is valid.
        let new_card = search_for("45", "01139995", birth);
        let options = LookupOptions {
            search: Some(&new_card),
            ..Default::default()
        };
        assert_eq!(
            qualification_result(&newer, date!(2027 - 01 - 05), &options).0,
            V::Valid
        );
        // A wrong birth date or symbol matches nothing.
        let mut wrong = search_for("45", "01139995", date!(1983 - 03 - 04));
        let options = LookupOptions {
            search: Some(&wrong),
            ..Default::default()
        };
        assert_eq!(
            qualification_result(&newer, date!(2027 - 01 - 05), &options).0,
            V::NoQualification
        );
        wrong.birthdate = birth;
        wrong.insured_card_symbol = Some("9999".into());
        let options = LookupOptions {
            search: Some(&wrong),
            ..Default::default()
        };
        assert_eq!(
            qualification_result(&newer, date!(2027 - 01 - 05), &options).0,
            V::NoQualification
        );
        // A 6-digit 国保 number matches padded or not; welfare is never shown.
        let both = person("medical-assistance-and-insurance");
        let search = QualificationConfirmSearchInfo {
            insured_branch_number: Some("01".into()),
            ..search_for("8105", "06139990", both.persona().birth_date)
        };
        let options = LookupOptions {
            search: Some(&search),
            ..Default::default()
        };
        let (validity, r) = qualification_result(&both, REFERENCE_DATE, &options);
        assert_eq!((validity, r.len()), (V::Valid, 1));
        let nhi = person("national-health-insurance");
        let search = QualificationConfirmSearchInfo {
            insured_branch_number: None,
            ..search_for("7002", "139998", nhi.persona().birth_date)
        };
        assert!(
            nhi.qualifications
                .iter()
                .any(|q| matches_search(&nhi, q, &search))
        );
    }

    #[test]
    fn hidden_fields_are_applied_to_welfare_too() {
        let mut p = person("medical-assistance");
        p.welfare[0].hidden.insert(ResultField::NameKana);
        let (_, r) = qualification_result(&p, REFERENCE_DATE, &LookupOptions::default());
        assert_eq!(r[0].name_kana, None);
        assert!(r[0].name.is_some());
    }
}

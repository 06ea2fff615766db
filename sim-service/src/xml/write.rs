//! Writing: an outcome as the XmlMsg a facility receives, in its encoding.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::XmlError;
use crate::model::dates::{format_yyyymmdd, format_yyyymmddhhmmss};
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, FieldValue, QualificationConfirmSearchInfo,
    ResultOfQualificationConfirmation,
};

/// Renders an outcome as the XmlMsg a facility receives, in its encoding.
pub fn render(outcome: &ConfirmationOutcome) -> Result<Vec<u8>, XmlError> {
    let identifier = outcome.message_header.character_code_identifier;
    let text = render_text(outcome)?;
    Ok(match identifier {
        CharacterCodeIdentifier::Utf8 => text.into_bytes(),
        CharacterCodeIdentifier::ShiftJis => {
            // Every text went through the Shift_JIS character rules, so nothing
            // is unmappable; should anything be, encoding_rs writes a numeric
            // character reference, which is still well-formed XML.
            let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
            bytes.into_owned()
        }
    })
}

/// The XmlMsg as a string, declaration included (before encoding).
pub fn render_text(outcome: &ConfirmationOutcome) -> Result<String, XmlError> {
    let identifier = outcome.message_header.character_code_identifier;
    let mut w = XmlWriter {
        inner: Writer::new_with_indent(Vec::new(), b' ', 2),
        identifier,
    };
    w.inner.write_event(Event::Decl(BytesDecl::new(
        "1.0",
        Some(identifier.xml_encoding_name()),
        Some("no"),
    )))?;
    w.open("XmlMsg", |w| {
        w.open("MessageHeader", |w| write_header(w, outcome))?;
        w.open("MessageBody", |w| write_body(w, outcome))
    })?;
    String::from_utf8(w.inner.into_inner()).map_err(|e| XmlError::Write(e.to_string()))
}

struct XmlWriter {
    inner: Writer<Vec<u8>>,
    identifier: CharacterCodeIdentifier,
}

impl XmlWriter {
    fn open(
        &mut self,
        name: &str,
        content: impl FnOnce(&mut XmlWriter) -> io::Result<()>,
    ) -> io::Result<()> {
        self.inner
            .write_event(Event::Start(quick_xml::events::BytesStart::new(name)))?;
        content(self)?;
        self.inner
            .write_event(Event::End(quick_xml::events::BytesEnd::new(name)))
    }

    fn leaf(&mut self, name: &str, text: &str) -> io::Result<()> {
        let text = self.identifier.received_text(text);
        self.inner
            .create_element(name)
            .write_text_content(BytesText::new(&text))?;
        Ok(())
    }

    fn optional(&mut self, name: &str, text: Option<&str>) -> io::Result<()> {
        match text {
            Some(text) => self.leaf(name, text),
            None => Ok(()),
        }
    }
}

fn write_header(w: &mut XmlWriter, outcome: &ConfirmationOutcome) -> io::Result<()> {
    let h = &outcome.message_header;
    w.leaf(
        "ProcessExecutionTime",
        &format_yyyymmddhhmmss(h.process_execution_time),
    )?;
    w.leaf(
        "QualificationConfirmationDate",
        &format_yyyymmdd(h.qualification_confirmation_date),
    )?;
    w.leaf(
        "MedicalInstitutionCode",
        h.medical_institution_code.as_str(),
    )?;
    w.optional(
        "ArbitraryFileIdentifier",
        h.arbitrary_file_identifier.as_deref(),
    )?;
    w.leaf("ReferenceClassification", h.reference_classification.code())?;
    w.leaf("SegmentOfResult", h.segment_of_result.code())?;
    w.optional("ErrorCode", h.error_code.as_deref())?;
    w.optional("ErrorMessage", h.error_message.as_deref())?;
    w.leaf(
        "CharacterCodeIdentifier",
        h.character_code_identifier.code(),
    )
}

fn write_body(w: &mut XmlWriter, outcome: &ConfirmationOutcome) -> io::Result<()> {
    let b = &outcome.message_body;
    w.optional(
        "ProcessingResultStatus",
        b.processing_result_status.map(|s| s.code()),
    )?;
    w.optional("ProcessingResultCode", b.processing_result_code.as_deref())?;
    w.optional(
        "ProcessingResultMessage",
        b.processing_result_message.as_deref(),
    )?;
    w.optional(
        "QualificationValidity",
        b.qualification_validity.map(|v| v.code()),
    )?;
    if !b.result_list.is_empty() {
        w.open("ResultList", |w| {
            for result in &b.result_list {
                w.open("ResultOfQualificationConfirmation", |w| {
                    write_result(w, result)
                })?;
            }
            Ok(())
        })?;
    }
    if let Some(search) = &b.qualification_confirm_search_info {
        w.open("QualificationConfirmSearchInfo", |w| {
            write_search_info(w, search)
        })?;
    }
    Ok(())
}

fn write_result(w: &mut XmlWriter, result: &ResultOfQualificationConfirmation) -> io::Result<()> {
    for (field, value) in result.present_fields() {
        let name = field.element_name();
        match value {
            FieldValue::Text(text) => w.leaf(name, &text)?,
            FieldValue::Elderly(info) => w.open(name, |w| {
                for (name, text) in info.present_fields() {
                    w.leaf(name, &text)?;
                }
                Ok(())
            })?,
            FieldValue::Tickets(list) => w.open(name, |w| {
                for ticket in &list.medical_ticket_info {
                    w.open("MedicalTicketInfo", |w| {
                        for (name, text) in ticket.present_fields() {
                            w.leaf(name, &text)?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?,
        }
    }
    Ok(())
}

fn write_search_info(w: &mut XmlWriter, s: &QualificationConfirmSearchInfo) -> io::Result<()> {
    w.leaf("InsurerNumber", s.insurer_number.as_str())?;
    w.optional("InsuredCardSymbol", s.insured_card_symbol.as_deref())?;
    w.leaf(
        "InsuredIdentificationNumber",
        &s.insured_identification_number,
    )?;
    w.optional("InsuredBranchNumber", s.insured_branch_number.as_deref())?;
    w.leaf("Birthdate", &format_yyyymmdd(s.birthdate))?;
    w.leaf(
        "LimitApplicationCertificateRelatedConsFlg",
        s.limit_application_certificate_related_cons_flg.code(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;
    use crate::fixtures::{self, REFERENCE_DATE};
    use crate::lookup::{LookupOptions, qualification_result};
    use crate::model::{
        InsurerNumber, LimitApplicationCertificateRelatedConsFlg, MedicalInstitutionCode,
        QualificationValidity, ReferenceClassification, ResponseContext, ResultField,
        SegmentOfResult,
    };
    use crate::xml::{XmlElement, parse_document, parse_response};
    use time::macros::{date, datetime};

    use CharacterCodeIdentifier::{ShiftJis, Utf8};

    fn context(identifier: CharacterCodeIdentifier) -> ResponseContext {
        ResponseContext {
            process_execution_time: datetime!(2026-12-01 10:15:30),
            qualification_confirmation_date: REFERENCE_DATE,
            medical_institution_code: MedicalInstitutionCode::new("0110000001").unwrap(),
            arbitrary_file_identifier: Some("face-0001".into()),
            reference_classification: ReferenceClassification::MyNumberCard,
            character_code_identifier: identifier,
        }
    }

    fn outcome_for(id: &str, identifier: CharacterCodeIdentifier) -> ConfirmationOutcome {
        let persons = fixtures::built_in().unwrap();
        let person = fixtures::find(&persons, id).unwrap();
        let facility = MedicalInstitutionCode::new("0110000001").unwrap();
        let options = LookupOptions {
            facility: Some(&facility),
            ..Default::default()
        };
        let (validity, results) = qualification_result(person, REFERENCE_DATE, &options);
        let outcome = ConfirmationOutcome::confirmed(&context(identifier), validity, results, None);
        if id == "expiring-soon" {
            outcome.with_notice(&codes::EXPIRY_WARNING).unwrap()
        } else {
            outcome
        }
    }

    fn decode(bytes: &[u8], identifier: CharacterCodeIdentifier) -> String {
        match identifier {
            Utf8 => String::from_utf8(bytes.to_vec()).unwrap(),
            ShiftJis => encoding_rs::SHIFT_JIS
                .decode_without_bom_handling_and_without_replacement(bytes)
                .expect("valid Shift_JIS")
                .into_owned(),
        }
    }

    #[test]
    fn every_built_in_case_renders_in_both_encodings_and_reads_back() {
        let persons = fixtures::built_in().unwrap();
        for person in &persons {
            for identifier in [Utf8, ShiftJis] {
                let outcome = outcome_for(&person.id, identifier);
                let bytes = render(&outcome).unwrap();
                let text = decode(&bytes, identifier);
                let declaration = format!(
                    "<?xml version=\"1.0\" encoding=\"{}\" standalone=\"no\"?>",
                    identifier.xml_encoding_name()
                );
                assert!(text.starts_with(&declaration), "{}: {text}", person.id);

                let root = parse_document(&bytes).unwrap();
                assert_eq!(root.name, "XmlMsg");
                let names: Vec<&str> = root.children.iter().map(|c| c.name.as_str()).collect();
                assert_eq!(names, ["MessageHeader", "MessageBody"]);
                let header = root.required("MessageHeader", "").unwrap();
                let value = |e: &XmlElement, n: &str| e.required(n, "").unwrap().text.clone();
                assert_eq!(value(header, "ProcessExecutionTime"), "20261201101530");
                assert_eq!(value(header, "QualificationConfirmationDate"), "20261201");
                assert_eq!(value(header, "CharacterCodeIdentifier"), identifier.code());
                assert_eq!(value(header, "SegmentOfResult"), "1");
                assert!(header.single("ErrorCode", "").unwrap().is_none());
                let body = root.required("MessageBody", "").unwrap();
                assert_eq!(value(body, "ProcessingResultStatus"), "1");
                assert_eq!(
                    value(body, "QualificationValidity"),
                    outcome.message_body.qualification_validity.unwrap().code()
                );
                let results: Vec<&XmlElement> = body
                    .children_named("ResultList")
                    .flat_map(|l| l.children.iter())
                    .collect();
                assert_eq!(
                    results.len(),
                    outcome.message_body.result_list.len(),
                    "{}",
                    person.id
                );
                for (element, result) in results.iter().zip(&outcome.message_body.result_list) {
                    assert_eq!(element.name, "ResultOfQualificationConfirmation");
                    let expected: Vec<&str> = result
                        .present_fields()
                        .into_iter()
                        .map(|(f, _)| f.element_name())
                        .collect();
                    let got: Vec<&str> = element.children.iter().map(|c| c.name.as_str()).collect();
                    assert_eq!(got, expected, "{}", person.id);
                    for (field, value) in result.present_fields() {
                        if let FieldValue::Text(text) = value {
                            assert_eq!(
                                element.required(field.element_name(), "").unwrap().text,
                                text,
                                "{}: {field:?}",
                                person.id
                            );
                        }
                    }
                }
                assert_eq!(parse_response(&bytes).unwrap(), outcome, "{}", person.id);
            }
        }
    }

    #[test]
    fn shift_jis_responses_carry_the_substitutions() {
        let sjis = render(&outcome_for("jis-level-3", ShiftJis)).unwrap();
        let text = decode(&sjis, ShiftJis);
        assert!(text.contains("<Name>高崎　徳子</Name>"), "{text}");
        assert!(text.contains("<NameKana>ﾀｶｻｷ ﾉﾘｺ</NameKana>"), "{text}");
        assert!(!text.contains('髙'));
        let utf8 = String::from_utf8(render(&outcome_for("jis-level-3", Utf8)).unwrap()).unwrap();
        assert!(utf8.contains("<Name>髙﨑　德子</Name>"), "{utf8}");

        let sjis = decode(
            &render(&outcome_for("jis-unmappable", ShiftJis)).unwrap(),
            ShiftJis,
        );
        assert!(sjis.contains("<Name>草●　●男</Name>"), "{sjis}");
        let utf8 =
            String::from_utf8(render(&outcome_for("jis-unmappable", Utf8)).unwrap()).unwrap();
        assert!(utf8.contains("<Name>草彅　●男</Name>"), "{utf8}");

        // The padded 国保 number keeps its two spaces, in both encodings.
        for identifier in [Utf8, ShiftJis] {
            let text = decode(
                &render(&outcome_for("national-health-insurance", identifier)).unwrap(),
                identifier,
            );
            assert!(
                text.contains("<InsurerNumber>  139998</InsurerNumber>"),
                "{text}"
            );
        }
    }

    #[test]
    fn special_characters_are_escaped_and_come_back() {
        let mut outcome = outcome_for("valid", Utf8);
        outcome.message_body.result_list[0].insurer_name = Some("A&B <組合> \"x\" 'y'".into());
        outcome.message_header.arbitrary_file_identifier = Some("<&>".into());
        let bytes = render(&outcome).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("A&amp;B &lt;組合&gt;"), "{text}");
        assert!(!text.contains("<組合>"));
        assert_eq!(parse_response(&bytes).unwrap(), outcome);
    }

    #[test]
    fn refusals_failures_and_echoed_searches_round_trip() {
        let mut ctx = context(ShiftJis);
        ctx.reference_classification = ReferenceClassification::InsuredCardInfo;
        let search = QualificationConfirmSearchInfo {
            insurer_number: InsurerNumber::new("139998").unwrap(),
            insured_card_symbol: None,
            insured_identification_number: "7002".into(),
            insured_branch_number: Some("01".into()),
            birthdate: date!(1970 - 01 - 31),
            limit_application_certificate_related_cons_flg:
                LimitApplicationCertificateRelatedConsFlg::Consented,
        };
        let confirmed = ConfirmationOutcome::confirmed(
            &ctx,
            QualificationValidity::NoQualification,
            vec![],
            Some(search.clone()),
        );
        let refused =
            ConfirmationOutcome::refused(&ctx, &codes::CERTIFICATE_REVOKED, Some(search)).unwrap();
        let failed = ConfirmationOutcome::failed(&ctx, &codes::MALFORMED_REQUEST).unwrap();
        for outcome in [confirmed, refused, failed] {
            let bytes = render(&outcome).unwrap();
            assert_eq!(parse_response(&bytes).unwrap(), outcome);
        }
        let failed = ConfirmationOutcome::failed(&ctx, &codes::UNKNOWN_FACILITY).unwrap();
        let text = decode(&render(&failed).unwrap(), ShiftJis);
        assert!(text.contains("<SegmentOfResult>9</SegmentOfResult>"));
        assert!(text.contains("<ErrorCode>KZF902</ErrorCode>"));
        assert!(!text.contains("ResultList"));
        assert_eq!(
            failed.message_header.segment_of_result,
            SegmentOfResult::Failed
        );
    }

    #[test]
    fn result_elements_are_the_official_names() {
        let all: Vec<&str> = ResultField::ALL.iter().map(|f| f.element_name()).collect();
        for name in [
            "InsurerNumber",
            "InsurerName",
            "InsuredCardSymbol",
            "InsuredIdentificationNumber",
            "InsuredBranchNumber",
            "PersonalFamilyClassification",
            "InsuredName",
            "Name",
            "NameKana",
            "NameOfOther",
            "NameOfOtherKana",
            "Sex1",
            "Sex2",
            "Birthdate",
            "InsuredCardClassification",
            "InsuredCardValidDate",
            "InsuredCardExpirationDate",
            "QualificationDate",
            "InsuredPartialContributionRatio",
            "PreschoolClassification",
            "ReasonOfLoss",
            "ReferenceNumber",
            "ElderlyRecipientCertificateInfo",
        ] {
            assert!(all.contains(&name), "{name}");
        }
    }
}

//! 照会番号 (reference number): a facility's own patient number (診察券番号,
//! カルテ番号) registered against a person's qualification, and carried as
//! `ReferenceNumber` on every later result for that person at that facility.
//!
//! The manual (運用マニュアル 第2章 照会番号; docs/service-rules.md, Reference numbers): once registered,
//! the number stays with the **person**, even when their insurer changes. The
//! registration names one qualification (ReferenceNumberRegistrationInfo
//! {ReferenceNumber, InsurerNumber, InsuredCardSymbol,
//! InsuredIdentificationNumber, InsuredBranchNumber}); the service finds the
//! person holding it (any of their qualifications, current or lost) and links
//! the number to the person, so a later confirmation under a new insurer
//! still carries it. Another facility never sees it.
//!
//! The simulator's choices (the real formats are not public):
//! - a 照会番号 is 1 to [`MAX_REFERENCE_NUMBER_CHARS`] half-width letters,
//!   digits or `-`;
//! - registering again for the same person replaces the number; a number the
//!   facility already gave another person is refused
//!   ([`codes::REFERENCE_NUMBER_IN_USE`]);
//! - 記号 and 枝番 may be omitted; when the rest matches several persons (a
//!   family under one 記号・番号) the request is refused as ambiguous;
//! - a number registered through the service wins over a fixture's
//!   `reference_numbers` entry for the same facility.
//!
//! The file form (OQSsiimm01req → OQSsiimm01res) is an XmlMsg:
//!
//! ```xml
//! <XmlMsg>
//!   <MessageHeader>
//!     <MedicalInstitutionCode>0110000001</MedicalInstitutionCode>
//!     <ArbitraryFileIdentifier>any</ArbitraryFileIdentifier>   <!-- optional -->
//!   </MessageHeader>
//!   <MessageBody>
//!     <ReferenceNumberRegistrationInfo>
//!       <ReferenceNumber>K0001</ReferenceNumber>
//!       <InsurerNumber>06139990</InsurerNumber>
//!       <InsuredCardSymbol>1001</InsuredCardSymbol>            <!-- optional -->
//!       <InsuredIdentificationNumber>5678</InsuredIdentificationNumber>
//!       <InsuredBranchNumber>00</InsuredBranchNumber>          <!-- optional -->
//!     </ReferenceNumberRegistrationInfo>
//!   </MessageBody>
//! </XmlMsg>
//! ```
//!
//! The response has the confirmation response's header (without the
//! confirmation date and ReferenceClassification) and a body with
//! ProcessingResultStatus (1 registered, 2 refused, with
//! ProcessingResultCode/Message) and the registration echoed.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::{Deserialize, Serialize};
use time::PrimitiveDateTime;

use crate::codes::{self, ResultCode};
use crate::fixtures::InsuredPerson;
use crate::model::dates::format_yyyymmddhhmmss;
use crate::model::{
    CharacterCodeIdentifier, InsurerNumber, MedicalInstitutionCode, ProcessingResultStatus,
    SegmentOfResult,
};
use crate::store::{ReferenceNumberStoreError, Store, StoreError};
use crate::xml::{self, XmlError};

/// The longest 照会番号 the simulator accepts.
pub const MAX_REFERENCE_NUMBER_CHARS: usize = 20;

/// ReferenceNumberRegistrationInfo: the number and the qualification it is
/// registered against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReferenceNumberRegistrationInfo {
    pub reference_number: String,
    #[schema(value_type = String)]
    pub insurer_number: InsurerNumber,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_card_symbol: Option<String>,
    pub insured_identification_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_branch_number: Option<String>,
}

/// A whole registration request (OQSsiimm01req).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceNumberRegistration {
    pub medical_institution_code: MedicalInstitutionCode,
    pub arbitrary_file_identifier: Option<String>,
    pub info: ReferenceNumberRegistrationInfo,
}

/// Checks a 照会番号's form.
pub fn check_reference_number(text: &str) -> Result<(), String> {
    let count = text.chars().count();
    if count == 0 || count > MAX_REFERENCE_NUMBER_CHARS {
        return Err(format!(
            "reference number {text:?}: 1 to {MAX_REFERENCE_NUMBER_CHARS} characters"
        ));
    }
    if !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!(
            "reference number {text:?}: half-width letters, digits and '-' only"
        ));
    }
    Ok(())
}

impl ReferenceNumberRegistrationInfo {
    /// Checks every field's form (what a JSON request did not go through).
    pub fn check(&self) -> Result<(), String> {
        check_reference_number(&self.reference_number)?;
        if self.insured_identification_number.is_empty() {
            return Err("InsuredIdentificationNumber is empty".into());
        }
        if let Some(branch) = &self.insured_branch_number {
            crate::model::check_branch_number(branch)?;
        }
        Ok(())
    }

    fn matches(&self, person: &InsuredPerson) -> bool {
        fn given(field: &Option<String>) -> Option<&str> {
            field.as_deref().filter(|s| !s.is_empty())
        }
        person.qualifications.iter().any(|q| {
            q.insurer_number == self.insurer_number
                && q.number == self.insured_identification_number
                && given(&self.insured_card_symbol).is_none_or(|s| q.symbol.as_deref() == Some(s))
                && given(&self.insured_branch_number).is_none_or(|b| q.branch.as_deref() == Some(b))
        })
    }
}

/// Why a registration was refused (a processed request: status 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No qualification matches.
    NoQualification,
    /// Several persons match (記号 or 枝番 omitted).
    Ambiguous,
    /// The facility gave this number to another person.
    InUse,
}

impl Refusal {
    pub fn code(self) -> &'static ResultCode {
        match self {
            Refusal::NoQualification => &codes::REFERENCE_NUMBER_NO_QUALIFICATION,
            Refusal::Ambiguous => &codes::REFERENCE_NUMBER_AMBIGUOUS,
            Refusal::InUse => &codes::REFERENCE_NUMBER_IN_USE,
        }
    }
}

/// The person a registration names.
pub fn find_person<'a>(
    persons: &'a [InsuredPerson],
    info: &ReferenceNumberRegistrationInfo,
) -> Result<&'a InsuredPerson, Refusal> {
    let mut found = persons.iter().filter(|p| info.matches(p));
    match (found.next(), found.next()) {
        (Some(person), None) => Ok(person),
        (None, _) => Err(Refusal::NoQualification),
        (Some(_), Some(_)) => Err(Refusal::Ambiguous),
    }
}

/// Puts the 照会番号 registered through the service, `(facility, number)`,
/// onto the person as the lookup reads them (over the fixture's).
pub fn overlay(person: &mut InsuredPerson, registered: Vec<(String, String)>) {
    person.reference_numbers.extend(registered);
}

/// Registers a 照会番号: finds the person, stores the link. `Ok(Err(_))` is
/// a refusal the facility is told about; `Err` a store failure.
pub fn register(
    store: &Store,
    persons: &[InsuredPerson],
    registration: &ReferenceNumberRegistration,
    now: time::OffsetDateTime,
) -> Result<Result<String, Refusal>, StoreError> {
    let person = match find_person(persons, &registration.info) {
        Ok(person) => person,
        Err(refusal) => return Ok(Err(refusal)),
    };
    match store.register_reference_number(
        registration.medical_institution_code.as_str(),
        &person.id,
        &registration.info.reference_number,
        now,
    ) {
        Ok(()) => Ok(Ok(person.id.clone())),
        Err(ReferenceNumberStoreError::InUse) => Ok(Err(Refusal::InUse)),
        Err(ReferenceNumberStoreError::Store(e)) => Err(e),
    }
}

/// Reads an OQSsiimm01req with the guarded reader (no DTD, no entities,
/// bounded), in UTF-8 or Shift_JIS.
pub fn parse_request(bytes: &[u8]) -> Result<ReferenceNumberRegistration, XmlError> {
    let root = xml::parse_document(bytes)?;
    if root.name != "XmlMsg" {
        return Err(XmlError::UnexpectedRoot {
            found: root.name,
            expected: "XmlMsg",
        });
    }
    const HEADER: &str = "XmlMsg/MessageHeader";
    const INFO: &str = "XmlMsg/MessageBody/ReferenceNumberRegistrationInfo";
    let header = root.required("MessageHeader", "XmlMsg")?;
    let body = root.required("MessageBody", "XmlMsg")?;
    let info = body.required("ReferenceNumberRegistrationInfo", "XmlMsg/MessageBody")?;
    let code = xml::required_text(header, "MedicalInstitutionCode", HEADER)?;
    let medical_institution_code = MedicalInstitutionCode::new(&code)
        .map_err(|e| xml::invalid(&format!("{HEADER}/MedicalInstitutionCode"), e))?;
    let arbitrary_file_identifier = xml::optional_text(header, "ArbitraryFileIdentifier", HEADER)?;
    let insurer = xml::required_text(info, "InsurerNumber", INFO)?;
    let parsed = ReferenceNumberRegistrationInfo {
        reference_number: xml::required_text(info, "ReferenceNumber", INFO)?,
        insurer_number: InsurerNumber::new(&insurer)
            .map_err(|e| xml::invalid(&format!("{INFO}/InsurerNumber"), e))?,
        insured_card_symbol: xml::optional_text(info, "InsuredCardSymbol", INFO)?,
        insured_identification_number: xml::required_text(
            info,
            "InsuredIdentificationNumber",
            INFO,
        )?,
        insured_branch_number: xml::optional_text(info, "InsuredBranchNumber", INFO)?,
    };
    parsed.check().map_err(|e| xml::invalid(INFO, e))?;
    Ok(ReferenceNumberRegistration {
        medical_institution_code,
        arbitrary_file_identifier,
        info: parsed,
    })
}

/// What an OQSsiimm01res says.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationResponse {
    pub process_execution_time: PrimitiveDateTime,
    pub medical_institution_code: MedicalInstitutionCode,
    pub arbitrary_file_identifier: Option<String>,
    pub character_code_identifier: CharacterCodeIdentifier,
    pub answer: RegistrationAnswer,
}

/// Registered, refused, or not processed at all.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistrationAnswer {
    Registered(ReferenceNumberRegistrationInfo),
    Refused(ReferenceNumberRegistrationInfo, Refusal),
    /// SegmentOfResult 9: the request could not be read.
    Failed(&'static ResultCode),
}

fn leaf(
    w: &mut Writer<Vec<u8>>,
    identifier: CharacterCodeIdentifier,
    name: &str,
    text: &str,
) -> io::Result<()> {
    let text = identifier.received_text(text);
    w.create_element(name)
        .write_text_content(BytesText::new(&text))?;
    Ok(())
}

fn open(w: &mut Writer<Vec<u8>>, name: &str) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))
}

fn close(w: &mut Writer<Vec<u8>>, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// Renders an OQSsiimm01res in the facility's encoding.
pub fn render_response(r: &RegistrationResponse) -> Result<Vec<u8>, XmlError> {
    let id = r.character_code_identifier;
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new(
        "1.0",
        Some(id.xml_encoding_name()),
        Some("no"),
    )))?;
    open(&mut w, "XmlMsg")?;
    open(&mut w, "MessageHeader")?;
    leaf(
        &mut w,
        id,
        "ProcessExecutionTime",
        &format_yyyymmddhhmmss(r.process_execution_time),
    )?;
    leaf(
        &mut w,
        id,
        "MedicalInstitutionCode",
        r.medical_institution_code.as_str(),
    )?;
    if let Some(file) = &r.arbitrary_file_identifier {
        leaf(&mut w, id, "ArbitraryFileIdentifier", file)?;
    }
    let segment = match r.answer {
        RegistrationAnswer::Failed(_) => SegmentOfResult::Failed,
        _ => SegmentOfResult::Completed,
    };
    leaf(&mut w, id, "SegmentOfResult", segment.code())?;
    if let RegistrationAnswer::Failed(code) = r.answer {
        leaf(&mut w, id, "ErrorCode", code.code)?;
        leaf(&mut w, id, "ErrorMessage", code.message)?;
    }
    leaf(&mut w, id, "CharacterCodeIdentifier", id.code())?;
    close(&mut w, "MessageHeader")?;
    open(&mut w, "MessageBody")?;
    let info = match &r.answer {
        RegistrationAnswer::Registered(info) => {
            leaf(
                &mut w,
                id,
                "ProcessingResultStatus",
                ProcessingResultStatus::Ok.code(),
            )?;
            Some(info)
        }
        RegistrationAnswer::Refused(info, refusal) => {
            leaf(
                &mut w,
                id,
                "ProcessingResultStatus",
                ProcessingResultStatus::Error.code(),
            )?;
            leaf(&mut w, id, "ProcessingResultCode", refusal.code().code)?;
            leaf(
                &mut w,
                id,
                "ProcessingResultMessage",
                refusal.code().message,
            )?;
            Some(info)
        }
        RegistrationAnswer::Failed(_) => None,
    };
    if let Some(info) = info {
        open(&mut w, "ReferenceNumberRegistrationInfo")?;
        leaf(&mut w, id, "ReferenceNumber", &info.reference_number)?;
        leaf(&mut w, id, "InsurerNumber", info.insurer_number.as_str())?;
        if let Some(symbol) = &info.insured_card_symbol {
            leaf(&mut w, id, "InsuredCardSymbol", symbol)?;
        }
        leaf(
            &mut w,
            id,
            "InsuredIdentificationNumber",
            &info.insured_identification_number,
        )?;
        if let Some(branch) = &info.insured_branch_number {
            leaf(&mut w, id, "InsuredBranchNumber", branch)?;
        }
        close(&mut w, "ReferenceNumberRegistrationInfo")?;
    }
    close(&mut w, "MessageBody")?;
    close(&mut w, "XmlMsg")?;
    let text = String::from_utf8(w.into_inner()).map_err(|e| XmlError::Write(e.to_string()))?;
    Ok(match id {
        CharacterCodeIdentifier::Utf8 => text.into_bytes(),
        CharacterCodeIdentifier::ShiftJis => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use proptest::prelude::*;

    fn info(
        number: &str,
        insurer: &str,
        symbol: Option<&str>,
        id: &str,
    ) -> ReferenceNumberRegistrationInfo {
        ReferenceNumberRegistrationInfo {
            reference_number: number.into(),
            insurer_number: InsurerNumber::new(insurer).unwrap(),
            insured_card_symbol: symbol.map(str::to_string),
            insured_identification_number: id.into(),
            insured_branch_number: None,
        }
    }

    #[test]
    fn the_form_of_a_reference_number() {
        assert!(check_reference_number("K0001").is_ok());
        assert!(check_reference_number("2026-0001").is_ok());
        assert!(check_reference_number("").is_err());
        assert!(check_reference_number("１２３").is_err());
        assert!(check_reference_number("a b").is_err());
        assert!(check_reference_number(&"9".repeat(21)).is_err());
    }

    #[test]
    fn an_old_qualification_finds_the_person() {
        let persons = fixtures::built_in().unwrap();
        let newer = persons.iter().find(|p| p.id == "invalid-newer").unwrap();
        for q in &newer.qualifications {
            let found = find_person(
                &persons,
                &info(
                    "R1",
                    q.insurer_number.as_str(),
                    q.symbol.as_deref(),
                    &q.number,
                ),
            )
            .unwrap();
            assert_eq!(found.id, "invalid-newer");
        }
        assert_eq!(
            find_person(&persons, &info("R1", "06139990", None, "no-such")).unwrap_err(),
            Refusal::NoQualification
        );
    }

    #[test]
    fn request_round_trip_and_hostile_input() {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
            <XmlMsg><MessageBody><ReferenceNumberRegistrationInfo>\
            <InsuredIdentificationNumber>5678</InsuredIdentificationNumber>\
            <ReferenceNumber>K9</ReferenceNumber><InsurerNumber>06139990</InsurerNumber>\
            </ReferenceNumberRegistrationInfo></MessageBody>\
            <MessageHeader><MedicalInstitutionCode>0110000001</MedicalInstitutionCode></MessageHeader></XmlMsg>";
        let r = parse_request(text.as_bytes()).unwrap();
        assert_eq!(r.info.reference_number, "K9");
        assert_eq!(r.info.insured_card_symbol, None);
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><XmlMsg>&a;</XmlMsg>";
        assert!(matches!(
            parse_request(bomb.as_bytes()),
            Err(XmlError::Forbidden(_))
        ));
        let bad_number = text.replace("K9", "K 9");
        assert!(matches!(
            parse_request(bad_number.as_bytes()),
            Err(XmlError::InvalidValue { .. })
        ));
    }

    #[test]
    fn responses_in_both_encodings() {
        for id in [
            CharacterCodeIdentifier::Utf8,
            CharacterCodeIdentifier::ShiftJis,
        ] {
            let response = RegistrationResponse {
                process_execution_time: time::macros::datetime!(2026-12-01 10:00:00),
                medical_institution_code: MedicalInstitutionCode::new("0110000001").unwrap(),
                arbitrary_file_identifier: Some("f1".into()),
                character_code_identifier: id,
                answer: RegistrationAnswer::Refused(
                    info("K1", "06139990", None, "5678"),
                    Refusal::InUse,
                ),
            };
            let bytes = render_response(&response).unwrap();
            let root = xml::parse_document(&bytes).unwrap();
            let body = root.required("MessageBody", "XmlMsg").unwrap();
            let message = body
                .required("ProcessingResultMessage", "")
                .unwrap()
                .text
                .clone();
            assert_eq!(message, codes::REFERENCE_NUMBER_IN_USE.message);
            assert_eq!(
                body.required("ProcessingResultStatus", "").unwrap().text,
                "2"
            );
        }
    }

    proptest! {
        #[test]
        fn the_request_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request(&bytes);
        }
    }
}

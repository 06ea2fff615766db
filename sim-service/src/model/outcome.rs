//! A confirmation outcome: what the HTTP edge renders as JSON, and as XmlMsg.

use serde::{Deserialize, Serialize};
use time::{Date, PrimitiveDateTime};

use super::dates::{yyyymmdd, yyyymmddhhmmss};
use super::numbers::MedicalInstitutionCode;
use super::request::QualificationConfirmSearchInfo;
use super::result::ResultOfQualificationConfirmation;
use super::values::{
    CharacterCodeIdentifier, ProcessingResultStatus, QualificationValidity,
    ReferenceClassification, SegmentOfResult,
};
use crate::codes::{CodeLevel, ResultCode};

/// The outcome of one confirmation, shaped like the XmlMsg it renders to.
///
/// In JSON the result list is an array (`"ResultList": [ {...} ]`) rather than
/// the XML's repeated ResultOfQualificationConfirmation elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConfirmationOutcome {
    pub message_header: MessageHeader,
    pub message_body: MessageBody,
}

/// MessageHeader of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MessageHeader {
    #[serde(with = "yyyymmddhhmmss")]
    pub process_execution_time: PrimitiveDateTime,
    #[serde(with = "yyyymmdd")]
    pub qualification_confirmation_date: Date,
    pub medical_institution_code: MedicalInstitutionCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrary_file_identifier: Option<String>,
    pub reference_classification: ReferenceClassification,
    pub segment_of_result: SegmentOfResult,
    /// Only when SegmentOfResult is not 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    pub character_code_identifier: CharacterCodeIdentifier,
}

/// MessageBody of a response. Empty when the request failed (SegmentOfResult 9).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct MessageBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result_status: Option<ProcessingResultStatus>,
    /// A refusal's code, or a notice's (the expiry warning) beside status 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_validity: Option<QualificationValidity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub result_list: Vec<ResultOfQualificationConfirmation>,
    /// The request's search key, echoed (insurance-card-number requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_confirm_search_info: Option<QualificationConfirmSearchInfo>,
}

/// What every response's header is made of, known before the outcome is.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseContext {
    /// When the service processed the request (its clock, JST).
    pub process_execution_time: PrimitiveDateTime,
    pub qualification_confirmation_date: Date,
    pub medical_institution_code: MedicalInstitutionCode,
    pub arbitrary_file_identifier: Option<String>,
    pub reference_classification: ReferenceClassification,
    /// The facility's setting: decides the encoding and the character rules.
    pub character_code_identifier: CharacterCodeIdentifier,
}

impl ResponseContext {
    fn header(&self, segment: SegmentOfResult) -> MessageHeader {
        MessageHeader {
            process_execution_time: self.process_execution_time,
            qualification_confirmation_date: self.qualification_confirmation_date,
            medical_institution_code: self.medical_institution_code.clone(),
            arbitrary_file_identifier: self.arbitrary_file_identifier.clone(),
            reference_classification: self.reference_classification,
            segment_of_result: segment,
            error_code: None,
            error_message: None,
            character_code_identifier: self.character_code_identifier,
        }
    }
}

/// Why an outcome could not be built as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeError {
    #[error("code {code} is a {level:?}, not a {expected:?}")]
    WrongLevel {
        code: &'static str,
        level: CodeLevel,
        expected: CodeLevel,
    },
}

fn expect_level(code: &ResultCode, expected: CodeLevel) -> Result<(), OutcomeError> {
    if code.level == expected {
        Ok(())
    } else {
        Err(OutcomeError::WrongLevel {
            code: code.code,
            level: code.level,
            expected,
        })
    }
}

impl ConfirmationOutcome {
    /// A processed confirmation: the validity and the results to show.
    ///
    /// The results go through the character rules of the facility's setting
    /// (see [`crate::charset`]), so JSON and XML carry the same text.
    pub fn confirmed(
        context: &ResponseContext,
        validity: QualificationValidity,
        mut results: Vec<ResultOfQualificationConfirmation>,
        search: Option<QualificationConfirmSearchInfo>,
    ) -> Self {
        let identifier = context.character_code_identifier;
        for result in &mut results {
            result.map_text(&|text| identifier.received_text(text));
        }
        ConfirmationOutcome {
            message_header: context.header(SegmentOfResult::Completed),
            message_body: MessageBody {
                processing_result_status: Some(ProcessingResultStatus::Ok),
                processing_result_code: None,
                processing_result_message: None,
                qualification_validity: Some(validity),
                result_list: results,
                qualification_confirm_search_info: search,
            },
        }
    }

    /// Adds a notice (the expiry warning, the grace period) to a confirmed
    /// outcome. Only [`CodeLevel::Notice`] codes are accepted.
    pub fn with_notice(mut self, notice: &ResultCode) -> Result<Self, OutcomeError> {
        expect_level(notice, CodeLevel::Notice)?;
        self.message_body.processing_result_code = Some(notice.code.to_string());
        self.message_body.processing_result_message = Some(notice.message.to_string());
        Ok(self)
    }

    /// A processed request whose answer is a refusal (revoked or expired
    /// certificate, card not registered, …): ProcessingResultStatus 2 and no
    /// results. Only [`CodeLevel::Refusal`] codes are accepted.
    pub fn refused(
        context: &ResponseContext,
        refusal: &ResultCode,
        search: Option<QualificationConfirmSearchInfo>,
    ) -> Result<Self, OutcomeError> {
        expect_level(refusal, CodeLevel::Refusal)?;
        Ok(ConfirmationOutcome {
            message_header: context.header(SegmentOfResult::Completed),
            message_body: MessageBody {
                processing_result_status: Some(ProcessingResultStatus::Error),
                processing_result_code: Some(refusal.code.to_string()),
                processing_result_message: Some(refusal.message.to_string()),
                qualification_validity: None,
                result_list: Vec::new(),
                qualification_confirm_search_info: search,
            },
        })
    }

    /// A request the service could not process: SegmentOfResult 9 with the
    /// header's ErrorCode and ErrorMessage, and an empty body. Only
    /// [`CodeLevel::Failure`] codes are accepted.
    pub fn failed(context: &ResponseContext, failure: &ResultCode) -> Result<Self, OutcomeError> {
        expect_level(failure, CodeLevel::Failure)?;
        let mut header = context.header(SegmentOfResult::Failed);
        header.error_code = Some(failure.code.to_string());
        header.error_message = Some(failure.message.to_string());
        Ok(ConfirmationOutcome {
            message_header: header,
            message_body: MessageBody::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;
    use time::macros::{date, datetime};

    pub(crate) fn context(identifier: CharacterCodeIdentifier) -> ResponseContext {
        ResponseContext {
            process_execution_time: datetime!(2026-12-01 10:15:00),
            qualification_confirmation_date: date!(2026 - 12 - 01),
            medical_institution_code: MedicalInstitutionCode::new("0110000001").unwrap(),
            arbitrary_file_identifier: Some("req-1".into()),
            reference_classification: ReferenceClassification::MyNumberCard,
            character_code_identifier: identifier,
        }
    }

    #[test]
    fn confirmed_outcomes_apply_the_facilitys_character_rules() {
        let result = ResultOfQualificationConfirmation {
            name: Some("髙﨑　德子".into()),
            ..Default::default()
        };
        let sjis = ConfirmationOutcome::confirmed(
            &context(CharacterCodeIdentifier::ShiftJis),
            QualificationValidity::Valid,
            vec![result.clone()],
            None,
        );
        assert_eq!(
            sjis.message_body.result_list[0].name.as_deref(),
            Some("高崎　徳子")
        );
        let utf8 = ConfirmationOutcome::confirmed(
            &context(CharacterCodeIdentifier::Utf8),
            QualificationValidity::Valid,
            vec![result],
            None,
        );
        assert_eq!(
            utf8.message_body.result_list[0].name.as_deref(),
            Some("髙﨑　德子")
        );
    }

    #[test]
    fn codes_go_where_their_level_says() {
        let ctx = context(CharacterCodeIdentifier::Utf8);
        let warned =
            ConfirmationOutcome::confirmed(&ctx, QualificationValidity::Valid, vec![], None)
                .with_notice(&codes::EXPIRY_WARNING)
                .unwrap();
        assert_eq!(
            warned.message_body.processing_result_status,
            Some(ProcessingResultStatus::Ok)
        );
        assert_eq!(
            warned.message_body.processing_result_code.as_deref(),
            Some("KZN001")
        );

        let refused =
            ConfirmationOutcome::refused(&ctx, &codes::CERTIFICATE_REVOKED, None).unwrap();
        assert_eq!(
            refused.message_body.processing_result_status,
            Some(ProcessingResultStatus::Error)
        );
        assert_eq!(
            refused.message_header.segment_of_result,
            SegmentOfResult::Completed
        );

        let failed = ConfirmationOutcome::failed(&ctx, &codes::MALFORMED_REQUEST).unwrap();
        assert_eq!(
            failed.message_header.segment_of_result,
            SegmentOfResult::Failed
        );
        assert_eq!(failed.message_header.error_code.as_deref(), Some("KZF901"));
        assert_eq!(failed.message_body, MessageBody::default());

        assert!(ConfirmationOutcome::failed(&ctx, &codes::EXPIRY_WARNING).is_err());
        assert!(ConfirmationOutcome::refused(&ctx, &codes::MALFORMED_REQUEST, None).is_err());
    }

    #[test]
    fn json_has_the_xml_names() {
        let outcome = ConfirmationOutcome::confirmed(
            &context(CharacterCodeIdentifier::Utf8),
            QualificationValidity::NoQualification,
            vec![],
            None,
        );
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(
            json["MessageHeader"]["ProcessExecutionTime"],
            "20261201101500"
        );
        assert_eq!(json["MessageHeader"]["SegmentOfResult"], "1");
        assert_eq!(json["MessageHeader"]["CharacterCodeIdentifier"], "0");
        assert_eq!(json["MessageBody"]["QualificationValidity"], "4");
        let back: ConfirmationOutcome = serde_json::from_value(json).unwrap();
        assert_eq!(back, outcome);
    }
}

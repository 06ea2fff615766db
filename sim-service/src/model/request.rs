//! A confirmation request by insurance card number (OQSsiquc01req).

use serde::{Deserialize, Serialize};
use time::Date;

use super::dates::yyyymmdd;
use super::numbers::{InsurerNumber, MedicalInstitutionCode};
use super::values::LimitApplicationCertificateRelatedConsFlg;

/// QualificationConfirmSearchInfo: the insurance card number a facility asks
/// about, echoed back in the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct QualificationConfirmSearchInfo {
    pub insurer_number: InsurerNumber,
    /// 記号: some insurers have none, and the request may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_card_symbol: Option<String>,
    pub insured_identification_number: String,
    /// 枝番: absent for 後期高齢者.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insured_branch_number: Option<String>,
    #[serde(with = "yyyymmdd")]
    pub birthdate: Date,
    pub limit_application_certificate_related_cons_flg: LimitApplicationCertificateRelatedConsFlg,
}

/// The header of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RequestHeader {
    /// The date the facility confirms for (the service checks it against its clock).
    #[serde(with = "yyyymmdd")]
    pub qualification_confirmation_date: Date,
    pub medical_institution_code: MedicalInstitutionCode,
    /// Any identifier the facility chose, echoed in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrary_file_identifier: Option<String>,
}

/// A whole OQSsiquc01req.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct QualificationConfirmationRequest {
    pub message_header: RequestHeader,
    pub qualification_confirm_search_info: QualificationConfirmSearchInfo,
}

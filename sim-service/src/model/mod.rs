//! The domain of the service's results, under the official element names.
//!
//! Pure data: no IO, no clock. Names follow the XML elements of the file
//! interface (資格確認結果) so that a reader of the code and a reader of an
//! XML file talk about the same things.

pub mod dates;
pub mod numbers;
pub mod outcome;
pub mod request;
pub mod result;
pub mod values;

pub use numbers::{ContributionRatio, InsurerNumber, MedicalInstitutionCode, check_branch_number};
pub use outcome::{ConfirmationOutcome, MessageBody, MessageHeader, OutcomeError, ResponseContext};
pub use request::{
    QualificationConfirmSearchInfo, QualificationConfirmationRequest, RequestHeader,
};
pub use result::{
    ElderlyRecipientCertificateInfo, FieldValue, MedicalAssistanceDetails, MedicalTicketInfo,
    PublicExpenseResultList, ResultField, ResultOfQualificationConfirmation, UNKNOWN_BIRTHDATE,
};
pub use values::{
    CharacterCodeIdentifier, InsuredCardClassification, LimitApplicationCertificateRelatedConsFlg,
    PersonalFamilyClassification, PreschoolClassification, ProcessingResultStatus,
    QualificationValidity, ReasonOfLoss, ReferenceClassification, SegmentOfResult, Sex, TicketType,
};

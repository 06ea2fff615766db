//! Reading: the guarded reader for requests (OQSsiquc01req) and responses.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::{MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_ELEMENTS, XmlError};
use crate::model::dates::parse_yyyymmdd;
use crate::model::{
    CharacterCodeIdentifier, ConfirmationOutcome, InsurerNumber,
    LimitApplicationCertificateRelatedConsFlg, MedicalInstitutionCode,
    QualificationConfirmSearchInfo, QualificationConfirmationRequest, RequestHeader,
};

/// An element of a parsed document: its name, its text (for a leaf), and its
/// children in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlElement {
    /// The local name (a namespace prefix, if any, is dropped).
    pub name: String,
    /// The text directly inside the element, untrimmed, entities resolved.
    pub text: String,
    pub children: Vec<XmlElement>,
}

impl XmlElement {
    /// Every child with this name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlElement> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The one child with this name: `Ok(None)` when absent, an error when
    /// there are several. `path` names the parent in the error.
    pub fn single(&self, name: &str, path: &str) -> Result<Option<&XmlElement>, XmlError> {
        let mut found = self.children.iter().filter(|c| c.name == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(XmlError::Duplicate(format!("{path}/{name}")));
        }
        Ok(first)
    }

    /// The one child with this name, which must be there.
    pub fn required(&self, name: &str, path: &str) -> Result<&XmlElement, XmlError> {
        self.single(name, path)?
            .ok_or_else(|| XmlError::Missing(format!("{path}/{name}")))
    }
}

/// The encoding a document declares (UTF-8 when it declares none).
pub fn declared_encoding(bytes: &[u8]) -> Result<CharacterCodeIdentifier, XmlError> {
    let (has_bom, body) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(XmlError::UnsupportedEncoding("UTF-16".into()));
    }
    let label = match declaration(body) {
        Some(declaration) => encoding_label(declaration),
        None => None,
    };
    let identifier = match label {
        None => CharacterCodeIdentifier::Utf8,
        Some(label) => match encoding_rs::Encoding::for_label(label.as_bytes()) {
            Some(e) if e == encoding_rs::UTF_8 => CharacterCodeIdentifier::Utf8,
            Some(e) if e == encoding_rs::SHIFT_JIS => CharacterCodeIdentifier::ShiftJis,
            _ => return Err(XmlError::UnsupportedEncoding(label)),
        },
    };
    if has_bom && identifier != CharacterCodeIdentifier::Utf8 {
        return Err(XmlError::InvalidEncoding {
            encoding: "Shift_JIS",
            detail: "the document starts with a UTF-8 byte order mark".into(),
        });
    }
    Ok(identifier)
}

/// The XML declaration's bytes (`<?xml … ?>`), if the document starts with one.
fn declaration(bytes: &[u8]) -> Option<&[u8]> {
    if !bytes.starts_with(b"<?xml") {
        return None;
    }
    let head = &bytes[..bytes.len().min(256)];
    let end = head.windows(2).position(|w| w == b"?>")?;
    Some(&head[..end])
}

/// The value of `encoding="…"` in a declaration.
fn encoding_label(declaration: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(declaration).ok()?;
    let at = text.find("encoding")?;
    let rest = text[at + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let end = value.find(quote)?;
    Some(value[..end].to_string())
}

/// Decodes a document to text in its declared encoding.
pub fn decode_document(bytes: &[u8]) -> Result<(String, CharacterCodeIdentifier), XmlError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let identifier = declared_encoding(bytes)?;
    let text = match identifier {
        CharacterCodeIdentifier::Utf8 => {
            let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            std::str::from_utf8(body)
                .map_err(|e| XmlError::InvalidEncoding {
                    encoding: "UTF-8",
                    detail: e.to_string(),
                })?
                .to_string()
        }
        CharacterCodeIdentifier::ShiftJis => encoding_rs::SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or_else(|| XmlError::InvalidEncoding {
                encoding: "Shift_JIS",
                detail: "a byte sequence that Shift_JIS does not define".into(),
            })?
            .into_owned(),
    };
    Ok((text, identifier))
}

/// Parses a document into its element tree, with the guards of the module
/// documentation.
pub fn parse_document(bytes: &[u8]) -> Result<XmlElement, XmlError> {
    let (text, _) = decode_document(bytes)?;
    parse_text(&text)
}

fn is_forbidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
}

fn parse_text(text: &str) -> Result<XmlElement, XmlError> {
    if let Some(c) = text.chars().find(|c| is_forbidden_control(*c)) {
        return Err(XmlError::Forbidden(format!(
            "control character U+{:04X}",
            u32::from(c)
        )));
    }
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    config.trim_text(false);

    let mut stack: Vec<XmlElement> = Vec::new();
    let mut root: Option<XmlElement> = None;
    let mut elements = 0usize;
    let malformed = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
        XmlError::Malformed(format!("{e} (near byte {})", reader.error_position()))
    };
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(malformed(&reader, &e)),
        };
        match event {
            Event::DocType(_) => {
                return Err(XmlError::Forbidden(
                    "a DOCTYPE (DTDs and entity declarations are not accepted)".into(),
                ));
            }
            Event::Start(start) => {
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                if root.is_some() && stack.is_empty() {
                    return Err(XmlError::Malformed("more than one root element".into()));
                }
                let name = std::str::from_utf8(start.local_name().into_inner())
                    .map_err(|e| malformed(&reader, &e))?
                    .to_string();
                stack.push(XmlElement {
                    name,
                    ..Default::default()
                });
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(XmlError::Malformed("an end tag without a start".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Empty(_) => {
                // expand_empty_elements turns these into Start and End.
                return Err(XmlError::Malformed("unexpected empty element".into()));
            }
            Event::Text(t) => {
                let content = t.xml_content().map_err(|e| malformed(&reader, &e))?;
                push_text(&mut stack, &content)?;
            }
            Event::CData(c) => {
                let content = c.xml_content().map_err(|e| malformed(&reader, &e))?;
                push_text(&mut stack, &content)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) if !is_forbidden_control(c) => c.to_string().into(),
                        _ => {
                            return Err(XmlError::Forbidden(format!(
                                "character reference &{};",
                                String::from_utf8_lossy(&r)
                            )));
                        }
                    }
                } else {
                    match &*r {
                        b"lt" => "<".into(),
                        b"gt" => ">".into(),
                        b"amp" => "&".into(),
                        b"apos" => "'".into(),
                        b"quot" => "\"".into(),
                        other => {
                            return Err(XmlError::Forbidden(format!(
                                "entity reference &{};",
                                String::from_utf8_lossy(other)
                            )));
                        }
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Truncated(open.name.clone()));
    }
    root.ok_or_else(|| XmlError::Malformed("no root element".into()))
}

fn push_text(stack: &mut [XmlElement], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed("text outside the root element".into())),
    }
}

/// The trimmed text of a leaf element; an element with children is refused.
fn leaf_text(element: &XmlElement, path: &str) -> Result<String, XmlError> {
    if !element.children.is_empty() {
        return Err(XmlError::InvalidValue {
            element: path.into(),
            message: "expected text, found elements".into(),
        });
    }
    Ok(element.text.trim().to_string())
}

pub(crate) fn required_text(
    parent: &XmlElement,
    name: &str,
    path: &str,
) -> Result<String, XmlError> {
    let child = parent.required(name, path)?;
    let text = leaf_text(child, &format!("{path}/{name}"))?;
    if text.is_empty() {
        return Err(XmlError::Missing(format!("{path}/{name} (empty)")));
    }
    Ok(text)
}

pub(crate) fn optional_text(
    parent: &XmlElement,
    name: &str,
    path: &str,
) -> Result<Option<String>, XmlError> {
    match parent.single(name, path)? {
        None => Ok(None),
        Some(child) => {
            let text = leaf_text(child, &format!("{path}/{name}"))?;
            Ok((!text.is_empty()).then_some(text))
        }
    }
}

pub(crate) fn invalid(element: &str, message: impl Into<String>) -> XmlError {
    XmlError::InvalidValue {
        element: element.into(),
        message: message.into(),
    }
}

/// Parses a confirmation request by insurance card number (OQSsiquc01req).
pub fn parse_request(bytes: &[u8]) -> Result<QualificationConfirmationRequest, XmlError> {
    let root = parse_document(bytes)?;
    if root.name != "XmlMsg" {
        return Err(XmlError::UnexpectedRoot {
            found: root.name,
            expected: "XmlMsg",
        });
    }
    const HEADER: &str = "XmlMsg/MessageHeader";
    const INFO: &str = "XmlMsg/MessageBody/QualificationConfirmSearchInfo";
    let header = root.required("MessageHeader", "XmlMsg")?;
    let body = root.required("MessageBody", "XmlMsg")?;
    let info = body.required("QualificationConfirmSearchInfo", "XmlMsg/MessageBody")?;

    let date_text = required_text(header, "QualificationConfirmationDate", HEADER)?;
    let qualification_confirmation_date = parse_yyyymmdd(&date_text).ok_or_else(|| {
        invalid(
            "XmlMsg/MessageHeader/QualificationConfirmationDate",
            format!("{date_text:?} is not a YYYYMMDD date"),
        )
    })?;
    let code = required_text(header, "MedicalInstitutionCode", HEADER)?;
    let medical_institution_code = MedicalInstitutionCode::new(&code)
        .map_err(|e| invalid("XmlMsg/MessageHeader/MedicalInstitutionCode", e))?;
    let arbitrary_file_identifier = optional_text(header, "ArbitraryFileIdentifier", HEADER)?;

    let insurer = required_text(info, "InsurerNumber", INFO)?;
    let insurer_number =
        InsurerNumber::new(&insurer).map_err(|e| invalid(&format!("{INFO}/InsurerNumber"), e))?;
    let insured_card_symbol = optional_text(info, "InsuredCardSymbol", INFO)?;
    let insured_identification_number = required_text(info, "InsuredIdentificationNumber", INFO)?;
    let insured_branch_number = optional_text(info, "InsuredBranchNumber", INFO)?;
    if let Some(branch) = &insured_branch_number {
        crate::model::check_branch_number(branch)
            .map_err(|e| invalid(&format!("{INFO}/InsuredBranchNumber"), e))?;
    }
    let birth_text = required_text(info, "Birthdate", INFO)?;
    let birthdate = parse_yyyymmdd(&birth_text).ok_or_else(|| {
        invalid(
            &format!("{INFO}/Birthdate"),
            format!("{birth_text:?} is not a YYYYMMDD date"),
        )
    })?;
    let flag = required_text(info, "LimitApplicationCertificateRelatedConsFlg", INFO)?;
    let limit_application_certificate_related_cons_flg =
        LimitApplicationCertificateRelatedConsFlg::from_code(&flag).ok_or_else(|| {
            invalid(
                &format!("{INFO}/LimitApplicationCertificateRelatedConsFlg"),
                format!("{flag:?}: 0 or 1"),
            )
        })?;

    Ok(QualificationConfirmationRequest {
        message_header: RequestHeader {
            qualification_confirmation_date,
            medical_institution_code,
            arbitrary_file_identifier,
        },
        qualification_confirm_search_info: QualificationConfirmSearchInfo {
            insurer_number,
            insured_card_symbol,
            insured_identification_number,
            insured_branch_number,
            birthdate,
            limit_application_certificate_related_cons_flg,
        },
    })
}

/// Reads a response back into an outcome (what a receipt computer or the
/// reference client does with the service's file). Element order does not
/// matter; unknown elements are errors, since the outcome type knows every
/// element the simulator writes.
pub fn parse_response(bytes: &[u8]) -> Result<ConfirmationOutcome, XmlError> {
    let root = parse_document(bytes)?;
    if root.name != "XmlMsg" {
        return Err(XmlError::UnexpectedRoot {
            found: root.name,
            expected: "XmlMsg",
        });
    }
    let json = to_json(&root, "XmlMsg");
    serde_json::from_value(json).map_err(|e| invalid("XmlMsg", e.to_string()))
}

/// Maps a response's tree onto the JSON shape of [`ConfirmationOutcome`]:
/// leaves become strings, ResultList and MedicalTicketInfo become arrays.
fn to_json(element: &XmlElement, path: &str) -> serde_json::Value {
    use serde_json::{Map, Value};
    /// Elements that hold elements, even when they happen to hold none.
    const CONTAINERS: &[&str] = &[
        "XmlMsg",
        "MessageHeader",
        "MessageBody",
        "ResultOfQualificationConfirmation",
        "ElderlyRecipientCertificateInfo",
        "QualificationConfirmSearchInfo",
        "MedicalTicketInfo",
    ];
    if element.children.is_empty() && !CONTAINERS.contains(&element.name.as_str()) {
        return Value::String(element.text.clone());
    }
    let mut object = Map::new();
    for child in &element.children {
        let child_path = format!("{path}/{}", child.name);
        let value = match child.name.as_str() {
            "ResultList" => Value::Array(
                child
                    .children
                    .iter()
                    .map(|r| to_json(r, &child_path))
                    .collect(),
            ),
            "PublicExpenseResultList" => {
                let tickets = child
                    .children
                    .iter()
                    .map(|t| to_json(t, &child_path))
                    .collect();
                let mut list = Map::new();
                list.insert("MedicalTicketInfo".into(), Value::Array(tickets));
                Value::Object(list)
            }
            _ => to_json(child, &child_path),
        };
        object.insert(child.name.clone(), value);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::REFERENCE_DATE;
    use proptest::prelude::*;
    use time::macros::date;

    const REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
      <Birthdate>19700131</Birthdate>
      <InsuredBranchNumber>01</InsuredBranchNumber>
      <InsuredIdentificationNumber>7002</InsuredIdentificationNumber>
      <InsurerNumber>  139998</InsurerNumber>
      <InsuredCardSymbol>かざ</InsuredCardSymbol>
    </QualificationConfirmSearchInfo>
  </MessageBody>
  <MessageHeader>
    <ArbitraryFileIdentifier>req&amp;0001</ArbitraryFileIdentifier>
    <MedicalInstitutionCode>0110000001</MedicalInstitutionCode>
    <QualificationConfirmationDate>20261201</QualificationConfirmationDate>
  </MessageHeader>
</XmlMsg>
"#;

    #[test]
    fn requests_are_read_in_any_order_and_either_encoding() {
        let request = parse_request(REQUEST.as_bytes()).unwrap();
        assert_eq!(
            request.message_header.qualification_confirmation_date,
            REFERENCE_DATE
        );
        assert_eq!(
            request.message_header.medical_institution_code.as_str(),
            "0110000001"
        );
        assert_eq!(
            request.message_header.arbitrary_file_identifier.as_deref(),
            Some("req&0001")
        );
        let info = &request.qualification_confirm_search_info;
        assert_eq!(info.insurer_number.as_str(), "  139998");
        assert_eq!(info.insured_card_symbol.as_deref(), Some("かざ"));
        assert_eq!(info.insured_identification_number, "7002");
        assert_eq!(info.insured_branch_number.as_deref(), Some("01"));
        assert_eq!(info.birthdate, date!(1970 - 01 - 31));
        assert_eq!(
            info.limit_application_certificate_related_cons_flg,
            LimitApplicationCertificateRelatedConsFlg::Consented
        );

        let sjis_text = REQUEST.replace("UTF-8", "Shift_JIS");
        let (sjis, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&sjis_text);
        assert!(!unmappable);
        assert_eq!(parse_request(&sjis).unwrap(), request);
        // The label is case-insensitive and Windows-31J means Shift_JIS too.
        let cp932 = sjis_text.replace("Shift_JIS", "windows-31j");
        let (cp932, _, _) = encoding_rs::SHIFT_JIS.encode(&cp932);
        assert_eq!(parse_request(&cp932).unwrap(), request);

        // Optional elements may be left out; unknown ones are ignored; a
        // 6-digit insurer number may come unpadded.
        let minimal = REQUEST
            .replace("      <InsuredCardSymbol>かざ</InsuredCardSymbol>\n", "")
            .replace("<InsurerNumber>  139998", "<InsurerNumber>139998")
            .replace("<MessageHeader>", "<MessageHeader><Extra>x</Extra>");
        let minimal = parse_request(minimal.as_bytes()).unwrap();
        assert_eq!(
            minimal
                .qualification_confirm_search_info
                .insured_card_symbol,
            None
        );
        assert_eq!(
            minimal
                .qualification_confirm_search_info
                .insurer_number
                .as_str(),
            "  139998"
        );
    }

    fn error_of(text: &str) -> XmlError {
        parse_request(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn bad_requests_name_what_is_wrong() {
        let missing = REQUEST.replace("      <Birthdate>19700131</Birthdate>\n", "");
        assert_eq!(
            error_of(&missing),
            XmlError::Missing("XmlMsg/MessageBody/QualificationConfirmSearchInfo/Birthdate".into())
        );
        let bad_date = REQUEST.replace("19700131", "19700231");
        assert!(
            matches!(error_of(&bad_date), XmlError::InvalidValue { element, .. } if element.ends_with("/Birthdate"))
        );
        let twice = REQUEST.replace(
            "<Birthdate>19700131</Birthdate>",
            "<Birthdate>19700131</Birthdate><Birthdate>19700131</Birthdate>",
        );
        assert!(matches!(error_of(&twice), XmlError::Duplicate(p) if p.ends_with("/Birthdate")));
        let bad_code = REQUEST.replace("0110000001", "011");
        assert!(
            matches!(error_of(&bad_code), XmlError::InvalidValue { element, .. } if element.ends_with("MedicalInstitutionCode"))
        );
        let bad_flag = REQUEST.replace(">1</LimitApplication", ">2</LimitApplication");
        assert!(matches!(error_of(&bad_flag), XmlError::InvalidValue { .. }));
        let nested = REQUEST.replace(
            "<Birthdate>19700131</Birthdate>",
            "<Birthdate><Y>1970</Y></Birthdate>",
        );
        assert!(matches!(error_of(&nested), XmlError::InvalidValue { .. }));
        let root = REQUEST.replace("XmlMsg>", "Other>");
        assert!(matches!(error_of(&root), XmlError::UnexpectedRoot { .. }));
    }

    #[test]
    fn hostile_documents_are_refused() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<XmlMsg><MessageHeader><ArbitraryFileIdentifier>&lol3;</ArbitraryFileIdentifier></MessageHeader></XmlMsg>"#;
        assert!(
            matches!(error_of(billion_laughs), XmlError::Forbidden(m) if m.contains("DOCTYPE"))
        );
        let external = r#"<?xml version="1.0"?>
<!DOCTYPE XmlMsg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<XmlMsg>&xxe;</XmlMsg>"#;
        assert!(matches!(error_of(external), XmlError::Forbidden(_)));
        let external_dtd = r#"<?xml version="1.0"?><!DOCTYPE XmlMsg SYSTEM "http://example.invalid/x.dtd"><XmlMsg/>"#;
        assert!(matches!(error_of(external_dtd), XmlError::Forbidden(_)));
        // An undeclared entity without a DOCTYPE is refused too, never passed through.
        let undeclared = REQUEST.replace("req&amp;0001", "req&xxe;0001");
        assert!(matches!(error_of(&undeclared), XmlError::Forbidden(m) if m.contains("&xxe;")));
        // Numeric references are fine, but not to control characters.
        let numeric = REQUEST.replace("req&amp;0001", "req&#x41;&#66;");
        assert_eq!(
            parse_request(numeric.as_bytes())
                .unwrap()
                .message_header
                .arbitrary_file_identifier
                .as_deref(),
            Some("reqAB")
        );
        let control = REQUEST.replace("req&amp;0001", "&#1;");
        assert!(matches!(error_of(&control), XmlError::Forbidden(_)));
        assert!(matches!(
            error_of(&REQUEST.replace("req&amp;", "req\u{1}")),
            XmlError::Forbidden(_)
        ));

        // Truncated anywhere: an error, never a panic or a partial request.
        let whole = REQUEST.trim_end().len();
        for cut in (0..whole).filter(|i| REQUEST.is_char_boundary(*i)) {
            assert!(
                parse_request(&REQUEST.as_bytes()[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            parse_document(b"<XmlMsg><MessageHeader>"),
            Err(XmlError::Truncated(_) | XmlError::Malformed(_))
        ));

        // Wrong or unsupported encodings.
        let (sjis_bytes, _, _) = encoding_rs::SHIFT_JIS.encode(REQUEST);
        assert!(matches!(
            parse_request(&sjis_bytes),
            Err(XmlError::InvalidEncoding {
                encoding: "UTF-8",
                ..
            })
        ));
        let euc = REQUEST.replace("UTF-8", "EUC-JP");
        assert_eq!(
            error_of(&euc),
            XmlError::UnsupportedEncoding("EUC-JP".into())
        );
        let mut bad_sjis = REQUEST.replace("UTF-8", "Shift_JIS").into_bytes();
        bad_sjis.extend_from_slice(b"<!-- \x81\x20 -->");
        assert!(matches!(
            parse_request(&bad_sjis),
            Err(XmlError::InvalidEncoding {
                encoding: "Shift_JIS",
                ..
            })
        ));
        assert!(matches!(
            parse_request(b"\xFF\xFE<\x00X\x00"),
            Err(XmlError::UnsupportedEncoding(_))
        ));

        // Size, depth and breadth are bounded.
        let huge = format!("<XmlMsg>{}</XmlMsg>", "a".repeat(MAX_DOCUMENT_BYTES));
        assert!(matches!(error_of(&huge), XmlError::TooLarge { .. }));
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(error_of(&deep), XmlError::TooDeep);
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert_eq!(error_of(&wide), XmlError::TooManyElements);
        assert!(matches!(error_of("<a/><b/>"), XmlError::Malformed(_)));
        assert!(matches!(error_of("<a></b>"), XmlError::Malformed(_)));
        assert!(matches!(error_of(""), XmlError::Malformed(_)));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_request(&bytes);
            let _ = parse_response(&bytes);
        }

        #[test]
        fn mangled_requests_never_panic(
            cut in 0usize..1200,
            at in 0usize..1200,
            insert in "[<>&;#x!\\[\\]a-zA-Z0-9\"'= /?-]{0,12}",
        ) {
            let mut bytes = REQUEST.as_bytes().to_vec();
            let at = at.min(bytes.len());
            bytes.splice(at..at, insert.bytes());
            bytes.truncate(cut.max(1));
            let _ = parse_request(&bytes);
            let _ = parse_response(&bytes);
        }
    }
}

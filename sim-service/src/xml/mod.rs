//! The file interface's XML: XmlMsg responses in UTF-8 or Shift_JIS, and a
//! guarded reader for requests (OQSsiquc01req) and responses.
//!
//! Responses follow the facility's CharacterCodeIdentifier: the declaration
//! names the encoding (`<?xml version="1.0" encoding="Shift_JIS"
//! standalone="no"?>`), every text goes through [`crate::charset`] first, so a
//! Shift_JIS response never needs a character the encoding lacks. Absent
//! optional elements are left out.
//!
//! The reader takes what the service would be sent: UTF-8 or Shift_JIS as the
//! declaration says, elements in any order (real files do not keep the schema
//! order), unknown elements ignored. It refuses what a hostile file would use:
//! any `<!DOCTYPE` (so no DTD, no external entities, no entity expansion), any
//! entity reference but the five predefined ones and numeric character
//! references, control characters, documents over [`MAX_DOCUMENT_BYTES`],
//! nesting over [`MAX_DEPTH`] and more than [`MAX_ELEMENTS`] elements. Every
//! failure is an [`XmlError`]; nothing panics on any input.

use std::io;

mod read;
mod write;

pub use read::{
    XmlElement, declared_encoding, decode_document, parse_document, parse_request, parse_response,
};
pub(crate) use read::{invalid, optional_text, required_text};
pub use write::{render, render_text};

/// The largest document the reader accepts. A request is well under 2 KiB;
/// a response with several results stays far below this.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The deepest element nesting the reader accepts (XmlMsg is 5 deep at most).
pub const MAX_DEPTH: usize = 16;
/// The most elements the reader accepts in one document.
pub const MAX_ELEMENTS: usize = 10_000;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document of {size} bytes is larger than the {limit} accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("encoding {0:?} is not accepted: UTF-8 or Shift_JIS")]
    UnsupportedEncoding(String),
    #[error("the document is not valid {encoding}: {detail}")]
    InvalidEncoding {
        encoding: &'static str,
        detail: String,
    },
    #[error("refused: {0}")]
    Forbidden(String),
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("the document ends inside <{0}>")]
    Truncated(String),
    #[error("elements nest deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("the root element is <{found}>, expected <{expected}>")]
    UnexpectedRoot {
        found: String,
        expected: &'static str,
    },
    #[error("{0} is missing")]
    Missing(String),
    #[error("{0} appears more than once")]
    Duplicate(String),
    #[error("{element}: {message}")]
    InvalidValue { element: String, message: String },
    #[error("cannot write XML: {0}")]
    Write(String),
}

impl From<io::Error> for XmlError {
    fn from(e: io::Error) -> Self {
        XmlError::Write(e.to_string())
    }
}

//! The card's file system: applications (DFs selected by AID) holding
//! elementary files, each with the condition under which it can be used.
//!
//! A My Number card has no path a client walks: clients select an
//! application by its AID, then an EF inside it by its two-byte file ID.
//! PINs and private keys are EFs too, which is how clients address them
//! (SELECT 0018, then VERIFY; SELECT 0017, then COMPUTE DIGITAL SIGNATURE).

use std::sync::Arc;

use crate::iso7816::StatusWord;
use crate::pin::Pin;

/// A two-byte file identifier.
pub type Fid = u16;

/// Who may read an EF or use a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a PIN.
    Always,
    /// After this PIN (an EF of the same application) was verified.
    Pin(Fid),
    /// After any one of these PINs was verified (券面AP: 照合番号A or B).
    AnyPin(Vec<Fid>),
    /// While the holder is authenticated on the device itself (an iPhone's
    /// Face ID or Touch ID): no PIN crosses the reader.
    HolderAuthenticated,
    /// Never through the reader: a protected EF only the card itself uses.
    Never,
}

/// What the card has been shown when a command arrives.
#[derive(Debug, Clone, Copy)]
pub struct SecurityStatus<'a> {
    /// The PINs verified in the current application since it was selected.
    pub verified: &'a [Fid],
    /// Whether the holder's authentication on the device is in force now.
    pub holder_authenticated: bool,
}

impl Access {
    /// Whether `status` satisfies this condition.
    pub fn allows(&self, status: SecurityStatus<'_>) -> bool {
        match self {
            Access::Always => true,
            Access::Pin(pin) => status.verified.contains(pin),
            Access::AnyPin(pins) => pins.iter().any(|p| status.verified.contains(p)),
            Access::HolderAuthenticated => status.holder_authenticated,
            Access::Never => false,
        }
    }
}

/// The values a PIN may be changed to with CHANGE REFERENCE DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinFormat {
    /// Exactly four digits (auth PIN, text PIN).
    FourDigits,
    /// 6 to 16 characters of A–Z and 0–9 (the signature password).
    SignPassword,
    /// Derived from the card face (照合番号A/B): cannot be changed.
    Fixed,
}

impl PinFormat {
    /// Whether `value` is a PIN of this format that a holder may set.
    pub fn accepts(self, value: &[u8]) -> bool {
        match self {
            PinFormat::FourDigits => value.len() == 4 && value.iter().all(u8::is_ascii_digit),
            PinFormat::SignPassword => {
                (6..=16).contains(&value.len())
                    && value
                        .iter()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }
            PinFormat::Fixed => false,
        }
    }
}

/// A private key that never leaves the card: it can only be asked to sign.
pub trait CardKey: Send + Sync {
    /// Signs `input` the way the card's COMPUTE DIGITAL SIGNATURE does (for
    /// RSA: PKCS#1 v1.5 type-1 padding of the given DigestInfo, no hashing;
    /// for the iPhone's P-256 key: ECDSA over the SHA-256 digest given).
    /// An input the key cannot sign answers a status word.
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, StatusWord>;
}

/// The card's side of SET SESSION KEY: recovering what a terminal encrypted
/// to the application's session-key public key.
pub trait SessionKeyDecryptor: Send + Sync {
    /// The plaintext of `cryptogram`, or the status word the card answers:
    /// `6F00` for a cryptogram that is not below the modulus (no RSA
    /// operation is possible), `6A80` for one that does not decrypt.
    fn decrypt(&self, cryptogram: &[u8]) -> Result<Vec<u8>, StatusWord>;
}

/// What SET SESSION KEY (`80 AE`) answers in an application. Real cards know
/// the instruction in every application and differ in why they refuse it
/// (soltia48/myna-card).
#[derive(Clone, Default)]
pub enum SessionKeyDelivery {
    /// `66F1`: the application's security environment delivers no session
    /// key (共通AP, 券面事項確認AP).
    #[default]
    NotConfigured,
    /// `6982` whatever was verified: configured, but no credential a reader
    /// can present satisfies it (JPKI-AP, 住基AP).
    Refused,
    /// The text application: after `access`, the cryptogram is decrypted with
    /// `key` and must hold the key-delivery object `A0 22 80 20 <32 bytes>`.
    Accepted {
        key: Arc<dyn SessionKeyDecryptor>,
        access: Access,
    },
}

impl std::fmt::Debug for SessionKeyDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionKeyDelivery::NotConfigured => f.write_str("NotConfigured"),
            SessionKeyDelivery::Refused => f.write_str("Refused"),
            SessionKeyDelivery::Accepted { access, .. } => write!(f, "Accepted({access:?})"),
        }
    }
}

/// What an EF holds.
#[derive(Clone)]
pub enum Content {
    /// A transparent EF, read with READ BINARY.
    Binary { data: Vec<u8>, read: Access },
    /// A record EF, read with READ RECORD (records numbered from 1).
    Records { records: Vec<Vec<u8>>, read: Access },
    /// A PIN, used with VERIFY and CHANGE REFERENCE DATA.
    Pin { pin: Pin, format: PinFormat },
    /// A private key, used with COMPUTE DIGITAL SIGNATURE when `access` allows
    /// (on a card: its PIN verified).
    Key {
        key: Arc<dyn CardKey>,
        access: Access,
    },
    /// An internal EF the card uses itself and no command reads (a key
    /// reference, a system file): it can be selected, and READ BINARY
    /// answers `6981`, as for PINs and keys.
    Internal,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Binary { data, read } => write!(f, "Binary({} bytes, {read:?})", data.len()),
            Content::Records { records, read } => {
                write!(f, "Records({} records, {read:?})", records.len())
            }
            Content::Pin { pin, format } => write!(f, "{pin:?} {format:?}"),
            Content::Key { access, .. } => write!(f, "Key({access:?})"),
            Content::Internal => f.write_str("Internal"),
        }
    }
}

/// One elementary file.
#[derive(Debug, Clone)]
pub struct ElementaryFile {
    pub fid: Fid,
    /// A short name for traces, e.g. `auth PIN`.
    pub name: &'static str,
    pub content: Content,
}

impl ElementaryFile {
    pub fn binary(fid: Fid, name: &'static str, data: Vec<u8>, read: Access) -> Self {
        Self {
            fid,
            name,
            content: Content::Binary { data, read },
        }
    }

    /// A transparent EF allocated at `allocation` bytes: `content`, then
    /// `filler` to the end of the allocation, as real cards are personalized
    /// (a fixed allocation, larger than what is written in it). READ BINARY
    /// serves the whole allocation: a card does not know where the content
    /// ends. Content longer than the allocation is never cut: the file then
    /// holds the content alone (a documented choice for persona-dependent
    /// files whose real allocation is not public).
    pub fn allocated(
        fid: Fid,
        name: &'static str,
        content: Vec<u8>,
        allocation: usize,
        filler: u8,
        read: Access,
    ) -> Self {
        Self::binary(fid, name, fill(content, allocation, filler), read)
    }

    /// An internal EF ([`Content::Internal`]).
    pub fn internal(fid: Fid, name: &'static str) -> Self {
        Self {
            fid,
            name,
            content: Content::Internal,
        }
    }

    pub fn pin(fid: Fid, name: &'static str, pin: Pin, format: PinFormat) -> Self {
        Self {
            fid,
            name,
            content: Content::Pin { pin, format },
        }
    }

    pub fn key(fid: Fid, name: &'static str, key: Arc<dyn CardKey>, access: Access) -> Self {
        Self {
            fid,
            name,
            content: Content::Key { key, access },
        }
    }

    pub fn records(fid: Fid, name: &'static str, records: Vec<Vec<u8>>, read: Access) -> Self {
        Self {
            fid,
            name,
            content: Content::Records { records, read },
        }
    }
}

/// `content` followed by `filler` up to `allocation` bytes (`content` alone
/// when it is already that long).
pub fn fill(mut content: Vec<u8>, allocation: usize, filler: u8) -> Vec<u8> {
    if content.len() < allocation {
        content.resize(allocation, filler);
    }
    content
}

/// An application (DF) selected by its AID.
#[derive(Debug, Clone)]
pub struct Application {
    pub aid: Vec<u8>,
    /// The name used in traces, e.g. `JPKI-AP`.
    pub name: &'static str,
    pub files: Vec<ElementaryFile>,
    /// The key EF COMPUTE DIGITAL SIGNATURE with P2 `00` signs with, without
    /// a SELECT: the application's own key (the text application's EF
    /// `0013`). `None`: P2 `00` answers `6A86`.
    pub own_key: Option<Fid>,
    /// What SET SESSION KEY answers here.
    pub session_key: SessionKeyDelivery,
    /// The key EF INTERNAL AUTHENTICATE signs with (the 共通AP's `0019`).
    /// Other keys refuse it.
    pub authentication_key: Option<Fid>,
}

impl Application {
    /// An application with these files, no own key, and no session-key
    /// delivery (`66F1`).
    pub fn new(aid: &[u8], name: &'static str, files: Vec<ElementaryFile>) -> Self {
        Application {
            aid: aid.to_vec(),
            name,
            files,
            own_key: None,
            session_key: SessionKeyDelivery::default(),
            authentication_key: None,
        }
    }

    /// The same application, answering INTERNAL AUTHENTICATE with EF `fid`.
    pub fn with_authentication_key(self, fid: Fid) -> Self {
        Application {
            authentication_key: Some(fid),
            ..self
        }
    }

    /// The same application, signing with EF `fid` for P2 `00`.
    pub fn with_own_key(self, fid: Fid) -> Self {
        Application {
            own_key: Some(fid),
            ..self
        }
    }

    /// The same application, answering SET SESSION KEY as `delivery` says.
    pub fn with_session_key(self, delivery: SessionKeyDelivery) -> Self {
        Application {
            session_key: delivery,
            ..self
        }
    }

    pub fn file(&self, fid: Fid) -> Option<&ElementaryFile> {
        self.files.iter().find(|f| f.fid == fid)
    }

    pub fn file_mut(&mut self, fid: Fid) -> Option<&mut ElementaryFile> {
        self.files.iter_mut().find(|f| f.fid == fid)
    }

    /// The PIN in EF `fid` and the format it may be changed to, if that EF is a PIN.
    pub fn pin_mut(&mut self, fid: Fid) -> Option<(&mut Pin, PinFormat)> {
        match self.file_mut(fid).map(|f| &mut f.content) {
            Some(Content::Pin { pin, format }) => Some((pin, *format)),
            _ => None,
        }
    }
}

//! The facility's exchange with the service beyond a single confirmation:
//! what a facility and its receipt computer (レセプトコンピュータ) do with
//! results afterwards.
//!
//! - [`history`]: the result search (資格確認結果検索): by date, this device
//!   only, to the end of the following month, only results that showed
//!   qualifications;
//! - [`reference_number`]: 照会番号, the facility's own patient number
//!   registered against a person and carried on later results;
//! - [`receipt_download`]: the limited-type receipt-computer link
//!   (資格確認限定型レセコン連携): login with 機関コード, password and a
//!   6-digit TOTP code, then results of a period as XmlMsg;
//! - [`folder`]: the `req`/`res`/`face` folder a receipt computer exchanges
//!   XML files through (`kazasu service --oqs-dir`).

pub mod folder;
pub mod history;
pub mod receipt_download;
pub mod reference_number;

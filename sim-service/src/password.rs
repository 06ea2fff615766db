//! Stored passwords: Argon2id (the crate's defaults) with a random salt from
//! the operating system, in the PHC string format. The facility's staff
//! accounts and the receipt computers' download credentials both keep them
//! this way; each maps a failure to its own error.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The PHC string to store for `password`; `Err` only when the operating
/// system gives no random bytes.
pub(crate) fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string())
}

/// Whether `password` is the one `hash` was made from (a malformed hash
/// matches nothing).
pub(crate) fn matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_password_matches_its_own_hash_only() {
        let stored = super::hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(super::matches("correct horse", &stored));
        assert!(!super::matches("correct hors", &stored));
        assert!(!super::matches("correct horse", "not a hash"));
        assert_ne!(stored, super::hash("correct horse").unwrap(), "salted");
    }
}

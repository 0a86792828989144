//! What a username and a new password must look like.

use unicode_normalization::UnicodeNormalization;

/// A username or password in Unicode NFC, as stored and compared: a password
/// typed as decomposed characters (NFD, as some keyboards and OSes produce)
/// matches the one created with composed ones.
pub(crate) fn normalized(text: &str) -> String {
    text.nfc().collect()
}

/// Checks a username: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub(crate) fn validate_username(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !valid_chars || !starts_well {
        return Err(format!(
            "invalid username {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a new password's length (in characters).
pub(crate) fn validate_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if !(8..=1024).contains(&length) {
        return Err("the password must be 8 to 1024 characters long".into());
    }
    Ok(())
}

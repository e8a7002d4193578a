//! The rules for what an account's email and password may be.
//!
//! Passwords follow OWASP ASVS 5.0 §6.2 and NIST SP 800-63B: 8 to 128 characters (counted as
//! Unicode scalar values, so a passphrase in any script counts fairly), no composition rules,
//! and refused when the whole password is one of the ~30,000 most common passwords (case
//! ignored), or is the account's own email or name. The common-password list is the one the
//! `zxcvbn` crate ships (its `passwords` frequency list); only an exact whole-password match
//! counts, so a long passphrase that merely contains a common word is accepted.
//!
//! Emails are compared case-insensitively: [`normalize_email`] gives the key stored in the
//! unique index, while the address as typed is kept for display.

use zxcvbn::matching::patterns::MatchPattern;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (ASVS requires at least 64 to be allowed).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest email address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest display name accepted.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Why a password is refused. The messages are shown to people as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("must be at most {MAX_PASSWORD_CHARS} characters long")]
    TooLong,
    /// One of the most common passwords.
    #[error("is one of the most commonly used passwords; choose another")]
    Common,
    /// The account's own email address or name.
    #[error("must not be your email address or name")]
    Personal,
}

/// Checks a new password. `personal` holds the account's email and display name.
pub fn check_password(password: &str, personal: &[&str]) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(PasswordProblem::TooLong);
    }
    let folded = password.to_lowercase();
    if personal
        .iter()
        .any(|value| !value.is_empty() && folded == value.to_lowercase())
    {
        return Err(PasswordProblem::Personal);
    }
    if is_common_password(password) {
        return Err(PasswordProblem::Common);
    }
    Ok(())
}

/// Whether the whole password is an entry of zxcvbn's common-password list (case ignored,
/// neither reversed nor l33t-substituted). zxcvbn does not export the name of its dictionary
/// type, but that type's `Default` is its `Passwords` list; the tests below hold it to that.
pub fn is_common_password(password: &str) -> bool {
    let length = password.chars().count();
    let estimate = zxcvbn::zxcvbn(password, &[]);
    estimate.sequence().iter().any(|found| {
        found.i == 0
            && found.j + 1 == length
            && matches!(
                &found.pattern,
                MatchPattern::Dictionary(word)
                    if !word.reversed
                        && !word.l33t
                        && word.dictionary_name == Default::default()
            )
    })
}

/// Why an email address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    /// Not of the form `local@domain`.
    #[error("must be an email address such as ana@example.com")]
    Malformed,
    /// Longer than [`MAX_EMAIL_CHARS`].
    #[error("must be at most {MAX_EMAIL_CHARS} characters long")]
    TooLong,
}

/// Checks an email address's shape (not its deliverability) and returns it trimmed.
pub fn check_email(email: &str) -> Result<&str, EmailProblem> {
    let email = email.trim();
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(EmailProblem::TooLong);
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(EmailProblem::Malformed);
    };
    let well_formed = !local.is_empty()
        && !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !local.contains('@');
    if well_formed {
        Ok(email)
    } else {
        Err(EmailProblem::Malformed)
    }
}

/// The case-insensitive key of an email address: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks a display name: 1 to [`MAX_DISPLAY_NAME_CHARS`] characters, no control characters.
pub fn check_display_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(format!(
            "must be at most {MAX_DISPLAY_NAME_CHARS} characters long"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_count_characters_not_bytes() {
        assert_eq!(check_password("short", &[]), Err(PasswordProblem::TooShort));
        // Eight two-byte characters: 16 bytes, 8 characters, accepted.
        assert_eq!(check_password("ĉĝĥĵŝŭćń", &[]), Ok(()));
        assert_eq!(
            check_password(&"x".repeat(129), &[]),
            Err(PasswordProblem::TooLong)
        );
        assert_eq!(
            check_password(&"horse battery ".repeat(10)[..128], &[]),
            Ok(())
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in ["password", "Password", "12345678", "qwertyuiop", "iloveyou"] {
            assert_eq!(
                check_password(common, &[]),
                Err(PasswordProblem::Common),
                "{common}"
            );
        }
    }

    #[test]
    fn no_composition_rules_and_passphrases_with_common_words_pass() {
        assert_eq!(check_password("correct horse battery staple", &[]), Ok(()));
        assert_eq!(check_password("lowercaseonlybutlong", &[]), Ok(()));
        assert_eq!(check_password("password is not my password", &[]), Ok(()));
    }

    #[test]
    fn the_accounts_own_email_or_name_is_refused() {
        assert_eq!(
            check_password("Ana@Example.com", &["ana@example.com", "Ana"]),
            Err(PasswordProblem::Personal)
        );
    }

    #[test]
    fn emails_are_checked_and_normalized() {
        assert_eq!(check_email(" Ana@Example.com "), Ok("Ana@Example.com"));
        assert_eq!(normalize_email(" Ana@Example.COM "), "ana@example.com");
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@",
            "a na@example.com",
            "ana@.com",
        ] {
            assert_eq!(check_email(bad), Err(EmailProblem::Malformed), "{bad:?}");
        }
    }
}

//! Rules for the names and secrets people type: what a valid username,
//! tenant name or password is, with messages that say what is wrong.

/// A field that failed validation: which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    /// The field's name as the API spells it.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// A login name: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn username(value: &str) -> Result<(), Invalid> {
    let ok_first = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if value.is_empty() || value.len() > 64 || !ok_first {
        return Err(invalid(
            "username",
            "must be 1 to 64 characters and start with a lowercase letter or digit",
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(invalid(
            "username",
            format!("{c:?} is not allowed (use a-z, 0-9, '.', '_' and '-')"),
        ));
    }
    Ok(())
}

/// A name shown to people (tenant names, display names): 1 to `max`
/// characters, no control characters, no surrounding whitespace.
pub fn display_name(field: &'static str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if value.trim() != value {
        return Err(invalid(field, "must not start or end with whitespace"));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// The shortest password Rivet accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password Rivet accepts (hashing cost grows with length).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new password: long enough, not absurdly long, and not the username.
pub fn password(value: &str, username: &str) -> Result<(), Invalid> {
    if value.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if value.len() > MAX_PASSWORD_BYTES {
        return Err(invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if value.eq_ignore_ascii_case(username) {
        return Err(invalid("password", "must not be the username"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["admin", "a", "jane.doe", "ops-1", "x_y", "9lives"] {
            assert_eq!(username(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Admin", ".x", "-x", "a b", "ä", &"a".repeat(65)] {
            assert!(username(bad).is_err(), "{bad}");
        }
        assert!(username("a b").unwrap_err().reason.contains("' '"));
    }

    #[test]
    fn names() {
        assert!(display_name("name", "Acme GmbH", 100).is_ok());
        assert!(display_name("name", "", 100).is_err());
        assert!(display_name("name", " Acme", 100).is_err());
        assert!(display_name("name", "a\u{0}b", 100).is_err());
        assert!(display_name("name", &"é".repeat(101), 100).is_err());
        assert_eq!(display_name("name", "", 1).unwrap_err().field, "name");
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse battery", "jane").is_ok());
        assert!(password("short", "jane").is_err());
        assert!(password("janejanejane", "JaneJaneJane").is_err());
        assert!(password(&"x".repeat(1025), "jane").is_err());
    }
}

//! Parse constructors for user input: each returns the validated value or an error naming the
//! field, the rule and the value given.

use crate::permissions::{Permission, PermissionSet, Role};
use crate::visibility::Visibility;

/// A user error about one field of the input.
///
/// Two kinds, so that the API's document can be honest: a request that breaks a rule the
/// OpenAPI document states (a range, a length, a pattern, an enum) is malformed (`new`, HTTP
/// 400); a well-formed request refused by a rule the document can only describe in words —
/// one that depends on stored state, the clock, another resource or several fields at once —
/// is unprocessable (`unprocessable`, HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
    /// The request is well formed; a rule beyond its schema refused it.
    pub unprocessable: bool,
}

impl ValidationError {
    /// The input breaks a rule its schema states.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        ValidationError { field: field.to_string(), message: message.into(), unprocessable: false }
    }

    /// The input is well formed, but a rule that depends on state, time, another resource or
    /// several fields together refuses it.
    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        ValidationError { unprocessable: true, ..ValidationError::new(field, message) }
    }
}

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

// The rules below as ECMA-262 patterns (which Python's `re` reads alike), for the OpenAPI
// document. `ws!()` is Unicode White_Space, what `str::trim` removes; `cc!()` is the control
// characters (`char::is_control`).
macro_rules! ws {
    () => {
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}
macro_rules! cc {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

/// [`name`]: something other than white space, and no control character between the first
/// and the last of it.
pub const NAME_PATTERN: &str =
    concat!(r"^[", ws!(), r"]*[^", cc!(), ws!(), r"](?:[^", cc!(), r"]*[^", cc!(), ws!(), r"])?[", ws!(), r"]*$");

/// [`email`]: around optional white space, a local part, `@`, and a domain with a dot that
/// neither starts nor ends it; no `@` in the domain, no white space or control characters.
pub const EMAIL_PATTERN: &str = concat!(
    r"^[",
    ws!(),
    r"]*[^@",
    cc!(),
    ws!(),
    r"]+@[^@.",
    cc!(),
    ws!(),
    r"][^@",
    cc!(),
    ws!(),
    r"]*\.[^@",
    cc!(),
    ws!(),
    r"]*[^@.",
    cc!(),
    ws!(),
    r"][",
    ws!(),
    r"]*$"
);

/// A SHA-256 in hex, around optional white space.
pub const SHA256_PATTERN: &str = concat!(r"^[", ws!(), r"]*[0-9a-fA-F]{64}[", ws!(), r"]*$");

/// A file name as [`file_name`] takes it: anything up to the last `/` or `\`, then the name
/// itself around optional white space — 1 to 255 characters, no control characters, and not
/// `.` or `..`.
pub const FILE_NAME_PATTERN: &str = concat!(
    r"^(?:[\s\S]*[/\\])?[",
    ws!(),
    r"]*(?:[^/\\",
    cc!(),
    ws!(),
    r"][^/\\",
    cc!(),
    r"]{1,253}[^/\\",
    cc!(),
    ws!(),
    r"]|[^./\\",
    cc!(),
    ws!(),
    r"][^/\\",
    cc!(),
    ws!(),
    r"]?|\.[^./\\",
    cc!(),
    ws!(),
    r"])[",
    ws!(),
    r"]*$"
);

/// The longest file name, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// A display name: at most 100 characters, not only white space, no control characters once
/// trimmed ([`NAME_PATTERN`]).
pub fn name(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let chars = value.chars().count();
    if trimmed.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(ValidationError::new(field, format!("must be at most {MAX_NAME_CHARS} characters (got {chars})")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(trimmed.to_string())
}

/// Free text such as a description: at most 2000 characters.
pub fn description(field: &str, value: &str) -> Result<String, ValidationError> {
    let chars = value.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::new(field, format!("must be at most {MAX_DESCRIPTION_CHARS} characters (got {chars})")));
    }
    Ok(value.to_string())
}

/// An email address, lower-cased: at most 254 characters, one `@`, a non-empty local part, a
/// dotted domain ([`EMAIL_PATTERN`]).
pub fn email(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_lowercase();
    if value.chars().count() > MAX_EMAIL_CHARS {
        return Err(ValidationError::new(field, format!("must be at most {MAX_EMAIL_CHARS} characters")));
    }
    let valid = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        return Err(ValidationError::new(field, format!("is not a valid email address: '{}'", shown(value))));
    }
    Ok(v)
}

/// A file name without any path: the last component (after `/` or `\\`), trimmed; 1 to 255
/// characters, no control characters, not `.` or `..` ([`FILE_NAME_PATTERN`]).
pub fn file_name(field: &str, value: &str) -> Result<String, ValidationError> {
    let base = value.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." || base.chars().count() > MAX_FILE_NAME_CHARS || base.chars().any(char::is_control) {
        return Err(ValidationError::new(field, format!("is not a usable file name: '{}'", shown(value))));
    }
    Ok(base.to_string())
}

/// A SHA-256 in 64 hex digits, around optional white space ([`SHA256_PATTERN`]); lower-cased.
pub fn sha256(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_ascii_lowercase();
    if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValidationError::new(field, format!("must be a SHA-256 in 64 hex digits (got '{}')", shown(value))));
    }
    Ok(v)
}

/// A new password: 8 to 256 characters.
pub fn password(field: &str, value: &str) -> Result<String, ValidationError> {
    let chars = value.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ValidationError::new(field, format!("must be at least {MIN_PASSWORD_CHARS} characters (got {chars})")));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ValidationError::new(field, format!("must be at most {MAX_PASSWORD_CHARS} characters")));
    }
    Ok(value.to_string())
}

pub fn role(field: &str, value: &str) -> Result<Role, ValidationError> {
    Role::parse(value)
        .ok_or_else(|| ValidationError::new(field, format!("must be one of admin, researcher, developer, viewer (got '{}')", shown(value))))
}

pub fn visibility(field: &str, value: &str) -> Result<Visibility, ValidationError> {
    Visibility::parse(value).ok_or_else(|| {
        ValidationError::new(field, format!("must be one of private, project, organization, users (got '{}')", shown(value)))
    })
}

/// Scopes of an API key: known permission names, each one held by the key's owner.
pub fn scopes(field: &str, values: &[String], held: &PermissionSet) -> Result<PermissionSet, ValidationError> {
    if values.is_empty() {
        return Err(ValidationError::new(field, "must name at least one permission"));
    }
    let mut perms = Vec::with_capacity(values.len());
    for v in values {
        let p = Permission::parse(v).ok_or_else(|| ValidationError::new(field, format!("unknown permission '{}'", shown(v))))?;
        if !held.contains(p) {
            return Err(ValidationError::unprocessable(field, format!("you do not hold the permission '{p}'")));
        }
        perms.push(p);
    }
    Ok(PermissionSet::from_slice(&perms))
}

/// A page size: 1 to 100, 20 by default.
pub fn page_limit(value: Option<i64>) -> Result<i64, ValidationError> {
    bounded("limit", value, 20, 1, 100)
}

/// A number from `min` to `max`, `default` when absent.
pub fn bounded(field: &str, value: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64, ValidationError> {
    match value {
        None => Ok(default),
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(ValidationError::new(field, format!("must be between {min} and {max} (got {n})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let table = [
            ("Ann@Example.com", Ok("ann@example.com")),
            ("  bob@x.org ", Ok("bob@x.org")),
            ("no-at-sign", Err(())),
            ("a@b", Err(())),
            ("a@@b.com", Err(())),
            ("@b.com", Err(())),
            ("a b@c.com", Err(())),
            ("a@.com", Err(())),
        ];
        for (input, expected) in table {
            let got = email("email", input).map_err(|_| ());
            assert_eq!(got.as_deref(), expected.as_deref(), "{input}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  Ada ").unwrap(), "Ada");
        assert!(name("name", "   ").is_err());
        let long = "x".repeat(101);
        let err = name("name", &long).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("101"), "{}", err.message);
        assert!(name("name", "a\u{0}b").is_err());
        assert_eq!(name("name", &"中".repeat(100)).unwrap().chars().count(), 100);
    }

    #[test]
    fn passwords() {
        assert!(password("password", "short").unwrap_err().message.contains("at least 8"));
        assert!(password("password", "long enough").is_ok());
        assert!(password("password", &"p".repeat(257)).is_err());
    }

    #[test]
    fn scopes_must_be_held() {
        let held = PermissionSet::of_role(Role::Developer);
        assert!(scopes("scopes", &["view_dataset".into()], &held).is_ok());
        let err = scopes("scopes", &["train_model".into()], &held).unwrap_err();
        assert!(err.message.contains("train_model"));
        assert!(scopes("scopes", &["fly".into()], &held).unwrap_err().message.contains("unknown"));
        assert!(scopes("scopes", &[], &held).is_err());
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None), Ok(20));
        assert_eq!(page_limit(Some(100)), Ok(100));
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}

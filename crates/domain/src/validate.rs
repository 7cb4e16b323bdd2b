//! Parse constructors for user input: each returns the validated value or an error naming the
//! field, the rule and the value given.

use crate::permissions::{Permission, PermissionSet, Role};
use crate::visibility::Visibility;

/// A user error about one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        ValidationError { field: field.to_string(), message: message.into() }
    }
}

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;

fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(40).collect();
    if value.chars().count() > 40 {
        s.push('…');
    }
    s
}

/// A display name: 1 to 100 characters after trimming, no control characters.
pub fn name(field: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
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

/// An email address, lower-cased: one `@`, a non-empty local part, a dotted domain.
pub fn email(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_lowercase();
    if v.chars().count() > MAX_EMAIL_CHARS {
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
            return Err(ValidationError::new(field, format!("you do not hold the permission '{p}'")));
        }
        perms.push(p);
    }
    Ok(PermissionSet::from_slice(&perms))
}

/// A page size: 1 to 100, 20 by default.
pub fn page_limit(value: Option<i64>) -> Result<i64, ValidationError> {
    match value {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(n) => Err(ValidationError::new("limit", format!("must be between 1 and 100 (got {n})"))),
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

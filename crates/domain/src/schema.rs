//! OpenAPI schemas of the fields whose rules live in `validate`, built from the same constants
//! and patterns the rules use, so the OpenAPI document states exactly what the server
//! enforces (`tests/patterns.rs` in `domain` checks each pattern against its rule). Used with
//! `#[schema(schema_with = …)]`; the `optional_…` forms also accept `null` (absent).

use crate::validate::{
    EMAIL_PATTERN, FILE_NAME_PATTERN, MAX_DESCRIPTION_CHARS, MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
    NAME_PATTERN, SHA256_PATTERN,
};
use crate::{Permission, Role, Visibility};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};

fn string(nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    }
}

fn name_of(nullable: bool) -> ObjectBuilder {
    string(nullable).max_length(Some(MAX_NAME_CHARS)).pattern(Some(NAME_PATTERN)).description(Some(format!(
        "At most {MAX_NAME_CHARS} characters, not only white space, no control characters (white space around it is trimmed)."
    )))
}

pub fn name() -> ObjectBuilder {
    name_of(false)
}

pub fn optional_name() -> ObjectBuilder {
    name_of(true)
}

pub fn optional_description() -> ObjectBuilder {
    string(true).max_length(Some(MAX_DESCRIPTION_CHARS)).description(Some(format!("At most {MAX_DESCRIPTION_CHARS} characters.")))
}

pub fn email() -> ObjectBuilder {
    string(false)
        .max_length(Some(MAX_EMAIL_CHARS))
        .pattern(Some(EMAIL_PATTERN))
        .description(Some("An email address (white space around it is trimmed; stored lower-cased)."))
}

fn password_of(nullable: bool) -> ObjectBuilder {
    string(nullable)
        .min_length(Some(MIN_PASSWORD_CHARS))
        .max_length(Some(MAX_PASSWORD_CHARS))
        .description(Some(format!("{MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters.")))
}

pub fn password() -> ObjectBuilder {
    password_of(false)
}

pub fn optional_password() -> ObjectBuilder {
    password_of(true)
}

pub fn file_name() -> ObjectBuilder {
    string(false).pattern(Some(FILE_NAME_PATTERN)).description(Some(
        "A file name: what follows the last '/' or '\\\\' is kept, trimmed; 1 to 255 characters, no control characters, not '.' or '..'.",
    ))
}

pub fn sha256() -> ObjectBuilder {
    string(false).pattern(Some(SHA256_PATTERN)).description(Some("A SHA-256 in 64 hex digits."))
}

/// A string that is one of `names` (or `null`, when `nullable`).
pub fn one_of(nullable: bool, names: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    let mut values: Vec<serde_json::Value> = names.into_iter().map(Into::into).collect();
    if nullable {
        values.push(serde_json::Value::Null);
    }
    string(nullable).enum_values(Some(values))
}

pub fn role() -> ObjectBuilder {
    one_of(false, Role::ALL.map(Role::as_str))
}

pub fn optional_role() -> ObjectBuilder {
    one_of(true, Role::ALL.map(Role::as_str))
}

/// Any visibility, in a form (where a field is text or absent).
pub fn visibility() -> ObjectBuilder {
    one_of(false, Visibility::ALL.map(Visibility::as_str))
}

/// Any visibility (datasets and other resources inside a project).
pub fn optional_visibility() -> ObjectBuilder {
    one_of(true, Visibility::ALL.map(Visibility::as_str))
}

/// A project's visibility: `users` applies to resources inside a project only.
pub fn optional_project_visibility() -> ObjectBuilder {
    one_of(true, Visibility::ALL.into_iter().filter(|v| *v != Visibility::Users).map(Visibility::as_str))
}

pub fn optional_outcome() -> ObjectBuilder {
    one_of(true, crate::audit::Outcome::ALL.map(crate::audit::Outcome::as_str))
}

pub fn optional_job_state() -> ObjectBuilder {
    one_of(true, crate::training::JobState::ALL.map(crate::training::JobState::as_str))
}

fn zero_stage_of(nullable: bool) -> ObjectBuilder {
    let mut stages: Vec<serde_json::Value> = [0, 2, 3].into_iter().map(Into::into).collect();
    let schema_type = if nullable {
        stages.push(serde_json::Value::Null);
        SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        SchemaType::Type(Type::Integer)
    };
    ObjectBuilder::new().schema_type(schema_type).enum_values(Some(stages))
}

/// A ZeRO stage: 0, 2 or 3.
pub fn zero_stage() -> ObjectBuilder {
    zero_stage_of(false)
}

pub fn optional_zero_stage() -> ObjectBuilder {
    zero_stage_of(true)
}

/// Permission names, at least one.
pub fn optional_scopes() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(one_of(false, Permission::ALL.map(Permission::as_str)))
        .min_items(Some(1))
        .description(Some("Permission names, a subset of the caller's; default: all of them."))
}

//! Settings a submission may leave to the platform (`"auto"`): the micro-batch size and
//! gradient checkpointing, chosen by the memory estimate for the installation's device (see
//! `services::training::estimates`). A submission resolves them, so a stored job and the
//! runtime's spec always hold a value.

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A value given as itself or as the word `"auto"` (None).
pub(crate) fn value_or_auto<'de, D, T>(d: D, expected: &str) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given<T> {
        Value(T),
        Word(String),
    }
    match Given::<T>::deserialize(d).map_err(|_| serde::de::Error::custom(format!("expected {expected} or \"auto\"")))? {
        Given::Value(v) => Ok(Some(v)),
        Given::Word(w) if w == "auto" => Ok(None),
        Given::Word(w) => Err(serde::de::Error::custom(format!("expected {expected} or \"auto\", got \"{w}\""))),
    }
}

/// Rows per forward pass: a number, or `"auto"` — the largest of 64, 32, … 1 (at most the rows
/// an epoch has) whose memory estimate fits the installation's device with a tenth spare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MicroBatchSize {
    Auto,
    Rows(u32),
}

impl Default for MicroBatchSize {
    fn default() -> Self {
        MicroBatchSize::Rows(4)
    }
}

impl MicroBatchSize {
    /// The number of rows, once resolved.
    pub fn rows(self) -> Option<u32> {
        match self {
            MicroBatchSize::Auto => None,
            MicroBatchSize::Rows(n) => Some(n),
        }
    }
}

impl Serialize for MicroBatchSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MicroBatchSize::Auto => s.serialize_str("auto"),
            MicroBatchSize::Rows(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for MicroBatchSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(value_or_auto::<D, u32>(d, "a number of rows")?.map_or(MicroBatchSize::Auto, MicroBatchSize::Rows))
    }
}

impl PartialSchema for MicroBatchSize {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)).maximum(Some(4096)))
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["auto"])))
            .description(Some(
                "Rows per forward pass, 1 to 4096 (default 4), or \"auto\": the largest of 64, 32, … 1 (at most an epoch's rows) whose memory estimate fits the installation's device with a tenth spare.",
            ))
            .into()
    }
}

impl ToSchema for MicroBatchSize {}

/// Gradient checkpointing (recompute each layer's activations in the backward pass instead of
/// keeping them): on, off (the default), or `"auto"` — on only when no micro-batch fits the
/// device without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checkpointing {
    #[default]
    Off,
    On,
    Auto,
}

impl Checkpointing {
    /// On or off, once resolved.
    pub fn enabled(self) -> Option<bool> {
        match self {
            Checkpointing::Off => Some(false),
            Checkpointing::On => Some(true),
            Checkpointing::Auto => None,
        }
    }
}

impl From<bool> for Checkpointing {
    fn from(on: bool) -> Self {
        if on {
            Checkpointing::On
        } else {
            Checkpointing::Off
        }
    }
}

impl Serialize for Checkpointing {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.enabled() {
            Some(on) => s.serialize_bool(on),
            None => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Checkpointing {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(value_or_auto::<D, bool>(d, "true, false")?.map_or(Checkpointing::Auto, Checkpointing::from))
    }
}

impl PartialSchema for Checkpointing {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["auto"])))
            .description(Some(
                "Recompute activations in the backward pass: true, false (the default), or \"auto\": on only when no micro-batch fits the installation's device without it.",
            ))
            .into()
    }
}

impl ToSchema for Checkpointing {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_booleans_and_auto_read_and_write_back_and_other_words_are_refused_naming_what_is_expected() {
        assert_eq!(serde_json::from_str::<MicroBatchSize>("8").unwrap(), MicroBatchSize::Rows(8));
        assert_eq!(serde_json::from_str::<MicroBatchSize>("\"auto\"").unwrap(), MicroBatchSize::Auto);
        assert_eq!(serde_json::to_string(&MicroBatchSize::Rows(8)).unwrap(), "8");
        assert_eq!(serde_json::to_string(&MicroBatchSize::Auto).unwrap(), "\"auto\"");
        let e = serde_json::from_str::<MicroBatchSize>("\"big\"").unwrap_err().to_string();
        assert!(e.contains("expected a number of rows or \"auto\", got \"big\""), "{e}");
        assert_eq!(serde_json::from_str::<Checkpointing>("true").unwrap(), Checkpointing::On);
        assert_eq!(serde_json::from_str::<Checkpointing>("false").unwrap(), Checkpointing::Off);
        assert_eq!(serde_json::from_str::<Checkpointing>("\"auto\"").unwrap(), Checkpointing::Auto);
        assert_eq!(serde_json::to_string(&Checkpointing::On).unwrap(), "true");
        let e = serde_json::from_str::<Checkpointing>("3").unwrap_err().to_string();
        assert!(e.contains("expected true, false or \"auto\""), "{e}");
    }
}

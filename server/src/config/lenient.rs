//! String fields that accept any YAML scalar. Environment overrides are
//! parsed as YAML, so `REGISTRY_HTTP_SECRET=12345` arrives as a number and
//! `REGISTRY_HTTP_ADDR=5000` likewise; distribution reads both as strings.

use serde::{Deserialize, Deserializer, de::Error};
use serde_json::Value;

fn scalar_to_string<E: Error>(v: Value) -> Result<Option<String>, E> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(E::custom(format!("expected a string, found {other}"))),
    }
}

pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(scalar_to_string(Value::deserialize(d)?)?.unwrap_or_default())
}

pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar_to_string(Value::deserialize(d)?)
}

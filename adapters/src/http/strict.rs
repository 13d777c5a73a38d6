//! A JSON string field that accepts only JSON strings.

use std::borrow::Cow;
use std::ops::Deref;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A request field that must be sent as a JSON string. poem-openapi's `String` also accepts a
/// number or a boolean and turns it into text, so `{"code": 056107}` would arrive as `56107`
/// and `{"full_name": 42}` as a name. This type rejects both with the schema's 422 instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonString(pub String);

impl JsonString {
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl Deref for JsonString {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl From<&str> for JsonString {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl From<JsonString> for String {
    fn from(text: JsonString) -> Self {
        text.0
    }
}

impl Type for JsonString {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for JsonString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for JsonString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_strings_parse() {
        let parsed = JsonString::parse_from_json(Some(Value::String("056107".into()))).unwrap();
        assert_eq!(parsed.as_str(), "056107");
        assert!(JsonString::parse_from_json(Some(serde_json::json!(56107))).is_err());
        assert!(JsonString::parse_from_json(Some(Value::Bool(true))).is_err());
        assert!(JsonString::parse_from_json(Some(Value::Null)).is_err());
        assert!(JsonString::parse_from_json(None).is_err());
    }
}

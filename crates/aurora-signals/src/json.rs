//! Reading JSON documents field by field, with the path of each field kept for error messages.
//! Vendors are loose about types (numbers as strings, `null` for absent), so the accessors are
//! explicit about what they accept.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ParseError;

/// Parses a delivery body. Only the syntax is checked here; shapes are checked by the readers.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(body).map_err(|err| ParseError::malformed(&err))
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A JSON object and where it sits in the document.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: String,
}

impl<'a> Obj<'a> {
    /// The document root, or the element at `path`, which must be an object.
    pub fn new(value: &'a Value, path: impl Into<String>) -> Result<Self, ParseError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Obj { map, path }),
            other => Err(ParseError::WrongType {
                path: if path.is_empty() {
                    "(document)".to_owned()
                } else {
                    path
                },
                expected: "an object",
                found: kind_of(other),
            }),
        }
    }

    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key`, or `None` when it is absent or `null`.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value) -> ParseError {
        ParseError::WrongType {
            path: self.path_of(key),
            expected,
            found: kind_of(found),
        }
    }

    /// A string that must be present and not blank.
    pub fn req_str(&self, key: &str) -> Result<&'a str, ParseError> {
        match self.opt_str(key)? {
            Some(s) => Ok(s),
            None => Err(ParseError::MissingField {
                path: self.path_of(key),
            }),
        }
    }

    /// A string, or `None` when absent, `null` or blank.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    /// A string or a number, as text (vendors send ids either way).
    pub fn opt_text(&self, key: &str) -> Result<Option<String>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.wrong(key, "a string or a number", other)),
        }
    }

    pub fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.path_of(key),
            })),
            Some(other) => Err(self.wrong(key, "an object", other)),
        }
    }

    pub fn req_array(&self, key: &str) -> Result<&'a Vec<Value>, ParseError> {
        match self.get(key) {
            None => Err(ParseError::MissingField {
                path: self.path_of(key),
            }),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    pub fn opt_array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// A map of strings (labels, annotations, details). Numbers and booleans become their text;
    /// nested arrays and objects are kept as compact JSON text so that nothing disappears;
    /// `null` entries are skipped.
    pub fn str_map(&self, key: &str) -> Result<BTreeMap<String, String>, ParseError> {
        match self.get(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => Ok(map
                .iter()
                .filter_map(|(k, v)| value_text(v).map(|text| (k.clone(), text)))
                .collect()),
            Some(other) => Err(self.wrong(key, "an object of strings", other)),
        }
    }

    /// An RFC 3339 time. Go's zero time (`0001-01-01T00:00:00Z`), which Alertmanager and Grafana
    /// send for "not set", reads as `None`.
    pub fn opt_time(&self, key: &str) -> Result<Option<OffsetDateTime>, ParseError> {
        let Some(text) = self.opt_str(key)? else {
            return Ok(None);
        };
        let at = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|err| {
            ParseError::invalid(
                self.path_of(key),
                format!("expected an RFC 3339 time: {err}"),
            )
        })?;
        Ok((at.year() > 1).then_some(at))
    }

    /// Milliseconds since the Unix epoch, as a number or a numeric string.
    pub fn opt_epoch_millis(&self, key: &str) -> Result<Option<OffsetDateTime>, ParseError> {
        let millis: i128 = match self.get(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(ms) => ms.into(),
                None => {
                    return Err(ParseError::invalid(
                        self.path_of(key),
                        "expected whole milliseconds since 1970",
                    ));
                }
            },
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| {
                ParseError::invalid(self.path_of(key), "expected milliseconds since 1970")
            })?,
            Some(other) => return Err(self.wrong(key, "a number", other)),
        };
        OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
            .map(Some)
            .map_err(|err| ParseError::invalid(self.path_of(key), err.to_string()))
    }
}

/// The text of a scalar, or compact JSON for a nested value; `None` for `null`.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        nested => Some(nested.to_string()),
    }
}

/// Splits tags of the form `key:value` (Datadog, Opsgenie) into labels. A tag without a colon
/// becomes a label with an empty value, so that it stays visible and matchable.
pub(crate) fn tags_to_labels<'t>(
    tags: impl IntoIterator<Item = &'t str>,
    labels: &mut BTreeMap<String, String>,
) {
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        match tag.split_once(':') {
            Some((key, value)) if !key.trim().is_empty() => {
                labels.insert(key.trim().to_owned(), value.trim().to_owned());
            }
            _ => {
                labels.entry(tag.to_owned()).or_default();
            }
        }
    }
}

//! `Event`: what a publisher sent, with its `data` kept byte for byte (minus
//! insignificant whitespace), and the envelope receivers get (delivery.md §1).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ids::{EventId, TenantId};
use crate::time::Timestamp;

/// The input of a publish.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// The event type: 1 to 128 characters of `[A-Za-z0-9_.-]`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Any JSON value, passed through untouched.
    pub data: Box<RawValue>,
    /// Idempotency key; becomes the event id.
    #[serde(default)]
    pub id: Option<String>,
    /// Channels of the event.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
}

impl NewEvent {
    /// Builds an event input from a type and JSON text.
    ///
    /// # Errors
    /// When `data` is not valid JSON.
    pub fn new(event_type: impl Into<String>, data: &str) -> Result<Self, serde_json::Error> {
        Ok(Self {
            event_type: event_type.into(),
            data: RawValue::from_string(data.to_owned())?,
            id: None,
            channels: None,
        })
    }

    /// Sets the idempotency key.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the channels.
    pub fn with_channels(mut self, channels: Vec<String>) -> Self {
        self.channels = Some(channels);
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_...` or the caller's idempotency key.
    pub id: EventId,
    /// Owner.
    pub tenant: TenantId,
    /// The event type.
    pub event_type: String,
    /// Channels.
    pub channels: Vec<String>,
    /// Publish time.
    pub created_at: Timestamp,
    /// `data`, compact JSON text; shared, as the event is held by storage, by the
    /// actors of its deliveries and by the publish's answer at once.
    pub data: Arc<str>,
    /// How many endpoints it matched.
    pub deliveries: u32,
}

impl Event {
    /// Whether `other` repeats this event's publish, as a repeated idempotency key
    /// must (http-api.md "Events"): the same type, the same data once insignificant
    /// whitespace is removed (both are stored that way; key order, number spelling
    /// and string escapes count), and the same set of channels (order and repeats
    /// do not count: channels only select endpoints). Id, time and deliveries are
    /// made by Herald, not sent, so they are not compared.
    pub fn is_same_publish(&self, other: &Event) -> bool {
        self.event_type == other.event_type
            && self.data == other.data
            && channel_set(&self.channels) == channel_set(&other.channels)
    }

    /// The request body every attempt sends:
    /// `{"id":..,"type":..,"created_at":..,"data":..}`, compact and byte-stable.
    pub fn body(&self) -> String {
        let mut body = String::with_capacity(self.data.len() + 128);
        body.push_str("{\"id\":");
        push_json_string(&mut body, self.id.as_str());
        body.push_str(",\"type\":");
        push_json_string(&mut body, &self.event_type);
        body.push_str(",\"created_at\":\"");
        body.push_str(&self.created_at.to_rfc3339());
        body.push_str("\",\"data\":");
        body.push_str(&self.data);
        body.push('}');
        body
    }
}

/// `channels` sorted, each once.
fn channel_set(channels: &[String]) -> Vec<&str> {
    let mut set: Vec<&str> = channels.iter().map(String::as_str).collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// Appends `text` as a JSON string. Ids and types are validated to plain ASCII, so
/// only the generic escapes can ever apply.
fn push_json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::Value::String(text.to_owned()).to_string());
}

/// Deepest nesting of arrays and objects accepted in `data`: as deep as common JSON
/// parsers go (serde_json's default limit), so no receiver chokes on it.
pub const MAX_DATA_DEPTH: usize = 128;

/// Removes insignificant whitespace from valid JSON text, keeping every other byte
/// (key order, number text, string escapes) as it was.
pub fn minify_json(json: &str) -> String {
    minify_json_with_depth(json).0
}

/// `minify_json`, also returning the deepest nesting of arrays and objects. Works on
/// bytes and copies runs between whitespace at once: every byte that matters here
/// is ASCII, and UTF-8 never puts an ASCII byte inside a multi-byte character.
pub fn minify_json_with_depth(json: &str) -> (String, usize) {
    let bytes = json.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut run = 0usize; // start of the bytes not copied yet
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip to the closing quote, past escapes.
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b' ' | b'\t' | b'\n' | b'\r' => {
                out.extend_from_slice(&bytes[run..i]);
                run = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run.min(bytes.len())..]);
    let text = String::from_utf8(out)
        .expect("leaving whole ASCII whitespace bytes out of valid UTF-8 keeps it valid");
    (text, deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_numbers_escapes_and_key_order() {
        let input = "{ \"b\" : 45000.0 ,\n \"a\": \"x \\\" \\u00e9 \\/ y\", \"c\": [1, 2 ] }";
        assert_eq!(
            minify_json(input),
            "{\"b\":45000.0,\"a\":\"x \\\" \\u00e9 \\/ y\",\"c\":[1,2]}"
        );
    }

    #[test]
    fn minify_removes_whitespace_only_outside_strings() {
        assert_eq!(
            minify_json(" \t\r\n[ 1 ,\n\"a b\\\" \\\\\" , \"é ☃\" ] "),
            "[1,\"a b\\\" \\\\\",\"é ☃\"]"
        );
        assert_eq!(minify_json("\"\""), "\"\"");
        assert_eq!(minify_json(""), "");
    }

    #[test]
    fn depth_counts_nesting_outside_strings() {
        assert_eq!(minify_json_with_depth("[[{\"a\":\"[[[\"}]]").1, 3);
        assert_eq!(minify_json_with_depth("1").1, 0);
    }

    #[test]
    fn a_repeat_is_the_same_type_data_and_set_of_channels() {
        let first = Event {
            id: EventId::parse("order-1").unwrap(),
            tenant: TenantId::parse("t").unwrap(),
            event_type: "order.filled".into(),
            channels: vec!["BTC-USD".into(), "ETH-USD".into()],
            created_at: Timestamp(1),
            data: minify_json("{ \"price\": 45000.5 }").into(),
            deliveries: 3,
        };
        let again = Event {
            channels: vec!["ETH-USD".into(), "BTC-USD".into(), "ETH-USD".into()],
            created_at: Timestamp(2),
            data: minify_json("{\"price\":45000.5}").into(),
            deliveries: 0,
            ..first.clone()
        };
        assert!(
            first.is_same_publish(&again),
            "whitespace, order, time: not the body"
        );
        let differs = [
            Event {
                event_type: "order.cancelled".into(),
                ..again.clone()
            },
            Event {
                data: "{\"price\":45000.50}".into(),
                ..again.clone()
            },
            Event {
                data: "{\"price\":45000.5,\"qty\":1}".into(),
                ..again.clone()
            },
            Event {
                channels: vec!["BTC-USD".into()],
                ..again.clone()
            },
            Event {
                channels: vec![],
                ..again.clone()
            },
        ];
        for other in differs {
            assert!(!first.is_same_publish(&other), "{other:?}");
        }
    }

    #[test]
    fn body_is_the_documented_envelope() {
        let event = Event {
            id: EventId::parse("evt_1").unwrap(),
            tenant: TenantId::parse("t").unwrap(),
            event_type: "order.filled".into(),
            channels: vec![],
            created_at: Timestamp(1_764_000_000_123),
            data: "{\"x\":1}".into(),
            deliveries: 1,
        };
        assert_eq!(
            event.body(),
            "{\"id\":\"evt_1\",\"type\":\"order.filled\",\"created_at\":\"2025-11-24T16:00:00.123Z\",\"data\":{\"x\":1}}"
        );
    }
}

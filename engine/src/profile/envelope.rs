//! The body a profile sends: its envelope (ordered top-level fields, each from a
//! source) or the publisher's data alone, written as compact JSON text. A JSON mode
//! (`json`) may then rewrite the whole text as a language runtime would.

use std::fmt;

use crate::ids::{DeliveryId, EndpointId};
use crate::model::Event;
use crate::time::Timestamp;

/// How an envelope writes the event's creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeFormat {
    /// `"2026-12-03T10:30:00Z"`, whole seconds.
    Rfc3339,
    /// `"2026-12-03T10:30:00.123Z"`.
    Rfc3339Ms,
    /// Unix seconds, a JSON integer.
    Unix,
    /// Unix milliseconds, a JSON integer.
    UnixMs,
}

/// Where an envelope field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The event's id (`webhook-id`).
    EventId,
    /// The event's type.
    EventType,
    /// The event's creation time (so the body is the same on every attempt).
    Time(TimeFormat),
    /// The tenant the event belongs to.
    Tenant,
    /// The endpoint the delivery goes to.
    EndpointId,
    /// The delivery (one per event and endpoint).
    DeliveryId,
    /// The publisher's data.
    Data,
}

impl Source {
    /// Reads a source as profiles name it (`event_id`, `time:unix`, ...).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "event_id" => Source::EventId,
            "event_type" => Source::EventType,
            "time:rfc3339" => Source::Time(TimeFormat::Rfc3339),
            "time:rfc3339_ms" => Source::Time(TimeFormat::Rfc3339Ms),
            "time:unix" => Source::Time(TimeFormat::Unix),
            "time:unix_ms" => Source::Time(TimeFormat::UnixMs),
            "tenant" => Source::Tenant,
            "endpoint_id" => Source::EndpointId,
            "delivery_id" => Source::DeliveryId,
            "data" => Source::Data,
            _ => return None,
        })
    }

    /// The name profiles use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::EventId => "event_id",
            Source::EventType => "event_type",
            Source::Time(TimeFormat::Rfc3339) => "time:rfc3339",
            Source::Time(TimeFormat::Rfc3339Ms) => "time:rfc3339_ms",
            Source::Time(TimeFormat::Unix) => "time:unix",
            Source::Time(TimeFormat::UnixMs) => "time:unix_ms",
            Source::Tenant => "tenant",
            Source::EndpointId => "endpoint_id",
            Source::DeliveryId => "delivery_id",
            Source::Data => "data",
        }
    }

    /// Whether its value differs between the deliveries of one event.
    pub fn per_delivery(self) -> bool {
        matches!(self, Source::EndpointId | Source::DeliveryId)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shape of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// A JSON object of these fields, in this order.
    Fields(Vec<(String, Source)>),
    /// The publisher's data alone.
    Data,
}

impl Envelope {
    /// Today's default envelope: `{"id","type","created_at","data"}`.
    pub fn standard() -> Self {
        Envelope::Fields(vec![
            ("id".into(), Source::EventId),
            ("type".into(), Source::EventType),
            ("created_at".into(), Source::Time(TimeFormat::Rfc3339Ms)),
            ("data".into(), Source::Data),
        ])
    }

    /// Whether the body differs between the deliveries of one event.
    pub fn per_delivery(&self) -> bool {
        match self {
            Envelope::Fields(fields) => fields.iter().any(|(_, source)| source.per_delivery()),
            Envelope::Data => false,
        }
    }
}

/// The delivery a body is written for, when the envelope names it.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryContext<'a> {
    /// The endpoint.
    pub endpoint_id: &'a EndpointId,
    /// The delivery.
    pub delivery_id: &'a DeliveryId,
}

/// Writes `envelope` for `event` (and `delivery`, for sources that name it) as
/// compact JSON text; `data` is inserted as the event holds it.
pub(crate) fn write(
    envelope: &Envelope,
    event: &Event,
    delivery: Option<DeliveryContext<'_>>,
) -> String {
    let fields = match envelope {
        Envelope::Data => return event.data.to_string(),
        Envelope::Fields(fields) => fields,
    };
    let mut body = String::with_capacity(event.data.len() + 32 * fields.len() + 2);
    body.push('{');
    for (i, (name, source)) in fields.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        push_json_string(&mut body, name);
        body.push(':');
        match source {
            Source::EventId => push_json_string(&mut body, event.id.as_str()),
            Source::EventType => push_json_string(&mut body, &event.event_type),
            Source::Time(format) => push_time(&mut body, event.created_at, *format),
            Source::Tenant => push_json_string(&mut body, event.tenant.as_str()),
            Source::EndpointId => match delivery {
                Some(d) => push_json_string(&mut body, d.endpoint_id.as_str()),
                None => body.push_str("null"),
            },
            Source::DeliveryId => match delivery {
                Some(d) => push_json_string(&mut body, d.delivery_id.as_str()),
                None => body.push_str("null"),
            },
            Source::Data => body.push_str(&event.data),
        }
    }
    body.push('}');
    body
}

fn push_time(out: &mut String, time: Timestamp, format: TimeFormat) {
    match format {
        TimeFormat::Rfc3339Ms => {
            out.push('"');
            out.push_str(&time.to_rfc3339());
            out.push('"');
        }
        TimeFormat::Rfc3339 => {
            out.push('"');
            out.push_str(&time.to_rfc3339_secs());
            out.push('"');
        }
        TimeFormat::Unix => out.push_str(&time.as_secs().to_string()),
        TimeFormat::UnixMs => out.push_str(&time.0.to_string()),
    }
}

/// Appends `text` as a JSON string, escaped as serde_json escapes (the envelope's
/// own strings are ids, types and names: plain ASCII in practice).
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, TenantId};

    fn event() -> Event {
        Event {
            id: EventId::parse("evt_1").unwrap(),
            tenant: TenantId::parse("org-7").unwrap(),
            event_type: "order.filled".into(),
            channels: vec![],
            created_at: Timestamp(1_764_000_000_123),
            data: "{\"x\":1}".into(),
            deliveries: 1,
        }
    }

    #[test]
    fn the_standard_envelope_is_the_event_body() {
        assert_eq!(write(&Envelope::standard(), &event(), None), event().body());
    }

    #[test]
    fn every_source_writes_as_documented() {
        let endpoint = EndpointId::parse("ep_01HF7YAT00A0B1C2D3E4F5G6H7").unwrap();
        let delivery = DeliveryId::parse("dlv_01HF7YAT00TGVHWJXKYMZN0P1Q").unwrap();
        let fields = [
            "event_id",
            "event_type",
            "time:rfc3339",
            "time:rfc3339_ms",
            "time:unix",
            "time:unix_ms",
            "tenant",
            "endpoint_id",
            "delivery_id",
            "data",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("f{i}"), Source::parse(s).unwrap()))
        .collect();
        let body = write(
            &Envelope::Fields(fields),
            &event(),
            Some(DeliveryContext {
                endpoint_id: &endpoint,
                delivery_id: &delivery,
            }),
        );
        assert_eq!(
            body,
            concat!(
                r#"{"f0":"evt_1","f1":"order.filled","f2":"2025-11-24T16:00:00Z","#,
                r#""f3":"2025-11-24T16:00:00.123Z","f4":1764000000,"f5":1764000000123,"#,
                r#""f6":"org-7","f7":"ep_01HF7YAT00A0B1C2D3E4F5G6H7","#,
                r#""f8":"dlv_01HF7YAT00TGVHWJXKYMZN0P1Q","f9":{"x":1}}"#
            )
        );
        assert_eq!(write(&Envelope::Data, &event(), None), "{\"x\":1}");
    }
}

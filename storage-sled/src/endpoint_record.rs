//! An endpoint as stored under `E`: its fields in postcard, in the order of
//! `EndpointRecord`, with its secrets and custom header values sealed under the
//! store's keyring (`herald::sealing`), so the data directory holds none of them in
//! the clear. Format 7 stored the same fields with those values as text;
//! `decode_format_7` reads such a record once, to migrate it.
//!
//! Each sealed value is bound to its endpoint and field (`context`): a value copied
//! from another endpoint's record, or from a header to the secret, does not open.

use std::collections::BTreeMap;

use herald::ids::{EndpointId, TenantId};
use herald::model::Endpoint;
use herald::sealing::{endpoint_context, EndpointField, Keyring};
use herald::signing::SecretSet;
use herald::storage::StorageResult;
use herald::time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::records::{corrupt, parse_id, postcard_decode, postcard_encode, stored_secret};
use crate::records::{DisabledReasonRecord, OrderingRecord};

/// What errors call an endpoint record.
pub(crate) const WHAT: &str = "endpoint";

/// Room an endpoint record's encoding starts with.
const CAPACITY: usize = 512;

/// An endpoint's secrets as stored; `S` is a sealed value (`&[u8]`, format 8) or
/// text (`&str`, format 7).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SecretSetRecord<S> {
    current: S,
    previous: Option<S>,
    previous_valid_until: Option<u64>,
}

/// An endpoint as stored; `S` as in `SecretSetRecord`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EndpointRecord<'a, S> {
    id: &'a str,
    tenant: &'a str,
    url: &'a str,
    #[serde(borrow)]
    description: Option<&'a str>,
    #[serde(borrow)]
    event_types: Vec<&'a str>,
    #[serde(borrow)]
    channels: Vec<&'a str>,
    active: bool,
    disabled_reason: Option<DisabledReasonRecord>,
    profile: &'a str,
    secrets: SecretSetRecord<S>,
    /// In name order (the domain's `BTreeMap`).
    headers: Vec<(&'a str, S)>,
    ordering: OrderingRecord,
    max_in_flight: Option<u32>,
    rate_limit: Option<u32>,
    timeout_ms: Option<u64>,
    retry_schedule_secs: Option<Vec<u64>>,
    created_at: u64,
    updated_at: u64,
    enabled_at: Option<u64>,
    version: u64,
}

/// `endpoint`'s record, each secret and header value made into `S` by `seal`.
fn record<'a, S>(
    endpoint: &'a Endpoint,
    mut seal: impl FnMut(&'a str, EndpointField<'a>) -> S,
) -> EndpointRecord<'a, S> {
    let Endpoint {
        id,
        tenant,
        url,
        description,
        event_types,
        channels,
        active,
        disabled_reason,
        profile,
        secrets,
        headers,
        ordering,
        max_in_flight,
        rate_limit,
        timeout_ms,
        retry_schedule_secs,
        created_at,
        updated_at,
        enabled_at,
        version,
    } = endpoint;
    let SecretSet {
        current,
        previous,
        previous_valid_until,
    } = secrets;
    EndpointRecord {
        id: id.as_str(),
        tenant: tenant.as_str(),
        url,
        description: description.as_deref(),
        event_types: event_types.iter().map(String::as_str).collect(),
        channels: channels.iter().map(String::as_str).collect(),
        active: *active,
        disabled_reason: disabled_reason.map(Into::into),
        profile,
        secrets: SecretSetRecord {
            current: seal(current.expose(), EndpointField::Secret),
            previous: previous
                .as_ref()
                .map(|p| seal(p.expose(), EndpointField::PreviousSecret)),
            previous_valid_until: previous_valid_until.map(|t| t.0),
        },
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str(), seal(value, EndpointField::Header(name))))
            .collect(),
        ordering: (*ordering).into(),
        max_in_flight: *max_in_flight,
        rate_limit: *rate_limit,
        timeout_ms: *timeout_ms,
        retry_schedule_secs: retry_schedule_secs.clone(),
        created_at: created_at.0,
        updated_at: updated_at.0,
        enabled_at: enabled_at.map(|t| t.0),
        version: *version,
    }
}

/// The endpoint `record` holds, each sealed value made text by `open`.
fn endpoint<S>(
    record: EndpointRecord<'_, S>,
    mut open: impl FnMut(S, EndpointField<'_>) -> StorageResult<String>,
) -> StorageResult<Endpoint> {
    let strings = |texts: Vec<&str>| texts.into_iter().map(str::to_owned).collect();
    let secret = |text: String| stored_secret(&text);
    let current = secret(open(record.secrets.current, EndpointField::Secret)?)?;
    let previous = match record.secrets.previous {
        Some(p) => Some(secret(open(p, EndpointField::PreviousSecret)?)?),
        None => None,
    };
    let headers = record
        .headers
        .into_iter()
        .map(|(name, value)| Ok((name.to_owned(), open(value, EndpointField::Header(name))?)))
        .collect::<StorageResult<BTreeMap<String, String>>>()?;
    Ok(Endpoint {
        id: parse_id(WHAT, record.id, EndpointId::parse)?,
        tenant: parse_id(WHAT, record.tenant, TenantId::parse)?,
        url: record.url.to_owned(),
        description: record.description.map(str::to_owned),
        event_types: strings(record.event_types),
        channels: strings(record.channels),
        active: record.active,
        disabled_reason: record.disabled_reason.map(Into::into),
        profile: record.profile.to_owned(),
        secrets: SecretSet {
            current,
            previous,
            previous_valid_until: record.secrets.previous_valid_until.map(Timestamp),
        },
        headers,
        ordering: record.ordering.into(),
        max_in_flight: record.max_in_flight,
        rate_limit: record.rate_limit,
        timeout_ms: record.timeout_ms,
        retry_schedule_secs: record.retry_schedule_secs,
        created_at: Timestamp(record.created_at),
        updated_at: Timestamp(record.updated_at),
        enabled_at: record.enabled_at.map(Timestamp),
        version: record.version,
    })
}

/// Encodes `endpoint`, its secrets and header values sealed under `keyring`'s
/// current key.
pub(crate) fn encode(endpoint: &Endpoint, keyring: &Keyring) -> StorageResult<Vec<u8>> {
    let id = endpoint.id.as_str();
    let sealed = record(endpoint, |text, field| {
        Sealed(keyring.seal(text.as_bytes(), &endpoint_context(id, field)))
    });
    postcard_encode(&sealed, CAPACITY)
}

/// Reads what `encode` wrote, opening the sealed values with `keyring`.
pub(crate) fn decode(bytes: &[u8], keyring: &Keyring) -> StorageResult<Endpoint> {
    let record: EndpointRecord<'_, &[u8]> = postcard_decode(bytes, WHAT)?;
    let id = record.id;
    endpoint(record, |sealed, field| {
        let text = keyring
            .open(sealed, &endpoint_context(id, field))
            .map_err(|e| corrupt(WHAT, format_args!("{id}: {e}")))?;
        String::from_utf8(text).map_err(|_| corrupt(WHAT, format_args!("{id}: not UTF-8")))
    })
}

/// Reads an endpoint record of format 7 (secrets and header values as text).
pub(crate) fn decode_format_7(bytes: &[u8]) -> StorageResult<Endpoint> {
    let record: EndpointRecord<'_, &str> = postcard_decode(bytes, WHAT)?;
    endpoint(record, |text, _| Ok(text.to_owned()))
}

/// A sealed value, written as postcard writes bytes (a length, then the bytes), so
/// that it reads back as `&[u8]` without a copy.
#[derive(Debug, PartialEq, Eq)]
struct Sealed(Vec<u8>);

impl Serialize for Sealed {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use herald::error::StorageError;
    use herald::model::{DisabledReason, Ordering};

    use super::*;

    const ENDPOINT: &str = "ep_01HF7YAT00A0B1C2D3E4F5G6H7";

    /// An endpoint with every optional field set.
    fn endpoint_value() -> Endpoint {
        let at = |ms: u64| Timestamp(1_700_000_000_000 + ms);
        Endpoint {
            id: EndpointId::parse(ENDPOINT).unwrap(),
            tenant: TenantId::parse("acme").unwrap(),
            url: "https://example.com/hooks".into(),
            description: Some("orders".into()),
            event_types: vec!["order.filled".into(), "order.*".into()],
            channels: vec!["eu".into()],
            active: false,
            disabled_reason: Some(DisabledReason::Failing),
            profile: "perps".into(),
            secrets: SecretSet {
                current: stored_secret("whsec_bmV3LXNlY3JldC1ieXRlcy0wMTIzNDU2").unwrap(),
                previous: Some(stored_secret("old-secret-0123456789").unwrap()),
                previous_valid_until: Some(at(60_000)),
            },
            headers: BTreeMap::from([
                ("x-team".into(), "desk-7".into()),
                ("x-env".into(), "prod".into()),
            ]),
            ordering: Ordering::Fifo,
            max_in_flight: Some(4),
            rate_limit: Some(100),
            timeout_ms: Some(2_500),
            retry_schedule_secs: Some(vec![1, 5, 300]),
            created_at: at(0),
            updated_at: at(61_000),
            enabled_at: Some(at(30_000)),
            version: 3,
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The layout of format 8, with each sealed value replaced by a fixed stand-in
    /// (a real one differs every time: a fresh nonce): the bytes around them are
    /// frozen.
    #[test]
    fn an_endpoint_record_has_its_golden_layout() {
        let value = endpoint_value();
        let stand_in = |_: &str, field: EndpointField<'_>| {
            Sealed(match field {
                EndpointField::Secret => b"S1".to_vec(),
                EndpointField::PreviousSecret => b"S0".to_vec(),
                EndpointField::Header(name) => name.as_bytes().to_vec(),
            })
        };
        let bytes = postcard::to_allocvec(&record(&value, stand_in)).unwrap();
        assert_eq!(hex(&bytes), GOLDEN_LAYOUT);
        // And it reads back, each stand-in where its field is.
        let read: EndpointRecord<'_, &[u8]> = postcard::from_bytes(&bytes).unwrap();
        let back = endpoint(read, |bytes, field| {
            Ok(match (field, bytes) {
                (EndpointField::Secret, b"S1") => value.secrets.current.expose().to_owned(),
                (EndpointField::PreviousSecret, b"S0") => {
                    value.secrets.previous.as_ref().unwrap().expose().to_owned()
                }
                (EndpointField::Header(name), b) if b == name.as_bytes() => {
                    value.headers[name].clone()
                }
                other => panic!("unexpected {other:?}"),
            })
        })
        .unwrap();
        assert_eq!(back, value);
    }

    /// Format 7's bytes of the same endpoint (the golden bytes of format 7's own
    /// test) read as that endpoint.
    #[test]
    fn a_format_7_record_reads_back() {
        let bytes: Vec<u8> = (0..GOLDEN_FORMAT_7.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&GOLDEN_FORMAT_7[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(decode_format_7(&bytes).unwrap(), endpoint_value());
    }

    #[test]
    fn sealed_records_hold_no_secret_and_read_back_with_their_keyring_only() {
        let value = endpoint_value();
        let keyring = Keyring::generate();
        let bytes = encode(&value, &keyring).unwrap();
        for clear in [
            "whsec_bmV3LXNlY3JldC1ieXRlcy0wMTIzNDU2",
            "old-secret-0123456789",
            "desk-7",
            "prod",
        ] {
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
                "{clear} in the clear"
            );
        }
        assert_eq!(decode(&bytes, &keyring).unwrap(), value);
        let other = Keyring::generate();
        let result = decode(&bytes, &other);
        assert!(
            matches!(&result, Err(StorageError::Corrupt(why)) if why.contains("does not hold")),
            "{result:?}"
        );
    }

    #[test]
    fn a_sealed_value_moved_to_another_field_does_not_open() {
        let mut value = endpoint_value();
        value.headers = BTreeMap::from([("x-a".into(), "one".into())]);
        let keyring = Keyring::generate();
        let bytes = encode(&value, &keyring).unwrap();
        let mut record: EndpointRecord<'_, &[u8]> = postcard::from_bytes(&bytes).unwrap();
        record.secrets.current = record.headers[0].1;
        let swapped = postcard::to_allocvec(&record).unwrap();
        assert!(matches!(
            decode(&swapped, &keyring),
            Err(StorageError::Corrupt(_))
        ));
    }

    const GOLDEN_LAYOUT: &str = concat!(
        "1d65705f30314846375941543030413042314332443345344635473648370461",
        "636d651968747470733a2f2f6578616d706c652e636f6d2f686f6f6b7301066f",
        "7264657273020c6f726465722e66696c6c6564076f726465722e2a0102657500",
        "01020570657270730253310102533001e0a499ffbc310205782d656e7605782d",
        "656e7606782d7465616d06782d7465616d010104016401c41301030105ac0280",
        "d095ffbc31c8ac99ffbc3101b0ba97ffbc3103",
    );

    /// Format 7's endpoint record of `endpoint_value()`.
    const GOLDEN_FORMAT_7: &str = concat!(
        "1d65705f30314846375941543030413042314332443345344635473648370461",
        "636d651968747470733a2f2f6578616d706c652e636f6d2f686f6f6b7301066f",
        "7264657273020c6f726465722e66696c6c6564076f726465722e2a0102657500",
        "01020570657270732677687365635f626d56334c584e6c59334a6c6443316965",
        "58526c637930774d54497a4e44553201156f6c642d7365637265742d30313233",
        "34353637383901e0a499ffbc310205782d656e760470726f6406782d7465616d",
        "066465736b2d37010104016401c41301030105ac0280d095ffbc31c8ac99ffbc",
        "3101b0ba97ffbc3103",
    );
}

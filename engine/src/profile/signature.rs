//! The signature recipes a profile may use (profiles.md §1), every one HMAC-SHA256:
//! what is signed, how the header value reads, which secrets sign during a
//! rotation, and the receiver-side check of each.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::signing::{Secret, VerifyError, SECRET_PREFIX};

/// How a profile's requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// Standard Webhooks: `v1,<base64>` over `{event_id}.{timestamp}.{body}`, one per
    /// valid secret, space-separated.
    Standard,
    /// `<hex>` over the body, newest secret only.
    Hex,
    /// `<hex>` over `{timestamp}.{body}`, newest secret only.
    HexTimestamp,
    /// `t=<timestamp>,v1=<hex>` over `{timestamp}.{body}`, one `v1=` per valid
    /// secret, newest first.
    Stripe,
    /// `sha256=<hex>` over the body, newest secret only.
    Github,
}

impl SignatureKind {
    /// Reads a kind as profiles name it.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "standard" => SignatureKind::Standard,
            "hex" => SignatureKind::Hex,
            "hex_timestamp" => SignatureKind::HexTimestamp,
            "stripe" => SignatureKind::Stripe,
            "github" => SignatureKind::Github,
            _ => return None,
        })
    }

    /// The name profiles use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::Standard => "standard",
            SignatureKind::Hex => "hex",
            SignatureKind::HexTimestamp => "hex_timestamp",
            SignatureKind::Stripe => "stripe",
            SignatureKind::Github => "github",
        }
    }

    /// Whether the signed content includes the signing timestamp (the receiver needs
    /// it, in a header of its own or in the signature's value).
    pub fn timestamped(self) -> bool {
        matches!(
            self,
            SignatureKind::Standard | SignatureKind::HexTimestamp | SignatureKind::Stripe
        )
    }

    /// Whether every secret valid during a rotation signs (else the newest only).
    pub fn signs_with_every_secret(self) -> bool {
        matches!(self, SignatureKind::Standard | SignatureKind::Stripe)
    }
}

/// How a secret becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The secret string's UTF-8 bytes, whole, prefix included.
    Text,
    /// The base64-decoded part after `whsec_`.
    Whsec,
}

impl KeyKind {
    /// Reads a key kind as profiles name it.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "text" => Some(KeyKind::Text),
            "whsec" => Some(KeyKind::Whsec),
            _ => None,
        }
    }

    /// The name profiles use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Text => "text",
            KeyKind::Whsec => "whsec",
        }
    }

    /// The HMAC key of `secret`; `None` when the secret does not fit (`whsec`
    /// without the `whsec_` base64 form).
    pub fn key_of(self, secret: &str) -> Option<Vec<u8>> {
        match self {
            KeyKind::Text => Some(secret.as_bytes().to_vec()),
            KeyKind::Whsec => secret
                .strip_prefix(SECRET_PREFIX)
                .and_then(|encoded| BASE64.decode(encoded).ok())
                .filter(|key| !key.is_empty()),
        }
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// One signature of `kind` with `key`, as its header carries it for one secret
/// (for `stripe`, the `v1=<hex>` part).
fn one(kind: SignatureKind, key: &[u8], event_id: &str, timestamp: &str, body: &[u8]) -> String {
    match kind {
        SignatureKind::Standard => {
            let mac = hmac(
                key,
                &[event_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
            );
            format!("v1,{}", BASE64.encode(mac))
        }
        SignatureKind::Hex => hex::encode(hmac(key, &[body])),
        SignatureKind::HexTimestamp => hex::encode(hmac(key, &[timestamp.as_bytes(), b".", body])),
        SignatureKind::Stripe => {
            format!(
                "v1={}",
                hex::encode(hmac(key, &[timestamp.as_bytes(), b".", body]))
            )
        }
        SignatureKind::Github => format!("sha256={}", hex::encode(hmac(key, &[body]))),
    }
}

/// The signature header's value for `body`, signed by `secrets` (valid ones, newest
/// first) with `key` keys at `timestamp` (Unix seconds). Secrets whose key cannot be
/// made are skipped; `None` when none can sign.
pub fn sign(
    kind: SignatureKind,
    key: KeyKind,
    secrets: &[&Secret],
    event_id: &str,
    timestamp: u64,
    body: &[u8],
) -> Option<String> {
    let ts = timestamp.to_string();
    let signing = if kind.signs_with_every_secret() {
        secrets
    } else {
        &secrets[..secrets.len().min(1)]
    };
    let parts: Vec<String> = signing
        .iter()
        .filter_map(|secret| key.key_of(secret.expose()))
        .map(|k| one(kind, &k, event_id, &ts, body))
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(match kind {
        SignatureKind::Stripe => format!("t={ts},{}", parts.join(",")),
        _ => parts.join(" "),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// What a receiver checks one request with.
#[derive(Debug, Clone, Copy)]
pub struct VerifyInput<'a> {
    /// The signature header's value.
    pub signature: &'a str,
    /// The timestamp header's value, when the profile sends one.
    pub timestamp: Option<&'a str>,
    /// The event id header's value, when the profile sends one (`standard` needs it).
    pub event_id: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
}

/// Checks a request signed by `kind` with `key` against `secret`, at the receiver's
/// `now_secs`, accepting timestamps within `tolerance` for the kinds that sign one.
///
/// # Errors
/// `VerifyError` saying what did not check out.
pub fn verify(
    kind: SignatureKind,
    key: KeyKind,
    secret: &str,
    input: VerifyInput<'_>,
    now_secs: u64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let key = key.key_of(secret).ok_or(VerifyError::BadSecret)?;
    let (timestamp, candidates): (Option<String>, Vec<&str>) = match kind {
        SignatureKind::Stripe => {
            let mut ts = None;
            let mut sigs = Vec::new();
            for part in input.signature.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", value)) => ts = Some(value.to_owned()),
                    Some(("v1", _)) => sigs.push(part.trim()),
                    _ => {}
                }
            }
            (ts, sigs)
        }
        _ => (
            input.timestamp.map(|t| t.trim().to_owned()),
            input
                .signature
                .split(' ')
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    };
    let timestamp = if kind.timestamped() {
        let text = timestamp.ok_or(VerifyError::Malformed)?;
        let value: u64 = text.parse().map_err(|_| VerifyError::Malformed)?;
        if value.abs_diff(now_secs) > tolerance.as_secs() {
            return Err(VerifyError::StaleTimestamp);
        }
        text
    } else {
        String::new()
    };
    let event_id = match kind {
        SignatureKind::Standard => input.event_id.ok_or(VerifyError::Malformed)?,
        _ => "",
    };
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let expected = one(kind, &key, event_id, &timestamp, input.body);
    if candidates
        .iter()
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SignatureScheme;

    /// profiles.md §5: the `js` line of the test vector.
    const JS_LINE: &str = r#"{"1":"one","2":"two","sizeUsd":15000.5,"price":45000,"qty":100,"big":12345678901234567000,"tiny":0.000001,"exp":1e-7,"neg":0,"name":"café ☃","raw":"café","esc":"a/b\"c\\d\u0001","b":2,"emoji":"😀","arr":[1.5,true,null,{"z":1,"a":2}]}"#;
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn secret(text: &str) -> Secret {
        Secret::parse(SignatureScheme::Hex, text).unwrap()
    }

    #[test]
    fn hex_matches_the_published_vector() {
        assert_eq!(JS_LINE.len(), 239);
        let s = secret(SECRET);
        let signed = sign(
            SignatureKind::Hex,
            KeyKind::Text,
            &[&s],
            "evt",
            0,
            JS_LINE.as_bytes(),
        );
        assert_eq!(
            signed.as_deref(),
            Some("b0b89567e4d5662f14c4bdae2276c3726a386486d6e44614bc890dd4416b61ea")
        );
    }

    #[test]
    fn each_kind_reads_as_documented_and_verifies() {
        let (new, old) = (secret(SECRET), secret("an-older-secret-of-text"));
        let body = br#"{"a":1}"#;
        for kind in [
            SignatureKind::Standard,
            SignatureKind::Hex,
            SignatureKind::HexTimestamp,
            SignatureKind::Stripe,
            SignatureKind::Github,
        ] {
            let key = if kind == SignatureKind::Standard {
                KeyKind::Whsec
            } else {
                KeyKind::Text
            };
            let signed = sign(kind, key, &[&new, &old], "evt_1", 1_700_000_000, body).unwrap();
            match kind {
                SignatureKind::Standard => assert!(signed.starts_with("v1,"), "{signed}"),
                SignatureKind::Hex | SignatureKind::HexTimestamp => {
                    assert_eq!(signed.len(), 64, "newest only: {signed}")
                }
                SignatureKind::Stripe => {
                    assert!(signed.starts_with("t=1700000000,v1="), "{signed}");
                    assert_eq!(
                        signed.matches(",v1=").count(),
                        2,
                        "one per secret, newest first"
                    );
                }
                SignatureKind::Github => assert!(signed.starts_with("sha256="), "{signed}"),
            }
            let input = VerifyInput {
                signature: &signed,
                timestamp: Some("1700000000"),
                event_id: Some("evt_1"),
                body,
            };
            let ok = verify(
                kind,
                key,
                new.expose(),
                input,
                1_700_000_010,
                Duration::from_secs(300),
            );
            assert_eq!(ok, Ok(()), "{kind:?}");
            let tampered = VerifyInput {
                body: br#"{"a":2}"#,
                ..input
            };
            assert!(verify(
                kind,
                key,
                new.expose(),
                tampered,
                1_700_000_010,
                Duration::from_secs(300)
            )
            .is_err());
            if kind.timestamped() {
                let late = verify(
                    kind,
                    key,
                    new.expose(),
                    input,
                    1_700_001_000,
                    Duration::from_secs(300),
                );
                assert_eq!(late, Err(VerifyError::StaleTimestamp), "{kind:?}");
            }
        }
        // During a rotation, a stripe receiver holding the old secret still verifies.
        let signed = sign(
            SignatureKind::Stripe,
            KeyKind::Text,
            &[&new, &old],
            "e",
            5,
            body,
        )
        .unwrap();
        let input = VerifyInput {
            signature: &signed,
            timestamp: None,
            event_id: None,
            body,
        };
        assert_eq!(
            verify(
                SignatureKind::Stripe,
                KeyKind::Text,
                old.expose(),
                input,
                5,
                Duration::from_secs(1)
            ),
            Ok(())
        );
    }

    #[test]
    fn a_whsec_key_needs_the_whsec_form() {
        assert_eq!(KeyKind::Whsec.key_of("not-a-whsec-secret"), None);
        assert!(KeyKind::Whsec.key_of(SECRET).is_some());
        assert_eq!(KeyKind::Text.key_of("abc").unwrap(), b"abc");
    }
}

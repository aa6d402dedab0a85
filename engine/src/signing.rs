//! Request signing (delivery.md §2): the `standard`, `hex` and `timestamped` schemes,
//! secrets with rotation, and the receiver-side `verify` of each scheme.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::error::Invalid;
use crate::time::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of Standard Webhooks secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// How an endpoint's requests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// Standard Webhooks: `webhook-signature: v1,<base64>` over `id.timestamp.body`.
    #[default]
    Standard,
    /// `x-webhook-signature: <hex HMAC of the body>`, keyed by the whole secret string.
    Hex,
    /// `x-webhook-signature: t=<ts>,v1=<hex HMAC of "ts.body">`, keyed by the whole secret.
    Timestamped,
}

/// An endpoint secret. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// A new `whsec_` secret of 32 random bytes.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{SECRET_PREFIX}{}", BASE64.encode(bytes)))
    }

    /// Checks a caller-supplied secret against the rules of `scheme`.
    ///
    /// # Errors
    /// `Invalid { field: "secret" }`: for `standard`, unless it is `whsec_` + base64 of
    /// 24 to 64 bytes; for `hex`/`timestamped`, unless it is 16 to 128 printable ASCII.
    pub fn parse(scheme: SignatureScheme, text: &str) -> Result<Self, Invalid> {
        match scheme {
            SignatureScheme::Standard => match standard_key(text) {
                Some(key) if (24..=64).contains(&key.len()) => Ok(Self(text.to_owned())),
                _ => Err(Invalid::new(
                    "secret",
                    "must be `whsec_` followed by the base64 of 24 to 64 bytes",
                )),
            },
            SignatureScheme::Hex | SignatureScheme::Timestamped => {
                let printable = text.bytes().all(|b| (0x21..=0x7e).contains(&b));
                if printable && (16..=128).contains(&text.len()) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(Invalid::new(
                        "secret",
                        "must be 16 to 128 printable ASCII characters",
                    ))
                }
            }
        }
    }

    /// Wraps a secret Herald made itself (an API key's token).
    pub(crate) fn wrap(text: String) -> Self {
        Self(text)
    }

    /// The secret text (to hand to its owner; never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The Standard Webhooks key, when the secret has the `whsec_` form.
    fn standard_key(&self) -> Option<Vec<u8>> {
        standard_key(&self.0)
    }
}

fn standard_key(text: &str) -> Option<Vec<u8>> {
    let encoded = text.strip_prefix(SECRET_PREFIX)?;
    BASE64.decode(encoded).ok().filter(|key| !key.is_empty())
}

/// The secrets in force for an endpoint: the current one and, for a grace period
/// after a rotation, the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSet {
    /// Signs every request.
    pub current: Secret,
    /// Still signs until `previous_valid_until`.
    pub previous: Option<Secret>,
    /// End of the rotation grace period.
    pub previous_valid_until: Option<Timestamp>,
}

impl SecretSet {
    /// A set with one secret.
    pub fn new(current: Secret) -> Self {
        Self {
            current,
            previous: None,
            previous_valid_until: None,
        }
    }

    /// Makes `next` current; the old current stays valid until `valid_until`.
    pub fn rotate(&mut self, next: Secret, valid_until: Timestamp) {
        let old = std::mem::replace(&mut self.current, next);
        self.previous = Some(old);
        self.previous_valid_until = Some(valid_until);
    }

    /// The secrets that sign at `now`, newest first.
    pub fn valid_at(&self, now: Timestamp) -> Vec<&Secret> {
        let mut secrets = vec![&self.current];
        if let (Some(previous), Some(until)) = (&self.previous, self.previous_valid_until) {
            if now < until {
                secrets.push(previous);
            }
        }
        secrets
    }
}

/// The signature headers of one attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// `webhook-signature`, when the scheme or secret form calls for it.
    pub webhook_signature: Option<String>,
    /// `x-webhook-signature` (`hex` and `timestamped` schemes).
    pub x_webhook_signature: Option<String>,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn standard_signature(key: &[u8], msg_id: &str, timestamp: u64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", BASE64.encode(mac))
}

/// Signs one attempt (delivery.md §2). `timestamp` is the `webhook-timestamp` (Unix
/// seconds); `now` decides which rotated secrets are still valid.
pub fn sign(
    scheme: SignatureScheme,
    secrets: &SecretSet,
    now: Timestamp,
    msg_id: &str,
    timestamp: u64,
    body: &[u8],
) -> SignatureHeaders {
    let valid = secrets.valid_at(now);
    let standard: Vec<String> = valid
        .iter()
        .filter_map(|secret| secret.standard_key())
        .map(|key| standard_signature(&key, msg_id, timestamp, body))
        .collect();
    let webhook_signature = (!standard.is_empty()).then(|| standard.join(" "));
    let current = secrets.current.expose().as_bytes();
    let x_webhook_signature = match scheme {
        SignatureScheme::Standard => None,
        SignatureScheme::Hex => Some(hex::encode(hmac(current, &[body]))),
        SignatureScheme::Timestamped => {
            let ts = timestamp.to_string();
            let mac = hex::encode(hmac(current, &[ts.as_bytes(), b".", body]));
            Some(format!("t={ts},v1={mac}"))
        }
    };
    SignatureHeaders {
        webhook_signature,
        x_webhook_signature,
    }
}

/// Why a receiver-side verification failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The secret cannot be used with this scheme.
    #[error("the secret is not usable for this scheme")]
    BadSecret,
    /// A header is missing or malformed.
    #[error("malformed signature header")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("timestamp outside the tolerance")]
    StaleTimestamp,
    /// No signature matched.
    #[error("no signature matches")]
    Mismatch,
}

/// Default receiver tolerance for timestamps (5 minutes).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

fn check_timestamp(timestamp: u64, now_secs: u64, tolerance: Duration) -> Result<(), VerifyError> {
    if timestamp.abs_diff(now_secs) > tolerance.as_secs() {
        Err(VerifyError::StaleTimestamp)
    } else {
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Verifies a Standard Webhooks request: `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` header values, the raw body, and the receiver's clock.
///
/// # Errors
/// `VerifyError` saying what did not check out.
pub fn verify_standard(
    secret: &str,
    msg_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: u64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let key = standard_key(secret).ok_or(VerifyError::BadSecret)?;
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed)?;
    check_timestamp(ts, now_secs, tolerance)?;
    let expected = standard_signature(&key, msg_id, ts, body);
    let mut any = false;
    for candidate in signature_header.split(' ').filter(|s| !s.is_empty()) {
        any = true;
        if constant_time_eq(candidate.as_bytes(), expected.as_bytes()) {
            return Ok(());
        }
    }
    if any {
        Err(VerifyError::Mismatch)
    } else {
        Err(VerifyError::Malformed)
    }
}

/// Verifies a `hex` request: `x-webhook-signature` against the raw body.
///
/// # Errors
/// `VerifyError::Mismatch` when the signature does not match.
pub fn verify_hex(secret: &str, signature_header: &str, body: &[u8]) -> Result<(), VerifyError> {
    let expected = hex::encode(hmac(secret.as_bytes(), &[body]));
    if constant_time_eq(signature_header.trim().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Verifies a `timestamped` request: `x-webhook-signature: t=..,v1=..`.
///
/// # Errors
/// `VerifyError` saying what did not check out.
pub fn verify_timestamped(
    secret: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: u64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let mut ts = None;
    let mut signatures = Vec::new();
    for part in signature_header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => ts = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let ts = ts.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    check_timestamp(ts, now_secs, tolerance)?;
    let t = ts.to_string();
    let expected = hex::encode(hmac(secret.as_bytes(), &[t.as_bytes(), b".", body]));
    if signatures
        .iter()
        .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: u64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn set(secret: &str) -> SecretSet {
        SecretSet::new(Secret(secret.to_owned()))
    }

    #[test]
    fn standard_matches_the_published_example() {
        let headers = sign(
            SignatureScheme::Standard,
            &set(SPEC_SECRET),
            Timestamp(0),
            SPEC_ID,
            SPEC_TS,
            SPEC_BODY,
        );
        assert_eq!(headers.webhook_signature.as_deref(), Some(SPEC_SIG));
        assert_eq!(headers.x_webhook_signature, None);
        verify_standard(
            SPEC_SECRET,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            SPEC_BODY,
            SPEC_TS + 10,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
    }

    #[test]
    fn standard_verify_rejects_stale_and_tampered() {
        let stale = verify_standard(
            SPEC_SECRET,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            SPEC_BODY,
            SPEC_TS + 301,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(stale, Err(VerifyError::StaleTimestamp));
        let tampered = verify_standard(
            SPEC_SECRET,
            SPEC_ID,
            "1614265330",
            SPEC_SIG,
            br#"{"test": 2432232315}"#,
            SPEC_TS,
            DEFAULT_TOLERANCE,
        );
        assert_eq!(tampered, Err(VerifyError::Mismatch));
    }

    #[test]
    fn rotation_signs_with_both_secrets_newest_first_during_grace() {
        let old = Secret::generate();
        let new = Secret::generate();
        let mut secrets = SecretSet::new(old.clone());
        secrets.rotate(new.clone(), Timestamp(10_000));
        let during = sign(
            SignatureScheme::Hex,
            &secrets,
            Timestamp(5_000),
            "evt_1",
            5,
            b"{}",
        );
        let parts: Vec<String> = during
            .webhook_signature
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect();
        assert_eq!(parts.len(), 2);
        verify_standard(
            new.expose(),
            "evt_1",
            "5",
            &parts[0],
            b"{}",
            5,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        verify_standard(
            old.expose(),
            "evt_1",
            "5",
            &parts[1],
            b"{}",
            5,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        // x-webhook-signature carries the new secret only.
        verify_hex(new.expose(), &during.x_webhook_signature.unwrap(), b"{}").unwrap();
        let after = sign(
            SignatureScheme::Standard,
            &secrets,
            Timestamp(10_000),
            "evt_1",
            5,
            b"{}",
        );
        assert_eq!(after.webhook_signature.unwrap().split(' ').count(), 1);
    }

    #[test]
    fn hex_and_timestamped_with_plain_secret_send_no_standard_header() {
        let secrets = set("plain-secret-0123456789");
        let headers = sign(
            SignatureScheme::Timestamped,
            &secrets,
            Timestamp(0),
            "evt_1",
            42,
            b"{}",
        );
        assert_eq!(headers.webhook_signature, None);
        let x = headers.x_webhook_signature.unwrap();
        assert!(x.starts_with("t=42,v1="));
        verify_timestamped("plain-secret-0123456789", &x, b"{}", 42, DEFAULT_TOLERANCE).unwrap();
        assert_eq!(
            verify_timestamped(
                "plain-secret-0123456789",
                &x,
                b"{}",
                1000,
                DEFAULT_TOLERANCE
            ),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn secret_rules_per_scheme() {
        assert!(Secret::parse(SignatureScheme::Standard, SPEC_SECRET).is_ok());
        assert!(Secret::parse(SignatureScheme::Standard, "whsec_c2hvcnQ=").is_err());
        assert!(Secret::parse(SignatureScheme::Standard, "not-a-whsec-secret-at-all").is_err());
        assert!(Secret::parse(SignatureScheme::Hex, "0123456789abcdef").is_ok());
        assert!(Secret::parse(SignatureScheme::Hex, "short").is_err());
        assert!(Secret::parse(SignatureScheme::Hex, "has space in it 12345").is_err());
        let generated = Secret::generate();
        assert!(Secret::parse(SignatureScheme::Standard, generated.expose()).is_ok());
        assert_eq!(format!("{generated:?}"), "Secret(***)");
    }

    proptest! {
        #[test]
        fn signature_header_parsers_refuse_garbage_without_panicking(
            header in ".{0,200}",
            timestamp in ".{0,20}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
            prop_assert!(verify_standard(secret, "msg", &timestamp, &header, &body, 0, DEFAULT_TOLERANCE).is_err());
            prop_assert!(verify_timestamped(secret, &header, &body, 0, DEFAULT_TOLERANCE).is_err());
            prop_assert!(verify_hex(secret, &header, &body).is_err());
        }

        #[test]
        fn any_single_byte_change_fails_verification(
            body in proptest::collection::vec(any::<u8>(), 1..512),
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let secret = Secret::generate();
            let secrets = SecretSet::new(secret.clone());
            let headers = sign(SignatureScheme::Timestamped, &secrets, Timestamp(0), "evt_x", 100, &body);
            let standard = headers.webhook_signature.unwrap();
            let x = headers.x_webhook_signature.unwrap();
            prop_assert!(verify_standard(secret.expose(), "evt_x", "100", &standard, &body, 100, DEFAULT_TOLERANCE).is_ok());
            prop_assert!(verify_timestamped(secret.expose(), &x, &body, 100, DEFAULT_TOLERANCE).is_ok());
            let mut changed = body.clone();
            let i = index.index(changed.len());
            changed[i] ^= flip;
            prop_assert!(verify_standard(secret.expose(), "evt_x", "100", &standard, &changed, 100, DEFAULT_TOLERANCE).is_err());
            prop_assert!(verify_timestamped(secret.expose(), &x, &changed, 100, DEFAULT_TOLERANCE).is_err());
            let hex_sig = sign(SignatureScheme::Hex, &secrets, Timestamp(0), "evt_x", 100, &body).x_webhook_signature.unwrap();
            prop_assert!(verify_hex(secret.expose(), &hex_sig, &body).is_ok());
            prop_assert!(verify_hex(secret.expose(), &hex_sig, &changed).is_err());
        }
    }
}

//! The receiver's side of a profile: checks a request's signature as the profile
//! made it, from the request's headers (by the profile's names, in any case) and
//! its raw body.

use std::time::Duration;

use http::HeaderMap;

use super::signature::{self, VerifyInput};
use super::{HeaderRole, Profile, Signing};
use crate::signing::{
    verify_hex, verify_standard, verify_timestamped, SignatureScheme, VerifyError,
};

/// Checks a request a receiver got: `headers` and the raw `body`, against `secret`,
/// at the receiver's clock `now_secs`, accepting signing timestamps within
/// `tolerance` for the recipes that sign one.
///
/// # Errors
/// `VerifyError` saying what did not check out (a missing header is `Malformed`).
pub fn verify_request(
    profile: &Profile,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now_secs: u64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match profile.signing() {
        Signing::Scheme(SignatureScheme::Standard) => verify_standard(
            secret,
            header("webhook-id").ok_or(VerifyError::Malformed)?,
            header("webhook-timestamp").ok_or(VerifyError::Malformed)?,
            header("webhook-signature").ok_or(VerifyError::Malformed)?,
            body,
            now_secs,
            tolerance,
        ),
        Signing::Scheme(SignatureScheme::Hex) => verify_hex(
            secret,
            header("x-webhook-signature").ok_or(VerifyError::Malformed)?,
            body,
        ),
        Signing::Scheme(SignatureScheme::Timestamped) => verify_timestamped(
            secret,
            header("x-webhook-signature").ok_or(VerifyError::Malformed)?,
            body,
            now_secs,
            tolerance,
        ),
        Signing::Recipe { kind, key } => {
            let role = |role: HeaderRole| profile.headers().get(role).and_then(header);
            let input = VerifyInput {
                signature: role(HeaderRole::Signature).ok_or(VerifyError::Malformed)?,
                timestamp: role(HeaderRole::Timestamp),
                event_id: role(HeaderRole::EventId),
                body,
            };
            signature::verify(kind, key, secret, input, now_secs, tolerance)
        }
    }
}

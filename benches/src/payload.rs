//! Event data of a chosen size that carries its send time, `{"t":<unix nanos>,"pad":"…"}`,
//! and the receiver's side: finding `t` again in a delivered body.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch: one clock for every process of a run.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Builds event data stamped with `t`, padded so the whole JSON text is about `size`
/// bytes (never less than the stamp itself).
pub fn stamped_data(t: u64, size: usize) -> String {
    let head = format!("{{\"t\":{t},\"pad\":\"");
    let pad = size.saturating_sub(head.len() + 2);
    let mut out = String::with_capacity(head.len() + pad + 2);
    out.push_str(&head);
    out.extend(std::iter::repeat_n('x', pad));
    out.push_str("\"}");
    out
}

/// The first `"t":<digits>` of a body: the send stamp of `stamped_data`. The webhook
/// envelope's own keys (`id`, `type`, `created_at`, `data`) never match it.
pub fn find_stamp(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"t\":";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, b| {
            n.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
        });
    (digits > 0).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_through_an_envelope() {
        let data = stamped_data(1_234_567, 1024);
        assert_eq!(data.len(), 1024);
        serde_json::from_str::<serde_json::Value>(&data).unwrap();
        let body = format!(
            "{{\"id\":\"evt_1\",\"type\":\"bench.t\",\"created_at\":\"x\",\"data\":{data}}}"
        );
        assert_eq!(find_stamp(body.as_bytes()), Some(1_234_567));
    }
}

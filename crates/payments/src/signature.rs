//! Webhook signatures in the `Stripe-Signature` scheme.
//!
//! A webhook carries the header `t=<unix seconds>,v1=<hex>`, where the hex is
//! the HMAC-SHA256, keyed with the endpoint's webhook secret, of
//! `"{t}.{payload}"`. A header may carry several `v1` entries (while a
//! secret is being rolled) and entries of other schemes (`v0`), which are
//! ignored. The timestamp is signed too, so a receiver that refuses old
//! timestamps refuses replays.
//!
//! This module only computes and checks; it reads no clock and no header
//! map, so the caller says what time it is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HTTP header that carries a webhook's signature.
pub const HEADER: &str = "Stripe-Signature";

/// How far a signature's timestamp may be from now, either way, before it is
/// refused: Stripe's own libraries' default.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The only scheme that is checked; entries of any other scheme are ignored.
const SCHEME: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook's signature was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    MissingHeader,
    #[error("the Stripe-Signature header is malformed: {0}")]
    MalformedHeader(&'static str),
    #[error("the Stripe-Signature header carries no v1 signature")]
    NoV1Signature,
    /// The payload, the timestamp or the secret is not the one signed.
    #[error("no v1 signature matches the payload: forged, altered, or signed with another secret")]
    Mismatch,
    /// Authentic, but signed too long ago (a replay, or a stale retry) or
    /// too far in the future.
    #[error(
        "the signature's timestamp {timestamp} is more than {tolerance_secs} s from now ({now})"
    )]
    OutsideTolerance { timestamp: i64, now: i64, tolerance_secs: i64 },
}

/// The `Stripe-Signature` header value for `payload` signed at `timestamp`
/// (unix seconds) with `secret`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let digest = keyed_mac(payload, secret, timestamp).finalize().into_bytes();
    format!("t={timestamp},{SCHEME}={}", hex::encode(digest))
}

/// Checks that `header` signs `payload` with `secret` at a timestamp within
/// `tolerance_secs` of `now` (unix seconds), and returns that timestamp.
///
/// An empty `header` counts as missing. The signature is checked before the
/// timestamp, so an authentic but stale webhook is told apart from a forged
/// one. The comparison takes the same time wherever the digests differ.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let parsed = parse_header(header)?;

    if parsed.signatures.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }

    let expected = keyed_mac(payload, secret, parsed.timestamp);
    let matches = parsed.signatures.iter().any(|signature| {
        // An entry that is not hex cannot match; it is skipped, not fatal,
        // like any other entry this side does not understand.
        hex::decode(signature).is_ok_and(|bytes| expected.clone().verify_slice(&bytes).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }

    let tolerance_secs = tolerance_secs.max(0);
    if now.abs_diff(parsed.timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance {
            timestamp: parsed.timestamp,
            now,
            tolerance_secs,
        });
    }

    Ok(parsed.timestamp)
}

/// What a header says: one timestamp and the `v1` signatures, still hex.
struct ParsedHeader<'a> {
    timestamp: i64,
    signatures: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::MissingHeader);
    }

    let mut timestamp = None;
    let mut signatures = Vec::new();
    for entry in header.split(',') {
        let (scheme, value) = entry
            .trim()
            .split_once('=')
            .ok_or(SignatureError::MalformedHeader("an entry is not scheme=value"))?;
        match scheme {
            "t" if timestamp.is_some() => {
                return Err(SignatureError::MalformedHeader("more than one timestamp"));
            }
            "t" => {
                let seconds = value.parse::<i64>().map_err(|_| {
                    SignatureError::MalformedHeader("the timestamp is not a number")
                })?;
                timestamp = Some(seconds);
            }
            SCHEME => signatures.push(value),
            _ => {}
        }
    }

    let timestamp = timestamp.ok_or(SignatureError::MalformedHeader("no timestamp"))?;
    Ok(ParsedHeader { timestamp, signatures })
}

/// The MAC over `"{timestamp}.{payload}"`, before finalisation.
fn keyed_mac(payload: &[u8], secret: &str, timestamp: i64) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &[u8] = br#"{"id":"evt_test_1","object":"event"}"#;
    const SECRET: &str = "whsec_test_secret";
    const T: i64 = 1_700_000_000;

    /// Computed apart from this code, with Python's `hmac` module:
    /// `hmac.new(b"whsec_test_secret", b"1700000000." + payload, sha256)`.
    const PYTHON_V1: &str = "29ab30b7065c11b28e53ac114fac5d6c492ed811a12d11ed2c2aad5bb4cf9809";

    /// The same payload and time under the secret `whsec_other`, also from Python.
    const PYTHON_V1_OTHER_SECRET: &str =
        "1e2e0551a8a0c4d75738fd6666928fc659d73d2e5ea3964c41b7c9012a8c1e57";

    fn check(header: &str, now: i64) -> Result<i64, SignatureError> {
        verify(PAYLOAD, header, SECRET, now, DEFAULT_TOLERANCE_SECS)
    }

    #[test]
    fn sign_matches_an_independently_computed_vector() {
        assert_eq!(sign(PAYLOAD, SECRET, T), format!("t={T},v1={PYTHON_V1}"));
    }

    #[test]
    fn a_fresh_signature_verifies_and_returns_its_timestamp() {
        let header = sign(PAYLOAD, SECRET, T);

        assert_eq!(check(&header, T), Ok(T));
        assert_eq!(check(&header, T + DEFAULT_TOLERANCE_SECS), Ok(T));
        assert_eq!(check(&header, T - DEFAULT_TOLERANCE_SECS), Ok(T));
    }

    #[test]
    fn any_matching_v1_among_several_is_enough_and_other_schemes_are_ignored() {
        let header = format!("t={T},v0=abc,v1={PYTHON_V1_OTHER_SECRET},v1=zz,v1={PYTHON_V1}");

        assert_eq!(check(&header, T), Ok(T));
    }

    #[test]
    fn spaces_around_entries_are_tolerated() {
        let header = format!(" t={T}, v1={PYTHON_V1} ");

        assert_eq!(check(&header, T), Ok(T));
    }

    #[test]
    fn a_missing_header_is_told_apart() {
        assert_eq!(check("", T), Err(SignatureError::MissingHeader));
        assert_eq!(check("  ", T), Err(SignatureError::MissingHeader));
    }

    #[test]
    fn malformed_headers_are_told_apart() {
        let malformed =
            |header: &str| matches!(check(header, T), Err(SignatureError::MalformedHeader(_)));

        assert!(malformed("garbage"));
        assert!(malformed(&format!("v1={PYTHON_V1}")));
        assert!(malformed(&format!("t=soon,v1={PYTHON_V1}")));
        assert!(malformed(&format!("t={T},t={T},v1={PYTHON_V1}")));
        assert!(malformed(&format!("t={T},v1={PYTHON_V1},")));
    }

    #[test]
    fn a_header_without_v1_is_told_apart() {
        assert_eq!(check(&format!("t={T},v0={PYTHON_V1}"), T), Err(SignatureError::NoV1Signature));
    }

    #[test]
    fn forgeries_do_not_verify() {
        let header = sign(PAYLOAD, SECRET, T);

        let altered_payload = verify(b"{}", &header, SECRET, T, DEFAULT_TOLERANCE_SECS);
        let other_secret = verify(PAYLOAD, &header, "whsec_other", T, DEFAULT_TOLERANCE_SECS);
        let moved_timestamp = check(&header.replace(&T.to_string(), &(T + 1).to_string()), T);
        let truncated = check(&format!("t={T},v1={}", &PYTHON_V1[..62]), T);

        assert_eq!(altered_payload, Err(SignatureError::Mismatch));
        assert_eq!(other_secret, Err(SignatureError::Mismatch));
        assert_eq!(moved_timestamp, Err(SignatureError::Mismatch));
        assert_eq!(truncated, Err(SignatureError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_once_authentic() {
        let header = sign(PAYLOAD, SECRET, T);
        let outside = |now| SignatureError::OutsideTolerance {
            timestamp: T,
            now,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
        };

        let replayed_later = T + DEFAULT_TOLERANCE_SECS + 1;
        let from_the_future = T - DEFAULT_TOLERANCE_SECS - 1;

        assert_eq!(check(&header, replayed_later), Err(outside(replayed_later)));
        assert_eq!(check(&header, from_the_future), Err(outside(from_the_future)));
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let earliest = sign(PAYLOAD, SECRET, i64::MIN);
        let latest = sign(PAYLOAD, SECRET, i64::MAX);

        let far_apart = check(&earliest, i64::MAX);
        let close = check(&latest, i64::MAX - 1);

        assert!(matches!(far_apart, Err(SignatureError::OutsideTolerance { .. })));
        assert_eq!(close, Ok(i64::MAX));
    }
}

//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body, keyed with the webhook
//! secret, hex-encoded after `sha256=`. Checked before anything reads the body.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("X-Hub-Signature-256 is not sha256=<64 hex digits>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body under any configured secret")]
    Mismatch,
}

/// Accepts the body if it was signed with any of `secrets` (several during a rotation).
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify<'a>(
    secrets: impl IntoIterator<Item = &'a [u8]>,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let digest = header
        .strip_prefix(PREFIX)
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .filter(|digest| digest.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    for secret in secrets {
        let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
        mac.update(body);
        if mac.verify_slice(&digest).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header value GitHub would send for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented test vector ("Validating webhook deliveries").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const HEADER: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_test_vector_verifies() {
        assert_eq!(sign(SECRET, BODY), HEADER);
        assert_eq!(verify([SECRET], BODY, Some(HEADER)), Ok(()));
    }

    #[test]
    fn any_rotated_secret_is_accepted() {
        assert_eq!(verify([&b"old"[..], SECRET], BODY, Some(HEADER)), Ok(()));
    }

    #[test]
    fn bad_signatures_are_told_apart() {
        assert_eq!(verify([SECRET], BODY, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(
                [SECRET],
                BODY,
                Some("sha1=7d38cdd689735b008b3c702edd92eea23791c5f6")
            ),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify([SECRET], BODY, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify([SECRET], b"Hello, World?", Some(HEADER)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify([&b"wrong"[..]], BODY, Some(HEADER)),
            Err(SignatureError::Mismatch)
        );
    }
}

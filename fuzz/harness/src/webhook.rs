//! The webhook's signature check, and its parse and decision of a delivery.
//!
//! Input: a delivery as HTTP writes it, `name: value` header lines, a blank
//! line, then the body. Input whose first line is no header line is all body
//! (a bare GitHub payload). `events/webhook/*.json` become seeds this way.

use gantry_core::contract::GitEvent;
use gantry_core::ids::DeliveryId;
use webhook::handler::json_body;
use webhook::payload::{self, Decision, EventName};
use webhook::signature::{self, SignatureError};

/// The secret the sample deliveries in `events/webhook/` are signed with.
const LOCAL_SECRET: &[u8] = b"gantry-local-secret";
/// A delivery id for bodies that come without headers.
const SAMPLE_DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
/// A header only the harness reads: the webhook secret (one per header, as the
/// function's secret holds one per line during a rotation).
const SECRET_HEADER: &str = "x-fuzz-secret";

/// `verify` over any signature header, body and secrets, checked against what
/// `sign` says GitHub would send.
pub fn webhook_verify(data: &[u8]) {
    let delivery = Delivery::parse(data);
    let given: Vec<&[u8]> = delivery.all(SECRET_HEADER).map(str::as_bytes).collect();
    let secrets = if given.is_empty() {
        vec![LOCAL_SECRET]
    } else {
        given
    };
    let header = delivery.header("x-hub-signature-256");
    let body = delivery.body;

    let verified = signature::verify(secrets.iter().copied(), body, header);
    // The answer follows from the header's form and `sign` alone.
    let expected = match header {
        None => Err(SignatureError::Missing),
        Some(header) if !well_formed(header) => Err(SignatureError::Malformed),
        Some(header)
            if secrets
                .iter()
                .any(|secret| signature::sign(secret, body).eq_ignore_ascii_case(header)) =>
        {
            Ok(())
        }
        Some(_) => Err(SignatureError::Mismatch),
    };
    assert_eq!(verified, expected, "header {header:?}");
    // What GitHub sends for this body verifies under each secret.
    for secret in &secrets {
        let signed = signature::sign(secret, body);
        assert_eq!(
            signature::verify([*secret], body, Some(&signed)),
            Ok(()),
            "{signed}"
        );
    }
}

/// `sha256=` and 64 hex digits, either case: what `verify` can compare.
fn well_formed(header: &str) -> bool {
    header
        .strip_prefix("sha256=")
        .is_some_and(|digest| digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the handler does after the signature check: the JSON out of the body
/// (raw or a form's `payload` field), the event and delivery headers, then
/// `decide`, and `subject` for a delivery that is ignored. The harness signs
/// the body itself, so no input stops at the HMAC check.
pub fn webhook_decide(data: &[u8]) {
    let delivery = Delivery::parse(data);
    let signed = signature::sign(LOCAL_SECRET, delivery.body);
    assert_eq!(
        signature::verify([LOCAL_SECRET], delivery.body, Some(&signed)),
        Ok(())
    );

    let Ok(body) = json_body(delivery.header("content-type"), delivery.body) else {
        return;
    };
    let delivery_id = match delivery.header("x-github-delivery") {
        Some(value) => match DeliveryId::parse(value) {
            Ok(id) => id,
            // The handler answers 400 before it reads the body.
            Err(_) => return,
        },
        None => DeliveryId::parse(SAMPLE_DELIVERY).expect("a valid delivery id"),
    };
    // A body without an event header is read as every kind the webhook handles.
    let events = match delivery.header("x-github-event") {
        Some(name) => vec![EventName::parse(name)],
        None => [
            "ping",
            "push",
            "pull_request",
            "merge_group",
            "check_run",
            "issue_comment",
            "issues",
        ]
        .map(EventName::parse)
        .to_vec(),
    };
    for event in &events {
        match payload::decide(event, &delivery_id, &body) {
            Ok(Decision::Publish(event)) => published(&event, &delivery_id),
            Ok(Decision::Ignore(reason)) => {
                let _ = reason.to_string();
                let _ = payload::subject(&body);
            }
            // A pong, or a decision added since: its `Debug` is all there is to check.
            Ok(other) => {
                let _ = format!("{other:?}");
            }
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
}

/// What the webhook publishes is what `trigger` reads back: the detail is
/// `serde_json::to_string` of the event, read as a `GitEvent`.
fn published(event: &GitEvent, delivery: &DeliveryId) {
    assert_eq!(&event.delivery_id, delivery);
    let detail = serde_json::to_string(event).expect("an event serialises");
    let read: GitEvent = serde_json::from_str(&detail)
        .unwrap_or_else(|err| panic!("trigger cannot read the published detail: {err}: {detail}"));
    assert_eq!(&read, event, "{detail}");
    let _ = (event.detail_type(), event.branch(), event.commit.short());
}

/// A delivery split into its header lines and body.
struct Delivery<'a> {
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

impl<'a> Delivery<'a> {
    fn parse(data: &'a [u8]) -> Self {
        let mut headers = Vec::new();
        let mut rest = data;
        loop {
            let (line, after) = match rest.iter().position(|&b| b == b'\n') {
                Some(end) => (&rest[..end], &rest[end + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() && !headers.is_empty() {
                return Delivery {
                    headers,
                    body: after,
                };
            }
            match header_line(line) {
                Some(header) => headers.push(header),
                // Not a header block at all: the whole input is the body.
                None if headers.is_empty() => {
                    return Delivery {
                        headers,
                        body: data,
                    }
                }
                // Headers that run into something else: what follows is the body.
                None => {
                    return Delivery {
                        headers,
                        body: rest,
                    }
                }
            }
            if after.is_empty() {
                return Delivery {
                    headers,
                    body: after,
                };
            }
            rest = after;
        }
    }

    /// A header's first value, if it is one `http::HeaderValue::to_str` reads
    /// (visible ASCII): the handler sees any other value as absent.
    fn header(&self, name: &str) -> Option<&'a str> {
        self.all(name).next()
    }

    fn all<'b>(&'b self, name: &'b str) -> impl Iterator<Item = &'a str> + 'b {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
            .filter(|value| {
                value
                    .bytes()
                    .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
            })
    }
}

/// `name: value`, the name of letters, digits and dashes.
fn header_line(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    token.then(|| (name, value.trim_matches([' ', '\t'])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_split_into_headers_and_body() {
        let delivery = Delivery::parse(b"X-GitHub-Event: push\r\nx-a:  1 \n\n{\"a\": 1}\n");
        assert_eq!(delivery.header("x-github-event"), Some("push"));
        assert_eq!(delivery.header("X-A"), Some("1"));
        assert_eq!(delivery.body, b"{\"a\": 1}\n");

        let bare = Delivery::parse(b"{\"zen\": \"a: b\"}");
        assert!(bare.headers.is_empty());
        assert_eq!(bare.body, b"{\"zen\": \"a: b\"}");

        let headers_only = Delivery::parse(b"x-hub-signature-256: sha256=00");
        assert_eq!(
            headers_only.header("x-hub-signature-256"),
            Some("sha256=00")
        );
        assert!(headers_only.body.is_empty());
    }

    #[test]
    fn a_signed_sample_verifies_and_publishes() {
        let body = br#"{"ref": "refs/heads/main", "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "repository": {"full_name": "o/r", "clone_url": "u"}}"#;
        let header = signature::sign(LOCAL_SECRET, body);
        let mut input =
            format!("x-hub-signature-256: {header}\nx-github-event: push\n\n").into_bytes();
        input.extend_from_slice(body);
        webhook_verify(&input);
        webhook_decide(&input);
    }
}

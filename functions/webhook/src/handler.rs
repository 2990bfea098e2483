//! One delivery in, one HTTP answer out. Every rejection maps to its status code
//! here and nowhere else; answers are short and static, details go to the log.

use crate::payload::{self, Decision, EventName, PayloadError};
use crate::publish::{PublishError, Publisher};
use crate::signature::{self, SignatureError};
use gantry_core::contract::Published;
use gantry_core::ids::{DeliveryId, IdError};
use gantry_core::logging::error_chain;
use gantry_core::secret::{CachedSecret, Reread, SecretError};
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use std::borrow::Cow;
use tokio::time::Instant;
use tracing::{error, field, info, info_span, warn, Instrument};

/// GitHub caps webhook payloads at 25 MB and does not deliver larger ones.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// The answer to GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: &'static str,
}

/// Why a delivery is refused, each with its HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("body of {0} bytes is over GitHub's 25 MB cap")]
    TooLarge(usize),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(
        "content type {0:?} is neither application/json nor application/x-www-form-urlencoded"
    )]
    ContentType(String),
    #[error("form delivery has no payload field")]
    FormWithoutPayload,
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error(transparent)]
    Delivery(IdError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("webhook secret unavailable")]
    Secret(#[from] SecretError),
    #[error("event not published")]
    Publish(#[from] PublishError),
}

impl Rejection {
    fn reply(&self) -> Reply {
        let (status, body) = match self {
            Rejection::TooLarge(_) => (413, "payload too large"),
            Rejection::Signature(_) => (401, "invalid signature"),
            Rejection::ContentType(_) => (415, "unsupported content type"),
            Rejection::MissingHeader(_)
            | Rejection::Delivery(_)
            | Rejection::Payload(_)
            | Rejection::FormWithoutPayload => (400, "malformed delivery"),
            Rejection::Secret(_) => (500, "webhook secret unavailable"),
            // A 5xx marks the delivery failed in GitHub, so it can be redelivered.
            Rejection::Publish(_) => (502, "event not published"),
        };
        Reply { status, body }
    }
}

pub struct Webhook {
    secret: CachedSecret,
    publisher: Publisher,
}

impl Webhook {
    pub fn new(secret: CachedSecret, publisher: Publisher) -> Self {
        Webhook { secret, publisher }
    }

    /// `deadline`: when the answer must be on its way; every AWS call stops by then.
    pub async fn handle(&self, headers: &HeaderMap, body: &[u8], deadline: Instant) -> Reply {
        // Header values are the sender's: anyone can send them, so a log line
        // carries at most a short prefix of each.
        let span = info_span!(
            "delivery",
            delivery = logged_header(headers, "x-github-delivery"),
            event = logged_header(headers, "x-github-event"),
            repository = field::Empty,
            commit = field::Empty,
        );
        async {
            match self.process(headers, body, deadline).await {
                Ok(reply) => reply,
                Err(rejection) => {
                    let reply = rejection.reply();
                    if reply.status >= 500 {
                        error!(status = reply.status, error = %error_chain(&rejection), "delivery failed");
                    } else if let Rejection::Signature(err) = &rejection {
                        // Anyone on the internet can send these: one short line
                        // at info, so a flood of forged requests stays cheap (and
                        // is dropped when the function logs at WARN or above).
                        // Url4xxCount counts them either way.
                        info!(status = reply.status, error = %err, "delivery rejected");
                    } else {
                        // Signed by GitHub and still refused: a setting to fix.
                        warn!(status = reply.status, error = %error_chain(&rejection), "delivery rejected");
                    }
                    reply
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn process(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        deadline: Instant,
    ) -> Result<Reply, Rejection> {
        if body.len() > MAX_BODY_BYTES {
            return Err(Rejection::TooLarge(body.len()));
        }
        let signature = header(headers, "x-hub-signature-256");
        let verified = verify(&self.secret.get_by(deadline).await?, body, signature);
        if verified == Err(SignatureError::Mismatch)
            && self.secret.reread_after_refusal_by(deadline).await == Reread::Changed
        {
            // The secret was rotated since this container read it: the first
            // delivery signed with the new one is accepted, not refused.
            info!("webhook secret changed since it was read; checking again");
            verify(&self.secret.get_by(deadline).await?, body, signature)?;
        } else {
            verified?;
        }

        let body = json_body(header(headers, "content-type"), body)?;
        let body = body.as_ref();
        let event = EventName::parse(
            header(headers, "x-github-event").ok_or(Rejection::MissingHeader("X-GitHub-Event"))?,
        );
        let delivery = DeliveryId::parse(
            header(headers, "x-github-delivery")
                .ok_or(Rejection::MissingHeader("X-GitHub-Delivery"))?,
        )
        .map_err(Rejection::Delivery)?;

        match payload::decide(&event, &delivery, body)? {
            Decision::Pong => {
                info!("ping answered");
                Ok(Reply {
                    status: 200,
                    body: "pong",
                })
            }
            Decision::Ignore(reason) => {
                let subject = payload::subject(body);
                let span = tracing::Span::current();
                if let Some(repository) = &subject.repository {
                    span.record("repository", repository.as_str());
                }
                if let Some(commit) = &subject.commit {
                    span.record("commit", commit.as_str());
                }
                info!(%reason, "delivery ignored");
                Ok(Reply {
                    status: 202,
                    body: "ignored",
                })
            }
            Decision::Publish(event) => self.publish(Published::Git(*event), deadline).await,
            Decision::PublishApproval(comment) => {
                self.publish(Published::Approval(*comment), deadline).await
            }
        }
    }

    async fn publish(&self, event: Published, deadline: Instant) -> Result<Reply, Rejection> {
        let span = tracing::Span::current();
        span.record("repository", event.repository().as_str());
        span.record("commit", event.commit());
        self.publisher.publish(&event, deadline).await?;
        info!(detail_type = %event.detail_type(), "event published");
        Ok(Reply {
            status: 202,
            body: "accepted",
        })
    }
}

/// The delivery's JSON (the fuzz harness reads bodies through it too). GitHub
/// sends it as the body (`application/json`), or,
/// with its default content type for a new webhook, as the `payload` field of a
/// form; the signature covers the raw body either way, so this runs after it.
pub fn json_body<'a>(
    content_type: Option<&str>,
    body: &'a [u8],
) -> Result<Cow<'a, [u8]>, Rejection> {
    let media_type = content_type.map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    match media_type.as_deref() {
        None | Some("application/json") => Ok(Cow::Borrowed(body)),
        Some("application/x-www-form-urlencoded") => form_urlencoded::parse(body)
            .find(|(name, _)| name == "payload")
            .map(|(_, payload)| Cow::Owned(payload.into_owned().into_bytes()))
            .ok_or(Rejection::FormWithoutPayload),
        Some(_) => Err(Rejection::ContentType(
            content_type
                .unwrap_or_default()
                .chars()
                .take(LOGGED_HEADER_CHARS)
                .collect(),
        )),
    }
}

/// The secret may hold several, one per line: any of them signs a valid delivery.
fn verify(
    secret: &SecretString,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let secrets = secret
        .expose_secret()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::as_bytes);
    signature::verify(secrets, body, signature)
}

/// Longest header value a log line carries (a delivery id is 36 characters).
const LOGGED_HEADER_CHARS: usize = 64;

fn logged_header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    let value = header(headers, name).unwrap_or("-");
    match value.char_indices().nth(LOGGED_HEADER_CHARS) {
        Some((cut, _)) => &value[..cut],
        None => value,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

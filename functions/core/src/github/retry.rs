//! How hard to try, and what each of GitHub's answers means for the next try.

use http::{HeaderMap, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub's guidance for a secondary rate limit that names no reset time.
pub(crate) const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How hard to try. Backoff doubles from `first_delay`; a server-given
/// `Retry-After` or rate-limit reset replaces it, and no wait may run past the
/// caller's deadline: then the error goes back to the caller (and EventBridge retries).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// Asked after each failed attempt, before the retry: `Some(reason)` drops the
/// request (a pending status whose build has finished meanwhile must not land
/// after the final one).
pub trait Recheck: Sync {
    fn before_retry(&self) -> Pin<Box<dyn Future<Output = Option<String>> + Send + '_>>;
}

/// What one attempt came to.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A 2xx, with the answer's body and its next page.
    Created(Answer),
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    Rejected {
        status: u16,
        message: String,
    },
}

/// A 2xx answer: its body, and the URL of the next page where the answer is
/// one page of a list (the `Link` header's `rel="next"`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    pub body: String,
    pub next_page: Option<String>,
}

/// `<https://api.github.com/...&cursor=v1_12077215967>; rel="next", <...>; rel="prev"`:
/// the `next` URL, as GitHub paginates by cursor or by page.
fn next_page(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_owned())
    })
}

/// GitHub's documented failure modes: 5xx and 429 are transient; a 403 is a
/// rate limit when it says so (`Retry-After`, or no requests left), otherwise a
/// permission problem; everything else in 4xx is permanent.
pub(crate) fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    now: SystemTime,
) -> Attempt {
    if status.is_success() {
        return Attempt::Created(Answer {
            body: body.to_owned(),
            next_page: next_page(headers),
        });
    }
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let rate_limited = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    let reset_wait = header_u64(headers, "x-ratelimit-reset").map(|reset| {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Duration::from_secs(reset.saturating_sub(now).max(1))
    });
    let reason = format!("{} {}", status.as_u16(), message);
    // A secondary rate limit may come without either header; GitHub then asks
    // for at least a minute's wait.
    let secondary = message.to_ascii_lowercase().contains("rate limit")
        && retry_after.is_none()
        && !rate_limited;
    if secondary
        && matches!(
            status,
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
        )
    {
        return Attempt::Retry {
            after: Some(SECONDARY_RATE_LIMIT_WAIT),
            reason,
        };
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry {
            after: retry_after.or(if rate_limited { reset_wait } else { None }),
            reason,
        };
    }
    if status == StatusCode::FORBIDDEN && (retry_after.is_some() || rate_limited) {
        return Attempt::Retry {
            after: retry_after.or(reset_wait),
            reason,
        };
    }
    Attempt::Rejected {
        status: status.as_u16(),
        message,
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn retry_after(attempt: Attempt) -> Option<Option<Duration>> {
        match attempt {
            Attempt::Retry { after, .. } => Some(after),
            _ => None,
        }
    }

    #[test]
    fn the_next_page_is_the_links_rel_next() {
        let link = |value: &str| headers(&[("link", value)]);
        // GitHub's documented forms: by cursor (deliveries) and by page.
        assert_eq!(
            next_page(&link(r#"<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_12077215967>; rel="next""#)).as_deref(),
            Some("https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_12077215967")
        );
        assert_eq!(
            next_page(&link(r#"<https://api.github.com/r?page=1>; rel="prev", <https://api.github.com/r?page=3>; rel="next", <https://api.github.com/r?page=5>; rel="last""#)).as_deref(),
            Some("https://api.github.com/r?page=3")
        );
        assert_eq!(
            next_page(&link(r#"<https://api.github.com/r?page=1>; rel="prev""#)),
            None
        );
        assert_eq!(next_page(&HeaderMap::new()), None);
    }

    #[test]
    fn classification_follows_githubs_documented_failures() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let none = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::CREATED, &none, "", now),
            Attempt::Created(_)
        ));
        assert_eq!(
            retry_after(classify(StatusCode::BAD_GATEWAY, &none, "", now)),
            Some(None)
        );
        assert_eq!(
            retry_after(classify(
                StatusCode::TOO_MANY_REQUESTS,
                &headers(&[("retry-after", "7")]),
                "",
                now
            )),
            Some(Some(Duration::from_secs(7)))
        );
        // Secondary rate limit: 403 with Retry-After.
        assert_eq!(
            retry_after(classify(
                StatusCode::FORBIDDEN,
                &headers(&[("retry-after", "3")]),
                "",
                now
            )),
            Some(Some(Duration::from_secs(3)))
        );
        // Primary rate limit: 403, none left, wait until the reset time.
        assert_eq!(
            retry_after(classify(
                StatusCode::FORBIDDEN,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1012")
                ]),
                "",
                now
            )),
            Some(Some(Duration::from_secs(12)))
        );
        // Secondary rate limit with neither header: GitHub's documented minute.
        assert_eq!(
            retry_after(classify(
                StatusCode::FORBIDDEN,
                &none,
                r#"{"message": "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later."}"#,
                now
            )),
            Some(Some(SECONDARY_RATE_LIMIT_WAIT))
        );
        assert_eq!(
            retry_after(classify(
                StatusCode::TOO_MANY_REQUESTS,
                &none,
                r#"{"message": "You have exceeded a secondary rate limit."}"#,
                now
            )),
            Some(Some(SECONDARY_RATE_LIMIT_WAIT))
        );
        for status in [
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNAUTHORIZED,
        ] {
            match classify(
                status,
                &none,
                r#"{"message": "No commit found for SHA: abc"}"#,
                now,
            ) {
                Attempt::Rejected {
                    status: code,
                    message,
                } => {
                    assert_eq!(code, status.as_u16());
                    assert_eq!(message, "No commit found for SHA: abc");
                }
                _ => panic!("{status} must not be retried"),
            }
        }
    }
}

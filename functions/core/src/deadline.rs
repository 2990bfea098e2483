//! The invocation's deadline, as the calls inside it need it: Lambda gives the
//! end of the invocation in epoch milliseconds; calls are bounded by a
//! monotonic instant a margin before it, so the function still answers, and
//! flushes its logs, when AWS or GitHub is slow.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// `margin` before Lambda's deadline (`deadline_ms`, epoch milliseconds).
pub fn before_lambda_deadline(deadline_ms: u64, margin: Duration) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + remaining.saturating_sub(margin)
}

/// Bounds an AWS SDK call by `deadline`: the SDK's own timeouts (`aws::timeouts`)
/// cap any one call; this makes the call give up when the invocation must
/// answer, as the SDK's own timeout error, which every caller already treats
/// as transient.
pub async fn aws_call<T, E, R>(
    deadline: Instant,
    call: impl Future<Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>>,
) -> Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(result) => result,
        Err(_) => Err(
            aws_smithy_runtime_api::client::result::SdkError::timeout_error(
                "the invocation's time ran out",
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::SdkError;

    #[test]
    fn the_deadline_keeps_its_margin() {
        let in_ten_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 10_000;
        let deadline = before_lambda_deadline(in_ten_s, Duration::from_secs(2));
        let left = deadline - Instant::now();
        assert!(
            left <= Duration::from_secs(8) && left > Duration::from_secs(7),
            "{left:?}"
        );
        // A deadline already past leaves no time, and no panic.
        assert!(before_lambda_deadline(0, Duration::from_secs(2)) <= Instant::now());
    }

    #[tokio::test]
    async fn a_call_past_the_deadline_is_a_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, SdkError<std::io::Error, ()>>(())
        };
        let started = Instant::now();
        let result = aws_call(Instant::now() + Duration::from_millis(50), slow).await;
        assert!(
            matches!(result, Err(SdkError::TimeoutError(_))),
            "{result:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

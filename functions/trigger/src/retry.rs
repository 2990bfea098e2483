//! What becomes of one event from the trigger queue after `trigger` handled it:
//! done, tried again later with backoff, or sent to the dead-letter queue at
//! once. Pure, so the schedule that must outlast a throttle is tested here.

use crate::handler::{Summary, TriggerError};
use std::time::Duration;

/// How many times SQS hands `trigger` one message before moving it to the
/// dead-letter queue: the template's `maxReceiveCount` on `TriggerQueue`.
pub const MAX_RECEIVES: u32 = 9;

const FIRST_WAIT: Duration = Duration::from_secs(60);
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);

/// How long a message stays hidden after its `receive`th try failed
/// (`ApproximateReceiveCount`, from 1): 1, 2, 4, 8, then 15 minutes. The last
/// try waits for nothing, so SQS moves the message to the dead-letter queue
/// on its next receive rather than a quarter of an hour later.
pub fn backoff(receive: u32) -> Duration {
    if receive >= MAX_RECEIVES {
        return Duration::ZERO;
    }
    let doublings = receive.saturating_sub(1).min(16);
    (FIRST_WAIT * 2u32.pow(doublings)).min(LONGEST_WAIT)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Handled (started, skipped or ignored): the message is deleted.
    Done,
    /// A failure a later try may get past: the message is hidden for `after`,
    /// then handed back.
    Retry { after: Duration },
    /// A failure that needs an operator: the message goes to the dead-letter
    /// queue now, named by `error_type` and `error`.
    DeadLetter { error_type: String, error: String },
}

/// While any of an event's failures is transient it is tried again: its other
/// targets must not wait for an operator because one target is misconfigured
/// (that one is logged as an error on every try, and the ledger keeps what
/// started from starting twice).
pub fn dispose(result: &Result<Summary, TriggerError>, receive: u32) -> Disposition {
    match result {
        Ok(_) => Disposition::Done,
        Err(err) if err.is_transient() => Disposition::Retry {
            after: backoff(receive),
        },
        Err(err) => Disposition::DeadLetter {
            error_type: err.error_type().to_owned(),
            error: gantry_core::logging::error_chain(err),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::FailureKind;

    fn start_failure(kind: FailureKind, error_type: &'static str) -> TriggerError {
        TriggerError::Start {
            failed: 1,
            planned: 2,
            kind,
            first: "refused".into(),
            error_type,
        }
    }

    #[test]
    fn the_backoff_doubles_to_a_quarter_of_an_hour_and_the_last_try_waits_for_nothing() {
        let waits: Vec<u64> = (1..=MAX_RECEIVES).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [60, 120, 240, 480, 900, 900, 900, 900, 0]);
        // A receive count past the limit (a redriven message keeps counting).
        assert_eq!(backoff(40), Duration::ZERO);
        assert_eq!(backoff(0), FIRST_WAIT);
    }

    #[test]
    fn the_tries_outlast_an_hour_of_throttling_before_the_dead_letter_queue() {
        let waited: Duration = (1..MAX_RECEIVES).map(backoff).sum();
        assert!(waited >= Duration::from_secs(3600), "{waited:?}");
        assert_eq!(waited, Duration::from_secs(75 * 60));
    }

    #[test]
    fn each_outcome_has_its_disposition() {
        let table: Vec<(&str, Result<Summary, TriggerError>, u32, Disposition)> = vec![
            (
                "started",
                Ok(Summary::Started {
                    started: vec![],
                    stopped: vec![],
                }),
                1,
                Disposition::Done,
            ),
            (
                "skipped",
                Ok(Summary::Skipped {
                    reason: "no route".into(),
                }),
                3,
                Disposition::Done,
            ),
            (
                "throttled, first try",
                Err(start_failure(FailureKind::Transient, "StartThrottled")),
                1,
                Disposition::Retry {
                    after: Duration::from_secs(60),
                },
            ),
            (
                "throttled, third try",
                Err(start_failure(FailureKind::Transient, "StartThrottled")),
                3,
                Disposition::Retry {
                    after: Duration::from_secs(240),
                },
            ),
            (
                "one target unknown, the other throttled: tried again",
                Err(start_failure(FailureKind::Transient, "PipelineNotFound")),
                2,
                Disposition::Retry {
                    after: Duration::from_secs(120),
                },
            ),
            (
                "unknown pipeline",
                Err(start_failure(FailureKind::Permanent, "PipelineNotFound")),
                1,
                Disposition::DeadLetter {
                    error_type: "PipelineNotFound".into(),
                    error: "1 of 2 starts failed (permanent); first: refused".into(),
                },
            ),
            (
                "not a Gantry event",
                Err(TriggerError::Detail {
                    path: "commit".into(),
                    message: "missing field".into(),
                }),
                1,
                Disposition::DeadLetter {
                    error_type: "InvalidEvent".into(),
                    error: "event detail is not a Gantry event at commit: missing field".into(),
                },
            ),
        ];
        for (case, result, receive, expected) in table {
            assert_eq!(dispose(&result, receive), expected, "{case}");
        }
    }
}

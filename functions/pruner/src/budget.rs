//! How much more a run may do. In Lambda that is time: every S3 call is started
//! only if it can finish before the deadline, with a margin to report. Tests
//! count calls instead, so a run that stops part-way is deterministic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
pub enum Budget {
    Until { deadline: Instant, margin: Duration },
    Calls(AtomicUsize),
}

impl Budget {
    pub fn until(deadline: Instant, margin: Duration) -> Self {
        Budget::Until { deadline, margin }
    }

    pub fn calls(calls: usize) -> Self {
        Budget::Calls(AtomicUsize::new(calls))
    }

    pub fn unlimited() -> Self {
        Budget::Calls(AtomicUsize::new(usize::MAX))
    }

    /// Whether there is time for more reads, without spending a call: the
    /// protection reads are bounded by time only, so call-counted test runs
    /// stop at the same S3 calls whatever CodePipeline holds.
    pub fn time_left(&self) -> bool {
        match self {
            Budget::Until { deadline, margin } => Instant::now() + *margin < *deadline,
            Budget::Calls(_) => true,
        }
    }

    /// Whether one more AWS call may start; a call budget is spent by asking.
    pub fn take(&self) -> bool {
        match self {
            Budget::Until { .. } => self.time_left(),
            Budget::Calls(left) => left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_budgets_run_out_and_deadlines_keep_a_margin() {
        let budget = Budget::calls(2);
        assert!(budget.take() && budget.take());
        assert!(!budget.take());
        assert!(!Budget::until(
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(5)
        )
        .take());
        assert!(Budget::until(
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(5)
        )
        .take());
    }

    #[test]
    fn time_left_follows_the_deadline_and_spends_no_call() {
        let spent = Budget::calls(0);
        assert!(!spent.take());
        assert!(spent.time_left(), "a call budget is not a time budget");
        let late = Budget::until(
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(5),
        );
        assert!(!late.time_left());
        let early = Budget::until(
            Instant::now() + Duration::from_secs(60),
            Duration::from_secs(5),
        );
        assert!(early.time_left());
    }
}

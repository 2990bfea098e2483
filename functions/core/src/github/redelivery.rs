//! Which failed deliveries to send again: GitHub's documented pattern for
//! failed deliveries, as a pure decision over a listing of attempts. Shared by
//! `gantry replay --failed` and the scheduled `redeliver` function, so the
//! two cannot disagree.

use super::hooks::HookDelivery;
use std::collections::BTreeMap;

/// What to do with the deliveries of a listing, each delivery (guid) once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedeliveryPlan {
    /// Failed, worth another try: the newest attempt of each.
    pub redeliver: Vec<HookDelivery>,
    /// Failed, and tried again as often as allowed: an operator's to look at.
    pub abandoned: Vec<HookDelivery>,
    /// Answered 4xx (other than 429): the webhook refused it for good (a
    /// wrong secret, a body over its limit), so another try would be refused too.
    pub refused: Vec<HookDelivery>,
    /// Delivered, after one or more failed attempts.
    pub recovered: usize,
    /// Delivered at the first attempt.
    pub delivered: usize,
    /// Failed, with its first attempt older than the listing: under a limit,
    /// it had its tries while that attempt was listed, so it is left alone.
    pub first_attempt_unlisted: usize,
}

/// Whether an answer says "try again later": a 5xx, a 429 (the function's
/// concurrency cap), or no answer at all (status code 0: a timeout).
fn worth_retrying(status_code: u16) -> bool {
    status_code == 0 || status_code == 429 || status_code >= 500
}

/// `attempts`: every attempt listed (any order). A delivery is redelivered
/// when no attempt of it was answered 2xx, its newest was worth retrying,
/// and fewer than `max_redeliveries` redeliveries were listed (`None`: no
/// limit, for an operator who asks). Under a limit, a delivery whose first
/// attempt is not listed is left alone: its redeliveries may be older than
/// the listing too, so they cannot be counted, and it had its tries while
/// they were listed (a schedule's window moves on every run).
pub fn plan(attempts: &[HookDelivery], max_redeliveries: Option<usize>) -> RedeliveryPlan {
    let mut by_guid: BTreeMap<&str, Vec<&HookDelivery>> = BTreeMap::new();
    for attempt in attempts {
        by_guid.entry(&attempt.guid).or_default().push(attempt);
    }
    let mut plan = RedeliveryPlan::default();
    for (_, mut tries) in by_guid {
        tries.sort_by_key(|d| (d.delivered_at_secs(), d.id));
        if tries.iter().any(|d| d.delivered()) {
            if tries.len() == 1 {
                plan.delivered += 1;
            } else {
                plan.recovered += 1;
            }
            continue;
        }
        let newest = (*tries.last().expect("a guid has an attempt")).clone();
        let redeliveries = tries.iter().filter(|d| d.redelivery).count();
        let first_listed = tries.iter().any(|d| !d.redelivery);
        if max_redeliveries.is_some() && !first_listed {
            plan.first_attempt_unlisted += 1;
        } else if !worth_retrying(newest.status_code) {
            plan.refused.push(newest);
        } else if max_redeliveries.is_some_and(|max| redeliveries >= max) {
            plan.abandoned.push(newest);
        } else {
            plan.redeliver.push(newest);
        }
    }
    // Oldest first, as they happened.
    for list in [&mut plan.redeliver, &mut plan.abandoned, &mut plan.refused] {
        list.sort_by_key(|d| (d.delivered_at_secs(), d.id));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        id: u64,
        guid: &str,
        minute: u32,
        redelivery: bool,
        status_code: u16,
    ) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: format!("2026-12-01T10:{minute:02}:00Z"),
            redelivery,
            status_code,
            status: if status_code == 200 {
                "OK".into()
            } else {
                format!("Invalid HTTP Response: {status_code}")
            },
            event: "push".into(),
            action: None,
        }
    }

    fn ids(list: &[HookDelivery]) -> Vec<u64> {
        list.iter().map(|d| d.id).collect()
    }

    #[test]
    fn a_failed_delivery_is_redelivered_once_at_its_newest_attempt() {
        let listing = [
            attempt(1, "a", 0, false, 200),
            attempt(2, "b", 1, false, 503),
            attempt(3, "c", 2, false, 502),
            attempt(4, "c", 7, true, 500),
            attempt(5, "d", 3, false, 0),
            attempt(6, "e", 4, false, 429),
        ];
        let plan = plan(&listing, Some(3));
        assert_eq!(ids(&plan.redeliver), vec![2, 5, 6, 4]);
        assert_eq!(plan.delivered, 1);
        assert!(plan.abandoned.is_empty() && plan.refused.is_empty());
    }

    #[test]
    fn a_delivery_that_got_through_later_is_left_alone() {
        // Listed newest first, as GitHub lists them.
        let listing = [
            attempt(9, "a", 9, true, 202),
            attempt(8, "a", 5, true, 500),
            attempt(7, "a", 1, false, 503),
        ];
        let plan = plan(&listing, Some(3));
        assert!(plan.redeliver.is_empty(), "{plan:?}");
        assert_eq!((plan.recovered, plan.delivered), (1, 0));
    }

    #[test]
    fn a_refusal_is_not_tried_again() {
        // 401: the webhook's secret is not the one GitHub signs with.
        let plan = plan(
            &[
                attempt(1, "a", 0, false, 401),
                attempt(2, "b", 0, false, 413),
            ],
            None,
        );
        assert_eq!(ids(&plan.refused), vec![1, 2]);
        assert!(plan.redeliver.is_empty());
    }

    #[test]
    fn redeliveries_stop_at_the_limit_and_the_delivery_is_abandoned() {
        let listing = [
            attempt(1, "a", 0, false, 503),
            attempt(2, "a", 15, true, 503),
            attempt(3, "a", 30, true, 503),
        ];
        assert_eq!(ids(&plan(&listing, Some(2)).abandoned), vec![3]);
        assert_eq!(ids(&plan(&listing, Some(3)).redeliver), vec![3]);
        // An operator's own ask has no limit.
        assert_eq!(ids(&plan(&listing, None).redeliver), vec![3]);
    }

    #[test]
    fn under_a_limit_a_delivery_whose_first_attempt_left_the_window_is_left_alone() {
        // A schedule's window of two hours: the first attempt and the first
        // redelivery have left it, two later redeliveries are still listed.
        let listing = [
            attempt(3, "a", 50, true, 503),
            attempt(4, "a", 59, true, 503),
        ];
        let limited = plan(&listing, Some(3));
        assert!(
            limited.redeliver.is_empty() && limited.abandoned.is_empty(),
            "{limited:?}"
        );
        assert_eq!(limited.first_attempt_unlisted, 1);
        // An operator's own ask still sends it.
        assert_eq!(ids(&plan(&listing, None).redeliver), vec![4]);
    }

    #[test]
    fn a_newer_refusal_after_failures_is_a_refusal() {
        let listing = [
            attempt(1, "a", 0, false, 503),
            attempt(2, "a", 5, true, 400),
        ];
        let plan = plan(&listing, Some(3));
        assert_eq!(ids(&plan.refused), vec![2]);
    }
}

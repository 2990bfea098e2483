//! The ledger against moto's DynamoDB (conditional writes are real there, but
//! moto does not apply one item's writes one at a time, so they pass through
//! `item_writes`, which does, as DynamoDB; TTL is stored and never applied, so
//! time is moved on the ledger's clock).

use futures_util::future::join_all;
use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use gantry_core::ledger::{
    CheckRunClaim, Claim, Clock, DecisionRecord, Ledger, StartClaim, StartedRecord,
};
use gantry_tests::fault_proxy::FaultProxy;
use gantry_tests::moto::Moto;
use gantry_tests::{item_writes, scenario, soon};
use std::time::Duration;

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

struct World {
    _moto: Moto,
    _one_write_at_a_time: FaultProxy,
    ledger: Ledger,
    clock: Clock,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let (one_write_at_a_time, sdk) = item_writes::in_front_of(&moto).await.unwrap();
    scenario::create_ledger_table(&sdk).await.unwrap();
    let clock = Clock::manual(1_800_000_000);
    World {
        _moto: moto,
        _one_write_at_a_time: one_write_at_a_time,
        ledger: Ledger::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            scenario::LEDGER_TABLE.to_owned(),
            clock.clone(),
        ),
        clock,
    }
}

fn ids() -> (DeliveryId, RepoName, CommitSha) {
    (
        DeliveryId::parse(DELIVERY).unwrap(),
        RepoName::parse(scenario::REPOSITORY).unwrap(),
        CommitSha::parse(COMMIT).unwrap(),
    )
}

/// The claim trigger makes to start `target` for the push to main.
fn claim_on_main<'a>(
    delivery: &'a DeliveryId,
    repository: &'a RepoName,
    commit: &'a CommitSha,
    target: &'a str,
) -> StartClaim<'a> {
    StartClaim {
        delivery,
        target,
        route: "routes[0] (main)",
        repository,
        commit,
        git_ref: Some("main"),
        lease: Duration::from_secs(60),
        event_at: 1_799_999_990,
    }
}

#[tokio::test]
async fn a_start_is_claimed_once_completed_once_and_recovered_after_its_lease() {
    let world = world().await;
    let (delivery, repository, commit) = ids();
    let claim = |target| claim_on_main(&delivery, &repository, &commit, target);
    let ledger = &world.ledger;

    assert_eq!(
        ledger
            .claim_start(&claim("pipeline/app"), soon())
            .await
            .unwrap(),
        Claim::New
    );
    // A concurrent retry while the first holds its lease.
    assert!(matches!(
        ledger
            .claim_start(&claim("pipeline/app"), soon())
            .await
            .unwrap(),
        Claim::Held { .. }
    ));
    let started = StartedRecord {
        kind: "pipeline_execution".into(),
        id: "4f3c1d9e-0000-4000-8000-000000000001".into(),
    };
    ledger
        .complete_start(&delivery, "pipeline/app", &started, soon())
        .await
        .unwrap();
    // Days later (a redrive, a redelivery): still started, nothing to do.
    world.clock.advance(Duration::from_secs(5 * 24 * 3600));
    assert_eq!(
        ledger
            .claim_start(&claim("pipeline/app"), soon())
            .await
            .unwrap(),
        Claim::AlreadyStarted(started.clone())
    );

    // A claim whose holder crashed before recording: after the lease, one retry
    // takes it over, and is told to look before starting again.
    assert_eq!(
        ledger
            .claim_start(&claim("project/app"), soon())
            .await
            .unwrap(),
        Claim::New
    );
    world.clock.advance(Duration::from_secs(61));
    let recovered = ledger
        .claim_start(&claim("project/app"), soon())
        .await
        .unwrap();
    assert!(
        matches!(recovered, Claim::Recovered { .. }),
        "{recovered:?}"
    );
    assert!(matches!(
        ledger
            .claim_start(&claim("project/app"), soon())
            .await
            .unwrap(),
        Claim::Held { .. }
    ));
    // A released claim (its start was refused) is free at once, with nothing to look for.
    ledger
        .release_start(&delivery, "project/app", soon())
        .await
        .unwrap();
    assert_eq!(
        ledger
            .claim_start(&claim("project/app"), soon())
            .await
            .unwrap(),
        Claim::New
    );

    // By ref and route, newest first: what each delivery started there.
    let on_main = ledger
        .starts_for_ref(&repository, "main", "routes[0] (main)", soon())
        .await
        .unwrap();
    assert_eq!(on_main.len(), 2);
    assert!(
        on_main.iter().any(|start| start.delivery == DELIVERY
            && start.started.as_ref() == Some(&started)
            && start.commit == COMMIT
            && start.target == "pipeline/app"),
        "{on_main:?}"
    );
}

#[tokio::test]
async fn decisions_are_found_by_commit_with_the_original_event() {
    let world = world().await;
    let (delivery, repository, commit) = ids();
    let decision = DecisionRecord {
        delivery: delivery.clone(),
        repository: repository.clone(),
        commit: commit.clone(),
        outcome: "skipped".into(),
        reason: Some("routes[1] (prs): pull request from fork stranger/Hello-World".into()),
        routes: vec!["routes[1] (prs): held back".into()],
        event: gantry_tests::sample("trigger/push.json"),
        decided_at: world.ledger.now(),
    };
    world
        .ledger
        .record_decision(&decision, soon())
        .await
        .unwrap();
    // Recording it again (a retry) keeps one decision.
    world
        .ledger
        .record_decision(&decision, soon())
        .await
        .unwrap();
    let other_case = RepoName::parse("codertocat/hello-world").unwrap();
    let found = world
        .ledger
        .decisions_for_commit(&other_case, &commit, soon())
        .await
        .unwrap();
    assert_eq!(found, [decision]);
}

#[tokio::test]
async fn two_first_events_claim_one_check_run_and_a_later_attempt_is_a_new_one() {
    let world = world().await;
    let ledger = &world.ledger;
    let run = "hello-world-build:5f6b2c1a";
    let name = "gantry/hello-world-build";
    let lease = Duration::from_secs(30);
    assert_eq!(
        ledger.latest_check_run(run, name, soon()).await.unwrap(),
        None
    );

    // Two first events: one claims, the other finds the claim.
    let (first, second) = tokio::join!(
        ledger.claim_check_run(run, name, 1, lease, soon()),
        ledger.claim_check_run(run, name, 1, lease, soon()),
    );
    let claims = [first.unwrap(), second.unwrap()];
    assert_eq!(
        claims
            .iter()
            .filter(|c| **c == CheckRunClaim::Claimed)
            .count(),
        1,
        "{claims:?}"
    );
    let CheckRunClaim::Taken(held) = claims
        .iter()
        .find(|c| **c != CheckRunClaim::Claimed)
        .unwrap()
        .clone()
    else {
        unreachable!()
    };
    assert_eq!((held.attempt, held.check_run_id), (1, None));

    ledger
        .record_check_run(run, name, 1, 111, None, soon())
        .await
        .unwrap();
    // Past the lease, a recorded run is still never claimed again.
    world.clock.advance(Duration::from_secs(60));
    let CheckRunClaim::Taken(recorded) = ledger
        .claim_check_run(run, name, 1, lease, soon())
        .await
        .unwrap()
    else {
        panic!("a recorded run must not be claimed again")
    };
    assert_eq!(recorded.check_run_id, Some(111));
    ledger
        .complete_check_run(run, name, 1, "failure", soon())
        .await
        .unwrap();

    // A retried stage: attempt 2, the latest from now on.
    assert_eq!(
        ledger
            .claim_check_run(run, name, 2, lease, soon())
            .await
            .unwrap(),
        CheckRunClaim::Claimed
    );
    ledger
        .record_check_run(run, name, 2, 222, Some("success"), soon())
        .await
        .unwrap();
    let latest = ledger
        .latest_check_run(run, name, soon())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            latest.attempt,
            latest.check_run_id,
            latest.conclusion.as_deref()
        ),
        (2, Some(222), Some("success"))
    );
    // Another check of the same run is kept apart.
    assert_eq!(
        ledger
            .latest_check_run(run, "gantry/hello-world-build/extra", soon())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_claim_whose_holder_died_is_taken_over_after_its_lease_and_a_released_one_at_once() {
    let world = world().await;
    let ledger = &world.ledger;
    let (run, name) = ("exec-1/Deploy", "ci/Deploy");
    let lease = Duration::from_secs(30);
    assert_eq!(
        ledger
            .claim_check_run(run, name, 1, lease, soon())
            .await
            .unwrap(),
        CheckRunClaim::Claimed
    );
    assert!(matches!(
        ledger
            .claim_check_run(run, name, 1, lease, soon())
            .await
            .unwrap(),
        CheckRunClaim::Taken(_)
    ));
    world.clock.advance(Duration::from_secs(31));
    assert_eq!(
        ledger
            .claim_check_run(run, name, 1, lease, soon())
            .await
            .unwrap(),
        CheckRunClaim::Claimed
    );
    // GitHub refused the create: released, the next event claims at once.
    ledger
        .release_check_run(run, name, 1, soon())
        .await
        .unwrap();
    assert_eq!(
        ledger
            .claim_check_run(run, name, 1, lease, soon())
            .await
            .unwrap(),
        CheckRunClaim::Claimed
    );
    // A release never removes a recorded run.
    ledger
        .record_check_run(run, name, 1, 7, None, soon())
        .await
        .unwrap();
    ledger
        .release_check_run(run, name, 1, soon())
        .await
        .unwrap();
    assert_eq!(
        ledger
            .latest_check_run(run, name, soon())
            .await
            .unwrap()
            .and_then(|r| r.check_run_id),
        Some(7)
    );
}

/// Eight invocations at once claim one start, first while it is unclaimed and
/// again after its lease ran out: each time exactly one may go on. (Straight
/// against moto, without `item_writes`, two sometimes win.)
#[tokio::test]
async fn of_eight_concurrent_claims_one_wins_both_a_new_claim_and_a_takeover() {
    let world = world().await;
    let (ledger, clock) = (&world.ledger, &world.clock);
    let (delivery, repository, commit) = ids();
    for round in 0..25 {
        let target = format!("pipeline/app-{round}");
        let claim = claim_on_main(&delivery, &repository, &commit, &target);
        let claims = || join_all((0..8).map(|_| ledger.claim_start(&claim, soon())));
        let first: Vec<Claim> = claims().await.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            first.iter().filter(|c| **c == Claim::New).count(),
            1,
            "round {round}: {first:?}"
        );
        clock.advance(Duration::from_secs(61));
        let takeovers: Vec<Claim> = claims().await.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            takeovers
                .iter()
                .filter(|c| matches!(c, Claim::Recovered { .. }))
                .count(),
            1,
            "round {round}: {takeovers:?}"
        );
        assert!(
            takeovers
                .iter()
                .all(|c| matches!(c, Claim::Recovered { .. } | Claim::Held { .. })),
            "round {round}: {takeovers:?}"
        );
    }
}

//! The ledger against moto's DynamoDB (conditional writes are real there; TTL
//! is stored and never applied, so time is moved on the ledger's clock).

use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use gantry_core::ledger::{
    CheckRunPut, Claim, Clock, DecisionRecord, Ledger, StartClaim, StartedRecord,
};
use gantry_tests::moto::Moto;
use gantry_tests::{scenario, soon};
use std::time::Duration;

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const COMMIT: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

struct World {
    _moto: Moto,
    ledger: Ledger,
    clock: Clock,
}

async fn world() -> World {
    let moto = Moto::start().await.unwrap();
    let sdk = moto.sdk_config().await;
    scenario::create_ledger_table(&sdk).await.unwrap();
    let clock = Clock::manual(1_800_000_000);
    World {
        _moto: moto,
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

#[tokio::test]
async fn a_start_is_claimed_once_completed_once_and_recovered_after_its_lease() {
    let world = world().await;
    let (delivery, repository, commit) = ids();
    let claim = |target| StartClaim {
        delivery: &delivery,
        target,
        route: "routes[0] (main)",
        repository: &repository,
        commit: &commit,
        git_ref: Some("main"),
        lease: Duration::from_secs(60),
    };
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
    assert!(on_main
        .iter()
        .any(|(d, s)| d == DELIVERY && s.as_ref() == Some(&started)));
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
async fn two_first_events_record_one_check_run() {
    let world = world().await;
    let ledger = &world.ledger;
    let run = "hello-world-build:5f6b2c1a";
    assert_eq!(
        ledger
            .put_check_run(run, 1, "gantry/hello-world-build", 111, soon())
            .await
            .unwrap(),
        CheckRunPut::Recorded
    );
    assert_eq!(
        ledger
            .put_check_run(run, 1, "gantry/hello-world-build", 222, soon())
            .await
            .unwrap(),
        CheckRunPut::Exists(111)
    );
    // A new attempt is a new check run.
    assert_eq!(
        ledger
            .put_check_run(run, 2, "gantry/hello-world-build", 333, soon())
            .await
            .unwrap(),
        CheckRunPut::Recorded
    );
    assert_eq!(
        ledger
            .check_run(run, 1, "gantry/hello-world-build", soon())
            .await
            .unwrap(),
        Some(111)
    );
    assert_eq!(
        ledger
            .check_run(run, 3, "gantry/hello-world-build", soon())
            .await
            .unwrap(),
        None
    );
}

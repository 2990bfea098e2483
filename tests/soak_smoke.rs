//! The soak (`gantry_tests::soak`, `scripts/soak` for the full runs) as CI runs
//! it: 50 deliveries through the real binaries with one request in ten faulted,
//! their starts scripted to succeed, fail or be stopped, and nothing lost,
//! started twice, reported wrong or regressed, as commit statuses and as App
//! mode's check runs. trigger's backoff is honoured
//! sixty times faster (a minute is a second), so the smoke run waits seconds.

use gantry_tests::soak::{self, SoakConfig};
use std::time::Duration;

#[tokio::test]
async fn fifty_deliveries_under_faults_lose_nothing_start_nothing_twice_and_regress_nothing() {
    let log_dir = gantry_tests::workspace_root().join("target/test-logs/soak-smoke");
    std::fs::create_dir_all(&log_dir).unwrap();
    let report = soak::run(&SoakConfig {
        deliveries: 50,
        fault_rate: 0.1,
        seed: 7,
        log_dir,
        time_budget: Duration::from_secs(900),
        time_scale: 60,
    })
    .await
    .unwrap();
    let summary = serde_json::to_string_pretty(&report).unwrap();
    assert!(report.clean(), "{summary}");
    assert_eq!(report.targets_expected, 100, "{summary}");
    assert_eq!(report.started_once, 100, "{summary}");
    assert_eq!(report.statuses_right, 100, "{summary}");
    assert_eq!(report.check_runs_once, 100, "{summary}");
    // Every outcome was scripted, so each mapping met the faults.
    assert_eq!(report.outcomes_scripted.len(), 3, "{summary}");
    // The faults really happened, on both sides.
    let injected = |faults: &std::collections::BTreeMap<String, usize>| {
        faults
            .iter()
            .filter(|(k, _)| *k != "none")
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    assert!(injected(&report.aws_faults) > 0, "{summary}");
    assert!(injected(&report.github_faults) > 0, "{summary}");
    assert!(injected(&report.app_github_faults) > 0, "{summary}");
}

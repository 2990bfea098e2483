//! `soak [DELIVERIES] [FAULT_RATE] [SEED] [TIME_SCALE] [BUDGET_S]`: drives DELIVERIES
//! deliveries (default 1000) through the real binaries with faults injected at
//! FAULT_RATE (0.0-1.0, default 0.1) of every request they send, waits on the
//! trigger queue TIME_SCALE times shorter than deployed (default 1: as
//! deployed), stops waiting after BUDGET_S seconds (default 3600), and
//! prints one JSON line with what was lost, duplicated or regressed
//! (`gantry_tests::soak`). Exit code 1 when anything was. Build the
//! binaries first: `cargo build --workspace`.

use gantry_tests::soak::{self, SoakConfig};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<std::process::ExitCode, gantry_tests::BoxError> {
    let mut args = std::env::args().skip(1);
    let deliveries = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let fault_rate = args.next().and_then(|n| n.parse().ok()).unwrap_or(0.1);
    let seed = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let time_scale = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let budget_s = args.next().and_then(|n| n.parse().ok()).unwrap_or(3600);
    // One folder per run, so runs side by side keep their functions' logs apart.
    let log_dir = gantry_tests::workspace_root()
        .join("target/soak")
        .join(format!(
            "{deliveries}-at-{fault_rate}-seed-{seed}-x{time_scale}"
        ));
    std::fs::create_dir_all(&log_dir)?;
    let report = soak::run(&SoakConfig {
        deliveries,
        fault_rate,
        seed,
        log_dir,
        time_budget: Duration::from_secs(budget_s),
        time_scale,
    })
    .await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(if report.clean() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

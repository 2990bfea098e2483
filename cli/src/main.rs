use clap::{Parser, Subcommand};
use gantry_cli::buttons::{Button, Press};
use gantry_cli::doctor::{self, Clients, Parts};
use gantry_cli::explain::{self, Subject};
use gantry_cli::redrive::Redrive;
use gantry_cli::report::Report;
use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use std::process::ExitCode;

/// Gantry's operator command line. AWS credentials, region and endpoint come
/// from the AWS SDK's standard settings (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, ...). Exit code 1 when a check or a move failed, 2 when
/// the command itself could not run.
#[derive(Parser)]
#[command(name = "gantry", version)]
struct Cli {
    /// Print JSON instead of lines for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a deployment's parts: every route's pipeline or project, the
    /// ledger table, the dead-letter queues. Each failure names its fix.
    Doctor {
        /// The routing document (the stack's RoutesJson, trigger's GANTRY_ROUTES).
        #[arg(long)]
        routes: Option<String>,
        /// The ledger table (trigger's GANTRY_LEDGER_TABLE).
        #[arg(long)]
        ledger_table: Option<String>,
        /// A queue whose messages need an operator, as NAME=URL (repeatable):
        /// the stack's TriggerDlqUrl, TriggerRuleDlqUrl, failure queues.
        #[arg(long = "dead-letter-queue", value_name = "NAME=URL")]
        dead_letter_queues: Vec<String>,
    },
    /// The story of a delivery (X-GitHub-Delivery) or a commit: what trigger
    /// decided, what started, and its state now.
    Explain {
        /// A delivery id, or a commit SHA (then --repository too).
        what: String,
        /// owner/name, for a commit.
        #[arg(long)]
        repository: Option<String>,
        /// The ledger table (trigger's GANTRY_LEDGER_TABLE).
        #[arg(long)]
        ledger_table: String,
    },
    /// Start a delivery's build or execution again at its commit, as the
    /// check run's "Re-run" button does (for token mode, which has no buttons).
    Rerun(PressArgs),
    /// Stop what a delivery started and is still running, as the check run's
    /// "Stop" button does.
    Stop(PressArgs),
    /// Move a dead-letter queue's messages back to their queue (TriggerDlq to
    /// TriggerQueue). Safe to repeat: the ledger starts nothing twice.
    Redrive {
        /// The dead-letter queue's URL (the stack's TriggerDlqUrl).
        #[arg(long)]
        from: String,
        /// The queue's URL (the stack's TriggerQueueUrl).
        #[arg(long)]
        to: String,
        /// Show what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop after this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
}

/// What the buttons act on.
#[derive(clap::Args)]
struct PressArgs {
    /// The delivery that started it (see `gantry explain`).
    delivery: String,
    /// Only this target: project/<name> or pipeline/<name>.
    #[arg(long)]
    target: Option<String>,
    /// The routing document (the stack's RoutesJson).
    #[arg(long)]
    routes: String,
    /// The ledger table (trigger's GANTRY_LEDGER_TABLE).
    #[arg(long)]
    ledger_table: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let sdk = gantry_core::aws::load_sdk_config().await;
    let clients = Clients::new(&sdk);
    let report = match cli.command {
        Command::Doctor {
            routes,
            ledger_table,
            dead_letter_queues,
        } => {
            let mut queues = Vec::new();
            for queue in dead_letter_queues {
                match queue.split_once('=') {
                    Some((name, url)) => queues.push((name.to_owned(), url.to_owned())),
                    None => {
                        return usage(&format!("--dead-letter-queue {queue:?}: expected NAME=URL"))
                    }
                }
            }
            let parts = Parts {
                routes,
                ledger_table,
                dead_letter_queues: queues,
            };
            Ok(doctor::run(&clients, &parts).await)
        }
        Command::Explain {
            what,
            repository,
            ledger_table,
        } => {
            let subject = match (
                DeliveryId::parse(&what),
                CommitSha::parse(&what),
                repository,
            ) {
                (_, Ok(commit), Some(repository)) => match RepoName::parse(&repository) {
                    Ok(repository) => Subject::Commit { repository, commit },
                    Err(err) => return usage(&format!("--repository: {err}")),
                },
                (_, Ok(_), None) => return usage("a commit needs --repository owner/name"),
                (Ok(delivery), _, _) => Subject::Delivery(delivery),
                (Err(err), _, _) => {
                    return usage(&format!(
                        "{what:?} is neither a delivery id nor a commit SHA: {err}"
                    ))
                }
            };
            explain::run(&clients, &ledger_table, &subject)
                .await
                .map_err(|err| gantry_core::logging::error_chain(&err))
        }
        Command::Rerun(args) => press(&clients, Button::Rerun, &args).await,
        Command::Stop(args) => press(&clients, Button::Stop, &args).await,
        Command::Redrive {
            from,
            to,
            dry_run,
            max,
        } => {
            let redrive = Redrive {
                sqs: &clients.sqs,
                from: &from,
                to: &to,
                dry_run,
                max,
            };
            let mut progress = |moved: usize| {
                if moved % 50 == 0 {
                    eprintln!("{moved} messages so far");
                }
            };
            redrive
                .run(&mut progress)
                .await
                .map_err(|err| gantry_core::logging::error_chain(&err))
        }
    };
    match report {
        Ok(report) => print(&report, cli.json),
        Err(err) => {
            eprintln!("gantry: {err}");
            ExitCode::from(2)
        }
    }
}

async fn press(clients: &Clients, button: Button, args: &PressArgs) -> Result<Report, String> {
    let delivery = DeliveryId::parse(&args.delivery).map_err(|err| err.to_string())?;
    Press {
        clients,
        ledger_table: &args.ledger_table,
        routes: &args.routes,
        delivery: &delivery,
        target: args.target.as_deref(),
    }
    .press(button)
    .await
    .map_err(|err| gantry_core::logging::error_chain(&err))
}

fn print(report: &Report, json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{}", report.to_text());
    }
    if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("gantry: {message}");
    ExitCode::from(2)
}

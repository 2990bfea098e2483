use clap::{Args, Parser, Subcommand};
use gantry_cli::alarm_checks::AlarmParts;
use gantry_cli::buttons::{Button, Press};
use gantry_cli::doctor::{self, Clients, Parts};
use gantry_cli::explain::{self, Subject};
use gantry_cli::github_access::{self, GitHubOptions};
use gantry_cli::redrive::{self, Destination, Redrive};
use gantry_cli::replay::{self, Ask, Replay};
use gantry_cli::report::Report;
use gantry_cli::stack::{self, Deployment};
use gantry_core::github::{GitHubClient, HookScope};
use gantry_core::ids::{CommitSha, DeliveryId, RepoName};
use std::process::ExitCode;

/// Gantry's operator command line. AWS credentials, region and endpoint come
/// from the AWS SDK's standard settings (AWS_PROFILE, AWS_REGION,
/// AWS_ENDPOINT_URL, ...). Name the stack (--stack) and every part is read
/// from its outputs and its functions' settings; an option given names a part
/// instead. Exit code 1 when a check or a move failed, 2 when the command
/// itself could not run.
#[derive(Parser)]
#[command(name = "gantry", version)]
struct Cli {
    /// The deployed stack (CloudFormation) to read the parts from.
    #[arg(long, global = true, env = "GANTRY_STACK")]
    stack: Option<String>,
    /// Print JSON instead of lines for people.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a deployment: every route's pipeline or project, the ledger table,
    /// the dead-letter and failure queues, the alarms (a confirmed subscription
    /// on their topic, none firing), and on GitHub the webhook (URL, secret,
    /// events the routes need, recent deliveries) or the App's. Each failure
    /// names its fix.
    Doctor {
        /// The routing document (the stack's RoutesJson, trigger's GANTRY_ROUTES).
        #[arg(long)]
        routes: Option<String>,
        /// The ledger table (the stack's LedgerTableName).
        #[arg(long)]
        ledger_table: Option<String>,
        /// A queue whose messages need an operator, as NAME=URL (repeatable);
        /// with --stack, every dead-letter and failure queue of the stack.
        #[arg(long = "dead-letter-queue", value_name = "NAME=URL")]
        dead_letter_queues: Vec<String>,
        /// Where GitHub's webhook must point (the stack's WebhookUrl).
        #[arg(long)]
        webhook_url: Option<String>,
        /// The SNS topic the alarms notify (the stack's AlarmTopicArn): it must
        /// have a confirmed subscription.
        #[arg(long)]
        alarm_topic: Option<String>,
        #[command(flatten)]
        github: GitHubArgs,
    },
    /// The story of a delivery (X-GitHub-Delivery) or a commit, in time order:
    /// what GitHub sent and the webhook answered (with a GitHub credential),
    /// what trigger decided, what started and its state now (a failed build's
    /// phase, a failed execution's stage), and what the commit shows on GitHub.
    Explain {
        /// A delivery id, or a commit SHA (then --repository too).
        what: String,
        /// owner/name, for a commit.
        #[arg(long)]
        repository: Option<String>,
        /// The ledger table (the stack's LedgerTableName).
        #[arg(long)]
        ledger_table: Option<String>,
        /// Token mode: the webhook's id, to show GitHub's deliveries (found by
        /// --webhook-url or --stack otherwise).
        #[arg(long)]
        hook_id: Option<u64>,
        /// Token mode: the URL the webhook points at (the stack's WebhookUrl).
        #[arg(long)]
        webhook_url: Option<String>,
        #[command(flatten)]
        github: GitHubArgs,
    },
    /// Start a delivery's build or execution again at its commit, as the
    /// check run's "Re-run" button does (for token mode, which has no buttons).
    Rerun(PressArgs),
    /// Stop what a delivery started and is still running, as the check run's
    /// "Stop" button does.
    Stop(PressArgs),
    /// Put a dead-letter or failure queue's messages back where they failed to
    /// go: TriggerDlq to TriggerQueue, TriggerRuleDlq onto the bus, the status
    /// rules' dead letters to status (invoked), a failure queue's records to
    /// their function (invoked). A message is deleted only once it arrived.
    /// Safe to repeat: the ledger starts nothing twice.
    Redrive {
        /// The stack's queue, by name: TriggerDlq, TriggerRuleDlq,
        /// StatusBuildRuleDlq, StatusPipelineRuleDlq, TriggerFailureQueue,
        /// StatusFailureQueue, PrunerFailureQueue, RedeliverFailureQueue.
        #[arg(long, conflicts_with = "from")]
        queue: Option<String>,
        /// A queue's URL (instead of --queue), with one of the --to options.
        #[arg(long)]
        from: Option<String>,
        /// Move to this queue (URL).
        #[arg(long, requires = "from", conflicts_with_all = ["to_bus", "to_function", "records"])]
        to: Option<String>,
        /// Put each message's event on this bus.
        #[arg(long, requires = "from", conflicts_with_all = ["to_function", "records"])]
        to_bus: Option<String>,
        /// Invoke this function with each message's event.
        #[arg(long, requires = "from", conflicts_with = "records")]
        to_function: Option<String>,
        /// Each message is Lambda's failure record: invoke its function with its payload.
        #[arg(long, requires = "from")]
        records: bool,
        /// Show what would move; move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop after this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
    /// Ask GitHub to send a delivery again (by its X-GitHub-Delivery), or every
    /// delivery that failed and was not delivered since (--failed). GitHub
    /// keeps deliveries 3 days; redelivering needs admin on the repository (a
    /// token) or the App's key.
    Replay {
        /// The delivery's X-GitHub-Delivery.
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        delivery: Option<String>,
        /// Every delivery that failed and was not delivered since.
        #[arg(long)]
        failed: bool,
        /// With --failed: how far back, as 24h, 90m, 3d.
        #[arg(long, default_value = "24h", value_parser = replay::parse_duration)]
        since: std::time::Duration,
        /// Token mode: the repository whose webhook sent it (owner/name).
        #[arg(long)]
        repository: Option<String>,
        /// Token mode: the webhook's id (found by --webhook-url otherwise).
        #[arg(long)]
        hook_id: Option<u64>,
        /// Token mode: the URL the webhook points at (the stack's WebhookUrl).
        #[arg(long)]
        webhook_url: Option<String>,
        /// Show what would be sent again; send nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        github: GitHubArgs,
    },
}

/// The GitHub credential: the operator's token, or the App's id and key.
#[derive(Args)]
struct GitHubArgs {
    /// A token with admin on the repositories (hooks and deliveries need it).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    github_token: Option<String>,
    /// App mode: the App's id (or the stack's GANTRY_GITHUB_APP_ID).
    #[arg(long)]
    app_id: Option<String>,
    /// App mode: the App's private key, a PEM file (or the stack's key secret).
    #[arg(long)]
    app_key_file: Option<std::path::PathBuf>,
    /// GitHub's API (GitHub Enterprise Server: https://HOST/api/v3).
    #[arg(long)]
    github_api_url: Option<String>,
}

/// What the buttons act on.
#[derive(Args)]
struct PressArgs {
    /// The delivery that started it (see `gantry explain`).
    delivery: String,
    /// Only this target: project/<name> or pipeline/<name>.
    #[arg(long)]
    target: Option<String>,
    /// The routing document (the stack's RoutesJson).
    #[arg(long)]
    routes: Option<String>,
    /// The ledger table (the stack's LedgerTableName).
    #[arg(long)]
    ledger_table: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let sdk = gantry_core::aws::load_sdk_config().await;
    let clients = Clients::new(&sdk);
    let deployment = match &cli.stack {
        None => None,
        Some(name) => match stack::read(&clients.cloudformation, &clients.lambda, name).await {
            Ok(deployment) => Some(deployment),
            Err(err) => return usage(&gantry_core::logging::error_chain(&err)),
        },
    };
    match run(cli.command, &clients, deployment.as_ref()).await {
        Ok(report) => print(&report, cli.json),
        Err(err) => usage(&err),
    }
}

async fn run(
    command: Command,
    clients: &Clients,
    deployment: Option<&Deployment>,
) -> Result<Report, String> {
    let from_stack = |output: &'static str| -> Result<String, String> {
        match deployment {
            Some(deployment) => deployment
                .output(output)
                .map(str::to_owned)
                .map_err(|err| err.to_string()),
            None => Err(format!("give the part (the stack's {output}), or --stack")),
        }
    };
    let routes_or_stack = |routes: Option<String>| -> Result<String, String> {
        match (routes, deployment) {
            (Some(routes), _) => Ok(routes),
            (None, Some(deployment)) => deployment
                .routes()
                .map(str::to_owned)
                .ok_or_else(|| "the stack's trigger has no GANTRY_ROUTES".to_owned()),
            (None, None) => Err("give --routes (the stack's RoutesJson), or --stack".into()),
        }
    };
    match command {
        Command::Doctor {
            routes,
            ledger_table,
            dead_letter_queues,
            webhook_url,
            alarm_topic,
            github,
        } => {
            let mut queues = deployment
                .map(Deployment::operator_queues)
                .unwrap_or_default();
            for queue in dead_letter_queues {
                match queue.split_once('=') {
                    Some((name, url)) => queues.push((name.to_owned(), url.to_owned())),
                    None => {
                        return Err(format!("--dead-letter-queue {queue:?}: expected NAME=URL"))
                    }
                }
            }
            let parts = Parts {
                routes: routes.or_else(|| deployment.and_then(|d| d.routes().map(str::to_owned))),
                ledger_table: ledger_table.or_else(|| from_stack("LedgerTableName").ok()),
                dead_letter_queues: queues,
                webhook_url: webhook_url.or_else(|| from_stack("WebhookUrl").ok()),
                alarms: AlarmParts {
                    topic: alarm_topic.or_else(|| from_stack("AlarmTopicArn").ok()),
                    alarm_prefix: deployment.map(|d| format!("{}-", d.stack)),
                },
            };
            let github = github_client(&github, clients, deployment)?;
            Ok(doctor::run(clients, &parts, github.as_ref()).await)
        }
        Command::Explain {
            what,
            repository,
            ledger_table,
            hook_id,
            webhook_url,
            github,
        } => {
            let ledger_table = match ledger_table {
                Some(table) => table,
                None => from_stack("LedgerTableName")?,
            };
            let named_repository = repository.clone();
            let subject = match (
                DeliveryId::parse(&what),
                CommitSha::parse(&what),
                repository,
            ) {
                (_, Ok(commit), Some(repository)) => Subject::Commit {
                    repository: RepoName::parse(&repository)
                        .map_err(|err| format!("--repository: {err}"))?,
                    commit,
                },
                (_, Ok(_), None) => return Err("a commit needs --repository owner/name".into()),
                (Ok(delivery), _, _) => Subject::Delivery(delivery),
                (Err(err), _, _) => {
                    return Err(format!(
                        "{what:?} is neither a delivery id nor a commit SHA: {err}"
                    ))
                }
            };
            // GitHub's side when a credential is at hand; the story without it otherwise.
            let client = github_client(&github, clients, deployment)?;
            let webhook_url = webhook_url.or_else(|| from_stack("WebhookUrl").ok());
            // The App's own webhook in App mode (--repository is the commit's
            // then); a repository's in token mode, which needs admin: without
            // it the story goes on without GitHub's deliveries, and says why.
            let scope = match &client {
                Some(client) if client.is_app() => Some(Ok(HookScope::App)),
                Some(client) => Some(
                    hook_scope(client, named_repository, hook_id, webhook_url.as_deref()).await,
                ),
                None => None,
            };
            let side =
                client
                    .as_ref()
                    .zip(scope.as_ref())
                    .map(|(github, scope)| explain::GitHubSide {
                        github,
                        scope: scope.as_ref().map_err(String::as_str),
                    });
            explain::run(clients, &ledger_table, &subject, side.as_ref())
                .await
                .map_err(|err| gantry_core::logging::error_chain(&err))
        }
        Command::Rerun(args) => {
            press(clients, Button::Rerun, args, &routes_or_stack, &from_stack).await
        }
        Command::Stop(args) => {
            press(clients, Button::Stop, args, &routes_or_stack, &from_stack).await
        }
        Command::Redrive {
            queue,
            from,
            to,
            to_bus,
            to_function,
            records,
            dry_run,
            max,
        } => {
            let (from, destination) = match (queue, from) {
                (Some(queue), _) => {
                    let Some(deployment) = deployment else {
                        return Err("--queue names a queue of the stack: give --stack too".into());
                    };
                    let url = deployment
                        .outputs
                        .get(&format!("{queue}Url"))
                        .cloned()
                        .ok_or_else(|| {
                            format!("the stack has no queue {queue} (output {queue}Url)")
                        })?;
                    let output = |name: &'static str| deployment.outputs.get(name).cloned();
                    match redrive::destination_of(&queue, &output)? {
                        Some(destination) => (url, destination),
                        None => return Ok(Report::from(gantry_cli::report::Finding::note(
                            queue,
                            "nothing to redrive: a schedule's missed tick is caught up by the next",
                        ))),
                    }
                }
                (None, Some(from)) => {
                    let destination = match (to, to_bus, to_function, records) {
                        (Some(url), None, None, false) => Destination::Queue(url),
                        (None, Some(bus), None, false) => Destination::Bus(bus),
                        (None, None, Some(function), false) => Destination::Function(function),
                        (None, None, None, true) => Destination::FailureRecords,
                        _ => {
                            return Err(
                                "--from needs one of --to, --to-bus, --to-function, --records"
                                    .into(),
                            )
                        }
                    };
                    (from, destination)
                }
                (None, None) => return Err("give --queue (with --stack) or --from".into()),
            };
            let redrive = Redrive {
                clients: redrive::Clients {
                    sqs: &clients.sqs,
                    events: &clients.events,
                    lambda: &clients.lambda,
                },
                from: &from,
                to: &destination,
                dry_run,
                max,
            };
            // One line rewritten in place on a terminal; a line per 50 otherwise (logs).
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let mut progress = |handled: usize, about: usize| {
                if terminal {
                    eprint!("\r{handled} of about {about} messages handled");
                    if handled >= about {
                        eprintln!();
                    }
                } else if handled % 50 == 0 {
                    eprintln!("{handled} of about {about} messages handled");
                }
            };
            redrive
                .run(&mut progress)
                .await
                .map_err(|err| gantry_core::logging::error_chain(&err))
        }
        Command::Replay {
            delivery,
            failed,
            since,
            repository,
            hook_id,
            webhook_url,
            dry_run,
            github,
        } => {
            let Some(client) = github_client(&github, clients, deployment)? else {
                return Err("replay needs GitHub: a token with admin on the repository (GITHUB_TOKEN), or the App's (--app-id and --app-key-file, or a stack in App mode)".into());
            };
            let webhook_url = webhook_url.or_else(|| from_stack("WebhookUrl").ok());
            let scope = hook_scope(&client, repository, hook_id, webhook_url.as_deref()).await?;
            let ask = match (delivery, failed) {
                (Some(guid), false) => Ask::Delivery(guid),
                _ => Ask::Failed { since },
            };
            Replay {
                github: &client,
                scope: &scope,
                dry_run,
            }
            .run(&ask)
            .await
            .map_err(|err| gantry_core::logging::error_chain(&err))
        }
    }
}

async fn press(
    clients: &Clients,
    button: Button,
    args: PressArgs,
    routes_or_stack: &dyn Fn(Option<String>) -> Result<String, String>,
    from_stack: &dyn Fn(&'static str) -> Result<String, String>,
) -> Result<Report, String> {
    let delivery = DeliveryId::parse(&args.delivery).map_err(|err| err.to_string())?;
    let routes = routes_or_stack(args.routes)?;
    let ledger_table = match args.ledger_table {
        Some(table) => table,
        None => from_stack("LedgerTableName")?,
    };
    Press {
        clients,
        ledger_table: &ledger_table,
        routes: &routes,
        delivery: &delivery,
        target: args.target.as_deref(),
    }
    .press(button)
    .await
    .map_err(|err| gantry_core::logging::error_chain(&err))
}

fn github_client(
    args: &GitHubArgs,
    clients: &Clients,
    deployment: Option<&Deployment>,
) -> Result<Option<GitHubClient>, String> {
    let app_key_pem = match &args.app_key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|err| format!("--app-key-file {}: {err}", path.display()))?,
        ),
        None => None,
    };
    let options = GitHubOptions {
        token: args.github_token.clone().filter(|t| !t.trim().is_empty()),
        app_id: args.app_id.clone(),
        app_key_pem,
        api_url: args.github_api_url.clone(),
    };
    let setting = |name: &str| deployment.and_then(|d| d.status_setting(name).map(str::to_owned));
    let source = github_access::decide(&options, &setting)?;
    github_access::client(&source, &options, &setting, &clients.secrets)
        .map_err(|err| gantry_core::logging::error_chain(&err))
}

/// The App's webhook in App mode; in token mode the repository's hook that
/// `hook_id` names or that points at `webhook_url`.
async fn hook_scope(
    client: &GitHubClient,
    repository: Option<String>,
    hook_id: Option<u64>,
    webhook_url: Option<&str>,
) -> Result<HookScope, String> {
    if client.is_app() && repository.is_none() {
        return Ok(HookScope::App);
    }
    let repo = RepoName::parse(
        repository
            .as_deref()
            .ok_or("a token redelivers a repository's webhook: give --repository owner/name")?,
    )
    .map_err(|err| format!("--repository: {err}"))?;
    if let Some(hook_id) = hook_id {
        return Ok(HookScope::Repository { repo, hook_id });
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let hooks = client.list_hooks(&repo, deadline).await.map_err(|err| {
        format!(
            "could not list {repo}'s webhooks (admin needed): {}",
            gantry_core::logging::error_chain(&err)
        )
    })?;
    let chosen = gantry_cli::webhook_checks::pick_hook(&hooks, webhook_url);
    match chosen {
        Some(hook) => Ok(HookScope::Repository {
            repo,
            hook_id: hook.id,
        }),
        None => Err(format!(
            "no webhook of {repo} told apart ({} listed): give --hook-id, --webhook-url or --stack",
            hooks.len()
        )),
    }
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

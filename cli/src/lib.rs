//! `gantry`, the operator's command line. Each subcommand is a library
//! function from AWS clients and options to a `Report`, so the tests run them
//! against moto as the binary does.
//!
//! - `doctor`: is the setup right? (`webhook_checks`: GitHub's side; `alarm_checks`: does an alarm reach anyone?)
//! - `explain`: what happened to this delivery or commit?
//! - `redrive`: put the dead letters back;
//! - `replay`: ask GitHub to send deliveries again;
//! - `buttons`: `rerun` and `stop`, the check-run buttons for token mode;
//! - `stack`: a deployed stack's parts, read by its name;
//! - `github_access`: which GitHub credential, for what.

// The layout of the handler's futures (GitHub and AWS calls, retried, inside
// spans and deadlines) can nest deeper than the default limit of 128.
#![recursion_limit = "256"]

pub mod alarm_checks;
pub mod buttons;
pub mod doctor;
pub mod explain;
pub mod github_access;
pub mod redrive;
pub mod replay;
pub mod report;
pub mod stack;
pub mod webhook_checks;

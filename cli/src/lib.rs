//! `gantry`, the operator's command line. Each subcommand is a library
//! function from AWS clients and options to a `Report`, so the tests run them
//! against moto as the binary does.
//!
//! - `doctor`: is the setup right?
//! - `explain`: what happened to this delivery or commit?
//! - `redrive`: put the dead letters back;
//! - `buttons`: `rerun` and `stop`, the check-run buttons for token mode.

pub mod buttons;
pub mod doctor;
pub mod explain;
pub mod redrive;
pub mod report;

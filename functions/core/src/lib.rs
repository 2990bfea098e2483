//! What two or more Gantry functions need: the EventBridge contract between
//! `webhook` and `trigger`, typed identifiers, configuration helpers, the one
//! way an AWS SDK config is built, secrets and logging.

pub mod aws;
pub mod config;
pub mod contract;
pub mod deadline;
pub mod github;
pub mod ids;
pub mod ledger;
pub mod logging;
pub mod metrics;
pub mod secret;
pub mod status_config;

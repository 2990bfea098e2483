//! What the end-to-end tests and the local run share: moto's server as AWS, a
//! local Lambda Runtime API for the functions' binaries, the local world they
//! run in, a recorder for the requests Gantry sends, and a router that sends
//! chosen operations to a stand-in.

pub mod local_run;
pub mod moto;
pub mod recorder;
pub mod route;
pub mod runtime;
pub mod scenario;

use std::path::PathBuf;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A sample event from `events/`.
pub fn sample(path: &str) -> serde_json::Value {
    let file = workspace_root().join("events").join(path);
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// A binary of this workspace, as `cargo build --workspace` leaves it, next to
/// the running test or tool.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

//! What each fuzz target does with its bytes. The libFuzzer targets in
//! `fuzz/fuzz_targets/` are one line each, calling the function of the same
//! name here; `tests/fuzz_corpus.rs` calls the same functions on every corpus
//! file and crash reproducer on stable, so CI replays exactly what was fuzzed.
//!
//! Every function takes any bytes, calls only pure library code (no I/O, no
//! runtime), and panics only when the code under test panics or breaks one of
//! the properties asserted here. Inputs are the shapes the functions receive
//! in production (JSON documents and events, HTTP headers and bodies), so the
//! sample events in `events/` and the fixtures seed the corpora as they are.

mod pruner_plan;
mod routes;
mod status_event;
mod webhook;

pub use pruner_plan::pruner_plan;
pub use routes::routes;
pub use status_event::status_event;
pub use webhook::{webhook_decide, webhook_verify};

/// What a target does with one input.
pub type Harness = fn(&[u8]);

/// Every target by name, as its corpus folder and the libFuzzer binary are named.
pub const TARGETS: [(&str, Harness); 5] = [
    ("webhook_verify", webhook_verify),
    ("webhook_decide", webhook_decide),
    ("routes", routes),
    ("status_event", status_event),
    ("pruner_plan", pruner_plan),
];

/// Splits "document NUL subject": the targets that take a configuration
/// document and something to decide under it (a routing document and an
/// event, a retention policy and a listing) read both from one input this way.
/// `None` when there is no NUL byte: the input is then tried as each half on
/// its own, beside a fixed counterpart, so a plain sample event or document
/// is a useful seed as it is.
fn split_at_nul(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = data.iter().position(|&b| b == 0)?;
    Some((&data[..at], &data[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_the_first_nul() {
        assert_eq!(split_at_nul(b"a\0b\0c"), Some((&b"a"[..], &b"b\0c"[..])));
        assert_eq!(split_at_nul(b"{}"), None);
    }

    #[test]
    fn no_target_panics_on_nothing_or_noise() {
        for (_, target) in TARGETS {
            for input in [&b""[..], b"\0", b"{", b"null", b"{}\0{}", b"\xff\xfe"] {
                target(input);
            }
        }
    }
}

//! Every fuzz corpus file and every crash reproducer, through the very functions
//! the libFuzzer targets call (`gantry_fuzz_harness`), on stable: what the
//! fuzzer found once stays found, without nightly or a fuzzing run.
//!
//! Per target, from `fuzz/`: `seeds/<target>/` (the samples the corpus grew
//! from), `corpus/<target>/` (the minimised corpus), `regressions/<target>/`
//! (each input that once crashed or hung a target), and, when a local fuzzing
//! run left any, `artifacts/<target>/`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_and_reproducer_runs_clean() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (target, harness) in gantry_fuzz_harness::TARGETS {
        for (folder, must_have_files) in [
            ("seeds", true),
            ("corpus", true),
            ("regressions", false),
            ("artifacts", false),
        ] {
            let dir = fuzz_dir().join(folder).join(target);
            let inputs = files(&dir);
            // An empty or missing corpus would let this test pass on nothing.
            assert!(
                !must_have_files || !inputs.is_empty(),
                "{} has no inputs",
                dir.display()
            );
            for input in inputs {
                let data = std::fs::read(&input).expect("a readable input");
                replayed += 1;
                if let Err(panic) = catch_unwind(AssertUnwindSafe(|| harness(&data))) {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)");
                    failures.push(format!("{target}: {}: {message}", input.display()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

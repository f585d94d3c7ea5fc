use std::process::Command;

use crate::util::example;

#[test]
fn rust_program_with_hakmem_as_global_allocator_runs_threads() {
    let exe = example("global_alloc");
    let o = Command::new(&exe).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "global_alloc failed: {:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("checksum 0x"), "{out}");
    // The example verifies its own results and prints how many HAKMEM allocations served it.
    let hits: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("hakmem hits "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        hits > 100_000,
        "HAKMEM served only {hits} allocations: not the global allocator?"
    );
}

//! `LD_PRELOAD` of each mimalloc build under a small C program (`data/probe.c`, built here with the system
//! C compiler): the program sees the version the crate says, and prints exactly what it prints under glibc.

use hakmem_baselines::{Baseline, BASELINES, VERSION_2, VERSION_3};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("hakmem-baselines-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Builds the probe (plain `gcc -O2`, no allocator linked in: the preload decides).
fn probe() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/probe.c");
    let exe = scratch().join("probe");
    let st = Command::new("gcc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("gcc is needed to build tests/data/probe.c");
    assert!(st.success(), "gcc failed on {}", src.display());
    exe
}

fn run(exe: &Path, preload: Option<&Path>) -> String {
    let mut cmd = Command::new(exe);
    cmd.env_remove("LD_PRELOAD");
    if let Some(so) = preload {
        cmd.env("LD_PRELOAD", so);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{exe:?} under {preload:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn path_of(b: &Baseline) -> PathBuf {
    b.find().unwrap_or_else(|| {
        panic!("{} is missing next to the test binary: the build script of hakmem-baselines puts it in target/<profile>/", b.file)
    })
}

#[test]
fn versions_are_the_vendored_lines() {
    assert!(VERSION_3.starts_with("3."), "{VERSION_3}");
    assert!(VERSION_2.starts_with("2."), "{VERSION_2}");
    assert_eq!(
        hakmem_baselines::by_name("mimalloc").unwrap().version,
        VERSION_3
    );
    assert_eq!(
        hakmem_baselines::by_name("mimalloc2").unwrap().version,
        VERSION_2
    );
    assert!(hakmem_baselines::by_name("jemalloc").is_none());
}

#[test]
fn each_build_interposes_malloc_with_its_version_and_matches_glibc() {
    let exe = probe();
    let system = run(&exe, None);
    let (first, rest) = system.split_once('\n').unwrap();
    assert_eq!(
        first, "mi_version none",
        "glibc run sees a mimalloc: is LD_PRELOAD set around the tests?"
    );
    assert!(
        rest.contains("check ok") && rest.contains("calloc nonzero bytes 0\n"),
        "{system}"
    );
    assert!(
        rest.contains("realloc lost bytes 0\n") && rest.contains("aligned misaligned 0 failed 0\n"),
        "{system}"
    );
    for b in BASELINES {
        let so = path_of(&b);
        let out = run(&exe, Some(&so));
        let (first, body) = out.split_once('\n').unwrap();
        assert_eq!(
            first,
            format!("mi_version {}", b.version),
            "{}",
            so.display()
        );
        assert_eq!(body, rest, "{} changes the probe's output", so.display());
    }
}

#[test]
fn the_builds_are_distinct_files_next_to_each_other() {
    let a = path_of(&BASELINES[0]);
    let b = path_of(&BASELINES[1]);
    assert_eq!(a.parent(), b.parent());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

use std::path::{Path, PathBuf};
use std::process::Command;

/// xorshift64* — deterministic, seeded per test.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

/// The workspace root (two levels above this crate's manifest).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The directory holding the built artifacts: the profile directory this test binary was built into
/// (`<target>/release/deps/tests-…` → `<target>/release`), else `$CARGO_TARGET_DIR/release` or
/// `<workspace>/target/release`.
pub fn release_dir() -> PathBuf {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.to_path_buf()))
    {
        if dir.join("libhakmem.so").exists() || dir.join("examples").exists() {
            return dir;
        }
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            let d = if d.is_relative() {
                workspace().join(d)
            } else {
                d
            };
            d.join("release")
        }
        None => workspace().join("target").join("release"),
    }
}

/// `libhakmem.so`, or a failing test with a message saying how to build it.
pub fn libhakmem() -> PathBuf {
    let p = release_dir().join("libhakmem.so");
    assert!(
        p.exists(),
        "{} is missing: build it first with `cargo build --release -p hakmem-preload` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hakmem-alloc-test-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `tests/c/NAME.c` with gcc into `dir`, returning the executable.
pub fn compile_c(name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("c")
        .join(format!("{name}.c"));
    let exe = dir.join(name);
    let out = Command::new("gcc")
        .args(["-O2", "-g", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("gcc must be installed (apt-get install gcc)");
    assert!(
        out.status.success(),
        "gcc {} failed: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// An example binary of this crate (built by `cargo test`).
pub fn example(name: &str) -> PathBuf {
    let p = release_dir().join("examples").join(name);
    assert!(p.exists(), "{} is missing: `cargo test` builds the examples; build it with `cargo build --release -p hakmem-allocator --examples`", p.display());
    p
}

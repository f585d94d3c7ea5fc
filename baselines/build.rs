//! Builds the two mimalloc lines vendored by libmimalloc-sys (`c_src/mimalloc/v3` and `.../v2`) as shared
//! libraries that override malloc, the way mimalloc's own CMake builds its release `libmimalloc.so`, and
//! places them next to the workspace's other artifacts:
//! `target/<profile>/libhakmem_mimalloc.so` (3.x) and `target/<profile>/libhakmem_mimalloc2.so` (2.x).
//!
//! Flags, from mimalloc's CMakeLists.txt for a Release shared library with `MI_OVERRIDE=ON` on Linux/GCC:
//! `-O3 -DNDEBUG` (CMAKE_C_FLAGS_RELEASE), defines `MI_BUILD_RELEASE MI_CMAKE_BUILD_TYPE=release
//! MI_SHARED_LIB MI_SHARED_LIB_EXPORT MI_MALLOC_OVERRIDE`, `-fvisibility=hidden -ftls-model=initial-exec
//! -fno-builtin-malloc -Wno-unknown-pragmas -Wstrict-prototypes`, `-fPIC -shared`, linked with pthread and
//! rt; no `MI_LIBC_MUSL` (glibc), no `MI_OPT_ARCH` (its default is off on x86-64). `src/static.c` is the
//! single translation unit that includes every other source, as the crate itself compiles it.
//!
//! Rebuilds only when a vendored source or header changes, or when an output file is missing: each output
//! is a `rerun-if-changed` path whose mtime is set back to the newest source's, so that a present output
//! never looks newer than the last run (cargo would otherwise rerun this script on every build).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::SystemTime;

/// One mimalloc line to build: its directory under `c_src/mimalloc` and the output file name.
struct Line {
    dir: &'static str,
    file: &'static str,
}

const LINES: [Line; 2] = [
    Line {
        dir: "v3",
        file: "libhakmem_mimalloc.so",
    },
    Line {
        dir: "v2",
        file: "libhakmem_mimalloc2.so",
    },
];

fn main() {
    let include = env::var("DEP_MIMALLOC_INCLUDE_DIR").expect(
        "DEP_MIMALLOC_INCLUDE_DIR not set: libmimalloc-sys (links = \"mimalloc\") must be a dependency",
    );
    // `.../c_src/mimalloc/<v3|v2>/include` → `.../c_src/mimalloc`
    let root = Path::new(&include)
        .parent()
        .and_then(Path::parent)
        .expect("DEP_MIMALLOC_INCLUDE_DIR has no c_src/mimalloc/<line>/include shape")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR not set"));
    // OUT_DIR is `target/[<triple>/]<profile>/build/<pkg>-<hash>/out`; the artifacts go to `<profile>/`.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is not target/<profile>/build/<pkg>/out")
        .to_path_buf();

    let compiler = cc::Build::new().get_compiler();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");

    let mut jobs: Vec<(Child, PathBuf, PathBuf, SystemTime)> = Vec::new();
    for line in &LINES {
        let src = root.join(line.dir);
        for sub in ["src", "include"] {
            println!("cargo:rerun-if-changed={}", src.join(sub).display());
        }
        let version = read_version(&src.join("include").join("mimalloc.h"));
        println!(
            "cargo:rustc-env=HAKMEM_BASELINES_{}_VERSION={version}",
            line.dir.to_uppercase()
        );
        println!(
            "cargo:rustc-env=HAKMEM_BASELINES_{}_SRC={}",
            line.dir.to_uppercase(),
            src.display()
        );
        let built = out_dir.join(line.file);
        let dest = profile_dir.join(line.file);
        println!("cargo:rerun-if-changed={}", dest.display());
        let newest = newest_mtime(&src.join("src")).max(newest_mtime(&src.join("include")));
        let mut cmd = Command::new(compiler.path());
        cmd.args(["-O3", "-DNDEBUG", "-fPIC", "-shared"])
            .args([
                "-DMI_BUILD_RELEASE",
                "-DMI_CMAKE_BUILD_TYPE=release",
                "-DMI_SHARED_LIB",
                "-DMI_SHARED_LIB_EXPORT",
                "-DMI_MALLOC_OVERRIDE",
            ])
            .args([
                "-fvisibility=hidden",
                "-ftls-model=initial-exec",
                "-fno-builtin-malloc",
                "-Wno-unknown-pragmas",
                "-Wstrict-prototypes",
            ])
            .arg("-I")
            .arg(src.join("include"))
            .arg(src.join("src").join("static.c"))
            .arg(format!("-Wl,-soname,{}", line.file))
            .arg("-o")
            .arg(&built)
            .args(["-lpthread", "-lrt"]);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run the C compiler {}: {e}",
                compiler.path().display()
            )
        });
        jobs.push((child, built, dest, newest));
    }
    for (mut child, built, dest, newest) in jobs {
        let status = child.wait().expect("waiting for the C compiler");
        assert!(
            status.success(),
            "building {} failed: {status}",
            built.display()
        );
        // Copy (not rename): OUT_DIR keeps the build, the profile directory gets a file whose mtime is the
        // newest source's (see the module comment).
        let tmp = dest.with_extension("so.tmp");
        fs::copy(&built, &tmp).unwrap_or_else(|e| panic!("copying to {}: {e}", tmp.display()));
        fs::File::options()
            .write(true)
            .open(&tmp)
            .and_then(|f| f.set_modified(newest))
            .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", tmp.display()));
        fs::rename(&tmp, &dest).unwrap_or_else(|e| panic!("renaming to {}: {e}", dest.display()));
    }
}

/// `#define MI_MALLOC_VERSION 30302` → "3.3.2" (major + 2 digits minor + 2 digits patch).
fn read_version(header: &Path) -> String {
    let text =
        fs::read_to_string(header).unwrap_or_else(|e| panic!("reading {}: {e}", header.display()));
    let n: u32 = text
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("#define") && w.next() == Some("MI_MALLOC_VERSION"))
                .then(|| w.next())
                .flatten()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no MI_MALLOC_VERSION in {}", header.display()));
    format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100)
}

/// The newest modification time of any file under `dir` (recursively).
fn newest_mtime(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let entry = entry.expect("directory entry");
        let meta = entry.metadata().expect("metadata");
        let t = if meta.is_dir() {
            newest_mtime(&entry.path())
        } else {
            meta.modified().expect("mtime")
        };
        newest = newest.max(t);
    }
    newest
}

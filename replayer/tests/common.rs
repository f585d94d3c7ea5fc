//! Helpers shared by the test modules: a C program and preload libraries built with gcc for live runs, and
//! small conveniences for paths and outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An allocation-heavy program: `prog N` mallocs and frees N blocks of varying size through a ring of 512
/// slots and prints a checksum of what it wrote into them.
pub const PROG_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    char *ring[512] = {0};
    unsigned long sum = 0;
    for (long i = 0; i < n; i++) {
        int k = (int)(i * 2654435761u % 512);
        if (ring[k]) { sum += (unsigned char)ring[k][0]; free(ring[k]); }
        size_t sz = 16 + (size_t)(i * 40503u % 1000);
        ring[k] = malloc(sz);
        memset(ring[k], (int)(i & 0xff), sz);
    }
    for (int k = 0; k < 512; k++) free(ring[k]);
    printf("checksum %lu\n", sum);
    return 0;
}
"#;

/// Preloads that break a program without changing its allocator: one mode each.
pub const BREAKER_C: &str = r#"
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>
/* An allocator by name only (the C library's malloc behind it): `preload:` accepts only libraries that
   define malloc. */
extern void *__libc_malloc(size_t n);
void *malloc(size_t n) { return __libc_malloc(n); }
#ifdef EXTRA_OUTPUT
__attribute__((constructor)) static void extra(void) { write(1, "surprise\n", 9); }
#endif
#ifdef EXIT3
static void bye(void) { _exit(3); }
__attribute__((constructor)) static void reg(void) { atexit(bye); }
#endif
#ifdef HANG
__attribute__((constructor)) static void hang(void) { sleep(60); }
#endif
"#;

pub fn gcc(dir: &Path, src: &str, name: &str, args: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let out = dir.join(name);
    let st = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&c)
        .args(args)
        .status()
        .expect("gcc is needed to build the test programs (Debian: apt-get install gcc)");
    assert!(st.success(), "gcc failed to build {}", out.display());
    out
}

/// Builds [`BREAKER_C`] with `-D{mode}` (`EXTRA_OUTPUT`, `EXIT3`, `HANG`) into `dir/{mode}.so` and returns its
/// spec, `preload:PATH`.
pub fn breaker(dir: &Path, mode: &str) -> String {
    let so = gcc(
        dir,
        BREAKER_C,
        &format!("{mode}.so"),
        &["-shared", "-fPIC", &format!("-D{mode}")],
    );
    format!("preload:{}", s(&so))
}

/// A path as `&str` (the tests' paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

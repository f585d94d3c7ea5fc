//! What a shared object defines, read from its ELF dynamic symbol table (the `object` crate), without
//! loading it: `preload:PATH.so` and `HAKMEM_RECORD_LIB` must define `malloc`, or the child would run the
//! C library's allocator under another name (ld.so only warns when a preload cannot be loaded).
//!
//! Entry point: [`check_defines_malloc`].

use std::path::Path;

/// Ok when `path` is an ELF shared object whose dynamic symbol table defines `malloc`; otherwise why not,
/// as a sentence fragment for an error message.
pub fn check_defines_malloc(path: &Path) -> Result<(), String> {
    use object::{Object, ObjectSymbol};
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let file = object::File::parse(&*data)
        .map_err(|_| "not an ELF shared object (LD_PRELOAD would ignore it)".to_string())?;
    if file.format() != object::BinaryFormat::Elf {
        return Err("not an ELF shared object (LD_PRELOAD would ignore it)".into());
    }
    let defines = file
        .dynamic_symbols()
        .any(|s| s.is_definition() && s.name() == Ok("malloc"));
    if defines {
        Ok(())
    } else {
        Err(
            "defines no `malloc`: it is not an allocator, and the child would run the C library's \
             malloc under this label"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn libm_is_not_an_allocator_and_a_text_file_is_not_a_library() {
        let libm = [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
        ]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.exists())
        .expect("libm.so.6 on this glibc system");
        let e = super::check_defines_malloc(libm).unwrap_err();
        assert!(e.contains("no `malloc`"), "{e}");
        let libc = libm.with_file_name("libc.so.6");
        super::check_defines_malloc(&libc).unwrap();
        let e = super::check_defines_malloc(std::path::Path::new("/etc/hostname")).unwrap_err();
        assert!(e.contains("not an ELF"), "{e}");
    }
}

//! Files of plans and collected bundles: private (0600 files, 0700 directories, whatever the umask), written
//! atomically (aside, then renamed, so that a reader on any node sees a whole file or none), plus shell
//! quoting for the job commands and the executable's GNU build id.

use anyhow::Context;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))
}

/// Opens a new file with mode 0600 (it must not exist).
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Writes `bytes` to `path` (mode 0600) through a temporary file beside it, synced, then renamed over
/// `path`: a reader sees the old file, or the whole new one, never a torn one — also when the writer is
/// killed, which leaves at most a `.NAME.PID.tmp` file that readers ignore.
pub(crate) fn write_private_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut f = create_private(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    })
}

/// Copies `from` to a new private file `to` (aside, then renamed, as above).
pub(crate) fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let tmp = to.with_extension("hkw.tmp");
    let _ = std::fs::remove_file(&tmp);
    let copy = || -> std::io::Result<()> {
        let mut src = std::fs::File::open(from)?;
        let mut dst = create_private(&tmp)?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
        std::fs::rename(&tmp, to)
    };
    copy().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot copy {} to {}: {e}", from.display(), to.display())
    })
}

/// `s` as one shell word: unchanged when it is made of characters no shell treats specially, otherwise in
/// single quotes (a `'` inside becomes `'\''`).
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// 16 random hex digits from the kernel (plan ids).
pub(crate) fn random_hex() -> anyhow::Result<String> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom for a plan id")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The GNU build id of an ELF executable (`NT_GNU_BUILD_ID` in a `PT_NOTE` segment), lower-case hex; `None`
/// when the file is not a 64-bit little-endian ELF or has none. Reads the headers and the notes only.
pub(crate) fn gnu_build_id(exe: &Path) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(exe).ok()?;
    let mut eh = [0u8; 64];
    f.read_exact(&mut eh).ok()?;
    // e_ident: magic, ELFCLASS64 (2), ELFDATA2LSB (1).
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 || eh[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(&eh, 32), u16_at(&eh, 54), u16_at(&eh, 56));
    if phentsize < 56 || phnum > 256 {
        return None;
    }
    let mut ph = vec![0u8; (phentsize * phnum) as usize];
    f.seek(SeekFrom::Start(phoff)).ok()?;
    f.read_exact(&mut ph).ok()?;
    for i in 0..phnum as usize {
        let p = &ph[i * phentsize as usize..];
        const PT_NOTE: u64 = 4;
        if u32_at(p, 0) != PT_NOTE {
            continue;
        }
        let (off, size) = (u64_at(p, 8), u64_at(p, 32));
        if size > 1 << 16 {
            continue;
        }
        let mut notes = vec![0u8; size as usize];
        f.seek(SeekFrom::Start(off)).ok()?;
        f.read_exact(&mut notes).ok()?;
        // Each note: namesz, descsz, type (u32 each), the name and the descriptor, each padded to 4 bytes.
        let mut o = 0usize;
        while o + 12 <= notes.len() {
            let (namesz, descsz, kind) = (
                u32_at(&notes, o) as usize,
                u32_at(&notes, o + 4) as usize,
                u32_at(&notes, o + 8),
            );
            let name_at = o + 12;
            let desc_at = name_at + namesz.div_ceil(4) * 4;
            let end = desc_at + descsz.div_ceil(4) * 4;
            if end > notes.len() || desc_at + descsz > notes.len() {
                break;
            }
            const NT_GNU_BUILD_ID: u64 = 3;
            if kind == NT_GNU_BUILD_ID && &notes[name_at..name_at + namesz] == b"GNU\0" {
                let id = &notes[desc_at..desc_at + descsz];
                return Some(id.iter().map(|b| format!("{b:02x}")).collect());
            }
            o = end;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_survives_quotes() {
        assert_eq!(sh_quote("/a/b-c_d.json"), "/a/b-c_d.json");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn the_build_id_of_this_test_binary_matches_readelf_when_it_has_one() {
        let exe = std::env::current_exe().unwrap();
        let Ok(out) = std::process::Command::new("readelf")
            .arg("-n")
            .arg(&exe)
            .output()
        else {
            eprintln!("note: readelf is not installed; comparing against it is skipped");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let want = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Build ID: "))
            .map(str::to_string);
        assert_eq!(gnu_build_id(&exe), want);
        assert_eq!(gnu_build_id(Path::new("/proc/self/status")), None);
    }

    #[test]
    fn atomic_private_writes_leave_mode_0600_and_no_temporary() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hakmem-fsutil-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_private_dir(&dir.join("a/b")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("a/b")), 0o700);
        let f = dir.join("a/b/x.json");
        write_private_atomically(&f, b"one").unwrap();
        write_private_atomically(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(mode(&f), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.join("a/b")).unwrap().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

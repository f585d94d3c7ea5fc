//! Writing a result bundle (the layout of [`reports::model`]): `manifest.json` written first and rewritten
//! when notes change, `samples.jsonl` appended and flushed as each sample arrives, and an optional
//! `--export-json` file (`{"manifest": …, "samples": […]}`) rewritten after each sample so a crash of the
//! driver loses nothing already measured (`-` = stdout, written once at the end).
//!
//! Entry point: [`BundleWriter::create`].

use anyhow::Context;
use reports::model::{Manifest, Sample, MANIFEST_FILE, SAMPLES_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open bundle being written.
pub struct BundleWriter {
    dir: PathBuf,
    manifest: Manifest,
    samples: Vec<Sample>,
    file: std::fs::File,
    export: Option<PathBuf>,
}

impl BundleWriter {
    /// Creates the bundle directory (`out`, or a fresh timestamped directory under `./hakmem-results/`) and
    /// writes the manifest.
    pub fn create(
        out: Option<&Path>,
        manifest: Manifest,
        export: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let dir = match out {
            Some(d) => d.to_path_buf(),
            None => {
                let base = PathBuf::from("hakmem-results").join(format!(
                    "{}-{}",
                    manifest.kind,
                    crate::sysinfo::now_compact()
                ));
                let mut dir = base.clone();
                let mut n = 2;
                while dir.exists() {
                    dir = PathBuf::from(format!("{}-{n}", base.display()));
                    n += 1;
                }
                dir
            }
        };
        traces::private::create_dir_all(&dir)
            .with_context(|| format!("cannot create the bundle directory {}", dir.display()))?;
        let path = dir.join(SAMPLES_FILE);
        let file = traces::private::create_file(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let w = BundleWriter {
            dir,
            manifest,
            samples: Vec::new(),
            file,
            export,
        };
        w.write_manifest()?;
        // An export path that cannot be written should stop the run now, not after every sample ran.
        w.write_export()?;
        Ok(w)
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest as written.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Samples written so far.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Adds a note to the manifest (rewritten at once).
    pub fn note(&mut self, note: String) -> anyhow::Result<()> {
        if !self.manifest.notes.contains(&note) {
            self.manifest.notes.push(note);
            self.write_manifest()?;
        }
        Ok(())
    }

    /// Puts a workload into the manifest (replacing the one of the same name; rewritten at once), e.g. the
    /// recording that `hakmem live --record` replays.
    pub fn set_workload(&mut self, info: reports::model::WorkloadInfo) -> anyhow::Result<()> {
        match self
            .manifest
            .workloads
            .iter_mut()
            .find(|w| w.name == info.name)
        {
            Some(w) => *w = info,
            None => self.manifest.workloads.push(info),
        }
        self.write_manifest()
    }

    fn write_manifest(&self) -> anyhow::Result<()> {
        let path = self.dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(&self.manifest)?;
        write_atomically(&path, text.as_bytes())
    }

    /// Appends one sample (flushed at once) and refreshes the export file.
    pub fn push(&mut self, sample: Sample) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(&sample)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.flush())
            .with_context(|| {
                format!("cannot append to {}", self.dir.join(SAMPLES_FILE).display())
            })?;
        self.samples.push(sample);
        self.write_export()
    }

    fn write_export(&self) -> anyhow::Result<()> {
        match &self.export {
            Some(p) if p.as_os_str() != "-" => write_atomically(p, self.export_json()?.as_bytes()),
            _ => Ok(()),
        }
    }

    fn export_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(
            &serde_json::json!({ "manifest": self.manifest, "samples": self.samples }),
        )?)
    }

    /// Final writes: the export file (or stdout for `-`).
    pub fn finish(&self) -> anyhow::Result<()> {
        match &self.export {
            Some(p) if p.as_os_str() == "-" => {
                let mut out = std::io::stdout().lock();
                out.write_all(self.export_json()?.as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Some(p) => write_atomically(p, self.export_json()?.as_bytes())?,
            None => {}
        }
        Ok(())
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp~");
    traces::private::create_file(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

//! Reading bundles: a good one round-trips through disk; bad input gives a clear error or a warning naming
//! the line, never a panic.

use crate::fixture::main_bundle;
use reports::bundle::write_bundle;
use reports::model::{BUNDLE_FORMAT_VERSION, MANIFEST_FILE, SAMPLES_FILE};
use reports::{Bundle, ReportError};
use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hakmem-reports-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn written_bundle_reads_back_equal() {
    let b = main_bundle();
    let dir = tmp("roundtrip");
    write_bundle(&dir, &b.manifest, &b.samples).unwrap();
    let r = Bundle::load(&dir).unwrap();
    assert_eq!(r.manifest, b.manifest);
    assert_eq!(r.samples, b.samples);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // The manifest file itself names the bundle too.
    let r2 = Bundle::load(&dir.join(MANIFEST_FILE)).unwrap();
    assert_eq!(r2.samples.len(), b.samples.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_bundle_is_an_error_naming_it() {
    let e = Bundle::load(std::path::Path::new("/nonexistent/bundle-x")).unwrap_err();
    assert!(matches!(e, ReportError::MissingBundle { .. }));
    assert!(e.to_string().contains("/nonexistent/bundle-x"), "{e}");
}

#[test]
fn directory_without_manifest_is_an_error() {
    let dir = tmp("nomanifest");
    std::fs::create_dir_all(&dir).unwrap();
    let e = Bundle::load(&dir).unwrap_err();
    assert!(
        e.to_string().contains("manifest.json") && e.to_string().contains("missing"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn newer_format_version_names_both_versions() {
    let b = main_bundle();
    let dir = tmp("newer");
    let mut m = b.manifest.clone();
    m.format_version = BUNDLE_FORMAT_VERSION + 1;
    write_bundle(&dir, &m, &b.samples).unwrap();
    let e = Bundle::load(&dir).unwrap_err();
    assert!(
        matches!(e, ReportError::UnsupportedVersion { found, supported, .. } if found == BUNDLE_FORMAT_VERSION + 1 && supported == BUNDLE_FORMAT_VERSION)
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!("version {}", BUNDLE_FORMAT_VERSION + 1))
            && text.contains(&format!("version {BUNDLE_FORMAT_VERSION}")),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_manifest_is_an_error() {
    let dir = tmp("badmanifest");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(MANIFEST_FILE),
        "{\"format_version\": 1, \"kind\": ",
    )
    .unwrap();
    let e = Bundle::load(&dir).unwrap_err();
    assert!(matches!(e, ReportError::BadManifest { .. }), "{e}");
    std::fs::write(dir.join(MANIFEST_FILE), "[1, 2]").unwrap();
    assert!(Bundle::load(&dir)
        .unwrap_err()
        .to_string()
        .contains("format_version"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn empty_and_torn_sample_lines_are_skipped_with_their_line_numbers() {
    let b = main_bundle();
    let dir = tmp("torn");
    write_bundle(&dir, &b.manifest, &b.samples[..3]).unwrap();
    let path = dir.join(SAMPLES_FILE);
    let good = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(1, "");
    let torn = &good.lines().nth(2).unwrap()[..40];
    lines.push(torn);
    std::fs::write(&path, lines.join("\n")).unwrap();
    let r = Bundle::load(&dir).unwrap();
    assert_eq!(r.samples.len(), 3);
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("samples.jsonl:2:") && r.warnings[0].contains("empty"),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings[1].contains("samples.jsonl:5:") && r.warnings[1].contains("corrupt"),
        "{:?}",
        r.warnings
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_samples_file_is_a_warning_not_a_panic() {
    let b = main_bundle();
    let dir = tmp("nosamples");
    write_bundle(&dir, &b.manifest, &[]).unwrap();
    std::fs::remove_file(dir.join(SAMPLES_FILE)).unwrap();
    let r = Bundle::load(&dir).unwrap();
    assert!(r.samples.is_empty());
    assert!(
        r.warnings[0].contains("samples.jsonl: missing"),
        "{:?}",
        r.warnings
    );
    // A report of it still renders every format.
    let report = reports::Report::build(&[r], None);
    for f in ["json", "csv", "markdown", "html"] {
        let text = reports::export::exporter_for(f).unwrap().render(&report);
        assert!(!text.is_empty());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_garbage_in_samples_does_not_panic() {
    let b = main_bundle();
    let dir = tmp("garbage");
    write_bundle(&dir, &b.manifest, &[]).unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join(SAMPLES_FILE), &garbage).unwrap();
    match Bundle::load(&dir) {
        Ok(r) => assert!(r.samples.is_empty()),
        Err(e) => assert!(e.to_string().contains("samples.jsonl"), "{e}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn samples_of_mixed_cpu_models_are_grouped_by_node_kind() {
    let mut b = main_bundle();
    let w = b.manifest.workloads[0].name.clone();
    for (i, s) in b.samples.iter_mut().enumerate() {
        s.host = format!("node{}", i % 3);
        s.cpu = if i % 3 == 2 { "CPU B" } else { "CPU A" }.into();
    }
    let dir = tmp("nodekinds");
    write_bundle(&dir, &b.manifest, &b.samples).unwrap();
    let r = Bundle::load(&dir).unwrap();
    assert!(r
        .samples
        .iter()
        .all(|s| s.workload.ends_with(&format!(" @ {}", s.cpu))));
    let names: Vec<&str> = r
        .manifest
        .workloads
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert!(
        names.contains(&format!("{w} @ CPU A").as_str()),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("{w} @ CPU B").as_str()),
        "{names:?}"
    );
    assert!(r.manifest.notes.iter().any(|n| n.contains("2 node kinds")));
    // Ratios are computed within one kind: every workload of the report has its own baseline row.
    let report = reports::Report::build(&[r], None);
    let sec = &report.sections[0];
    assert!(sec
        .workloads
        .iter()
        .any(|x| x.workload == format!("{w} @ CPU B")));
    // One CPU model (hosts may differ): nothing is split.
    for s in b.samples.iter_mut() {
        s.cpu = "CPU A".into();
    }
    write_bundle(&dir, &b.manifest, &b.samples).unwrap();
    let r = Bundle::load(&dir).unwrap();
    assert_eq!(r.samples, b.samples);
    std::fs::remove_dir_all(&dir).unwrap();
}

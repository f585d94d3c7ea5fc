//! The HTML report: every section present with real content, self-contained, well-formed enough for a
//! browser (balanced `<svg>` and `<section>` tags), and user text escaped.

use crate::fixture::{main_bundle, small_bundle};
use reports::export::exporter_for;
use reports::export::html::SECTIONS;
use reports::Report;

fn html(bundles: &[reports::Bundle]) -> String {
    exporter_for("html")
        .unwrap()
        .render(&Report::build(bundles, None))
}

#[test]
fn every_section_is_present() {
    let h = html(&[main_bundle(), small_bundle()]);
    for s in SECTIONS {
        assert!(
            h.contains(&format!(r#"<section class="{s}">"#)),
            "section {s} missing"
        );
    }
    // One article per workload over both bundles.
    assert_eq!(h.matches(r#"<article class="workload""#).count(), 3);
}

#[test]
fn sections_carry_the_data() {
    let h = html(&[main_bundle()]);
    let section = |name: &str| -> String {
        let start = h.find(&format!(r#"<section class="{name}">"#)).unwrap();
        let end = start + h[start..].find("</section>").unwrap();
        h[start..end].to_owned()
    };
    assert!(
        section("throughput").contains("<svg")
            && section("throughput").contains("class=\"whisker\"")
    );
    assert!(
        section("memory").contains("ideal (peak live bytes) 145 KiB"),
        "{}",
        section("memory")
    );
    assert!(
        section("latency").contains("<code>malloc</code>") && section("latency").contains("p99.9")
    );
    assert!(
        section("boxes").contains("lock_acquisitions") && section("boxes").contains("class=\"hl\"")
    );
    assert!(
        section("sweeps").contains("HAKMEM_TINY_UNIFIED_C7")
            && section("sweeps").contains("<polyline")
    );
    assert!(
        section("profile").contains("size_histogram")
            && section("profile").contains("lifetime_histogram")
    );
    assert!(section("failures").contains("SIGSEGV"));
    assert!(
        section("provenance").contains("AMD EPYC 7B13")
            && section("provenance").contains("glibc 2.36")
    );
    assert!(section("overview").contains("mimalloc is fastest"));
}

#[test]
fn self_contained_and_balanced() {
    let h = html(&[main_bundle(), small_bundle()]);
    assert!(!h.contains("<script"), "no scripts");
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!h.contains(attr), "no network: found {attr}");
    }
    for tag in ["svg", "section", "table", "article"] {
        let open = h.matches(&format!("<{tag}")).count();
        let close = h.matches(&format!("</{tag}>")).count();
        assert_eq!(open, close, "<{tag}> balanced");
    }
    assert!(!h.contains("{{"), "every template slot filled");
}

#[test]
fn user_text_is_escaped() {
    let mut b = small_bundle();
    b.manifest.command.push("<script>alert(1)</script>".into());
    for s in &mut b.samples {
        s.config = format!("{}<b>", s.config);
    }
    let h = html(&[b]);
    assert!(!h.contains("<script>alert") && h.contains("&lt;script&gt;alert"));
    assert!(!h.contains("system<b>") && h.contains("system&lt;b&gt;"));
}

/// With `HAKMEM_REPORT_PREVIEW=FILE`, writes the constructed report's HTML there, to look at in a browser.
#[test]
fn preview_when_asked() {
    if let Some(path) = std::env::var_os("HAKMEM_REPORT_PREVIEW") {
        std::fs::write(path, html(&[main_bundle(), small_bundle()])).unwrap();
    }
}

#[test]
fn memory_chart_plotted_whole_child_rss_and_compared_it_with_the_heap_ideal() {
    // A bundle with `baseline_rss_bytes`: the chart plots the heap peak (what the verdict uses), and the
    // ratio to the ideal compares the heap with the heap.
    let h = html(&[small_bundle()]);
    let start = h.find(r#"<section class="memory">"#).unwrap();
    let mem = &h[start..start + h[start..].find("</section>").unwrap()];
    assert!(mem.contains("heap peak (the allocator"), "{mem}");
    assert!(mem.contains("heap peak / ideal"), "{mem}");
    assert!(!mem.contains("RSS after workload"), "{mem}");
    // An older bundle keeps the whole-child chart, labelled as such.
    let h = html(&[main_bundle()]);
    let start = h.find(r#"<section class="memory">"#).unwrap();
    let mem = &h[start..start + h[start..].find("</section>").unwrap()];
    assert!(mem.contains("peak RSS and RSS after the workload"), "{mem}");
    assert!(!mem.contains("heap peak / ideal"), "{mem}");
}

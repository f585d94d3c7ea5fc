//! Human-readable numbers shared by every exporter: ops/s with SI prefixes, bytes in binary units,
//! durations in ns/µs/ms, ratios with a `×`.

/// `12.3M`, `950k`, `87.0` (three significant digits).
pub fn si(x: f64) -> String {
    let a = x.abs();
    let (v, unit) = if a >= 1e9 {
        (x / 1e9, "G")
    } else if a >= 1e6 {
        (x / 1e6, "M")
    } else if a >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    format!("{}{unit}", sig3(v))
}

/// Three significant digits without trailing noise: `123`, `12.3`, `1.23`.
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `1.5 MiB`, `312 KiB`, `17 B`.
pub fn bytes(x: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = x;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{} {}", sig3(v), UNITS[i])
    }
}

/// Nanoseconds for readers: `45 ns`, `1.20 µs`, `3.40 ms`.
pub fn ns(x: f64) -> String {
    if x >= 1e6 {
        format!("{} ms", sig3(x / 1e6))
    } else if x >= 1e3 {
        format!("{} µs", sig3(x / 1e3))
    } else {
        format!("{x:.0} ns")
    }
}

/// Seconds for readers: `1.23 s`, `45.6 ms`, `789 µs`.
pub fn seconds(x: f64) -> String {
    if x >= 1.0 {
        format!("{} s", sig3(x))
    } else {
        ns(x * 1e9)
    }
}

/// `1.32×`.
/// Below 0.1 a third decimal keeps small ratios apart (`0.051×`).
pub fn ratio(x: f64) -> String {
    if x < 0.1 {
        format!("{x:.3}×")
    } else {
        format!("{x:.2}×")
    }
}

/// Counters: `1,234,567`.
pub fn count(x: f64) -> String {
    let neg = x < 0.0;
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod unit {
    #[test]
    fn units() {
        assert_eq!(super::si(12_345_678.0), "12.3M");
        assert_eq!(super::si(950.0), "950");
        assert_eq!(super::bytes(1536.0 * 1024.0), "1.50 MiB");
        assert_eq!(super::bytes(17.0), "17 B");
        assert_eq!(super::ns(1200.0), "1.20 µs");
        assert_eq!(super::count(1234567.0), "1,234,567");
        assert_eq!(super::count(999.0), "999");
    }
}

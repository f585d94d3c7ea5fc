//! Tolerant reading of a workload profile (`WorkloadInfo::profile`, the `hakmem info --json` output).
//!
//! Entry point: [`Profile::read`]. The profile's exact shape belongs to the traces crate and may grow, so
//! this reads what it recognises and ignores the rest: top-level scalars become a key/value table, and any
//! value that looks like a histogram (an object of numbers; an array of numbers, of `[label, count]` pairs or
//! of `{label-ish, count-ish}` objects) becomes a chart, titled by its path (`sizes.histogram`).

use serde_json::Value;

/// What the report shows of a profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// Scalar facts, in the profile's key order: name and rendered value.
    pub facts: Vec<(String, String)>,
    /// Histograms: title and `(bin label, count)`.
    pub histograms: Vec<(String, Vec<(String, f64)>)>,
}

const LABEL_KEYS: [&str; 14] = [
    "label", "bucket", "range", "le", "upper", "max", "hi", "size", "bytes", "lo", "min", "from",
    "ops", "kind",
];
const COUNT_KEYS: [&str; 7] = ["count", "n", "objects", "value", "calls", "freq", "frees"];

impl Profile {
    /// Reads `v` (any JSON; `null` gives an empty profile).
    pub fn read(v: &Value) -> Profile {
        let mut p = Profile::default();
        if let Value::Object(map) = v {
            for (k, val) in map {
                p.visit(k, val, 0);
            }
        }
        p
    }

    fn visit(&mut self, path: &str, v: &Value, depth: usize) {
        match v {
            Value::Number(n) => {
                let text = match n.as_u64() {
                    Some(u) => crate::format::count(u as f64),
                    None => n.as_f64().map(crate::format::sig3).unwrap_or_default(),
                };
                self.facts.push((path.to_owned(), text));
            }
            Value::String(s) => self.facts.push((path.to_owned(), s.clone())),
            Value::Bool(b) => self.facts.push((path.to_owned(), b.to_string())),
            Value::Null => {}
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
                let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                self.facts.push((path.to_owned(), texts.join("; ")));
            }
            _ => {
                if let Some(mut h) = histogram_of(v) {
                    // Categories (an object of counts, e.g. calls by kind) hide their zeros; ranges keep them.
                    if v.is_object() {
                        h.retain(|b| b.1 != 0.0);
                    }
                    if path.contains("thread") && v.is_array() {
                        for (i, b) in h.iter_mut().enumerate() {
                            b.0 = format!("thread {i}");
                        }
                    }
                    if h.iter().any(|b| b.1 != 0.0) {
                        self.histograms.push((path.to_owned(), h));
                    }
                } else if depth < 2 {
                    if let Value::Object(map) = v {
                        for (k, val) in map {
                            self.visit(&format!("{path}.{k}"), val, depth + 1);
                        }
                    }
                }
            }
        }
    }
}

fn label_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_u64() {
            Some(u) => u.to_string(),
            None => n.to_string(),
        }),
        _ => None,
    }
}

/// The first number in a label (`"16-31"` → 16), for ordering bins whose labels are numbers.
fn leading_number(s: &str) -> Option<f64> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Reads `v` as a histogram, if it looks like one.
pub fn histogram_of(v: &Value) -> Option<Vec<(String, f64)>> {
    match v {
        Value::Object(map) if !map.is_empty() && map.values().all(Value::is_number) => {
            let mut bins: Vec<(String, f64)> = map
                .iter()
                .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(0.0)))
                .collect();
            if bins.iter().all(|b| leading_number(&b.0).is_some()) {
                bins.sort_by(|a, b| {
                    leading_number(&a.0)
                        .unwrap_or(0.0)
                        .total_cmp(&leading_number(&b.0).unwrap_or(0.0))
                });
            }
            Some(bins)
        }
        Value::Array(items) if !items.is_empty() => {
            if items.iter().all(Value::is_number) {
                return Some(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("[{i}]"), v.as_f64().unwrap_or(0.0)))
                        .collect(),
                );
            }
            items
                .iter()
                .map(|item| match item {
                    Value::Array(pair) if pair.len() == 2 && pair[1].is_number() => {
                        Some((label_of(&pair[0])?, pair[1].as_f64()?))
                    }
                    Value::Object(o) => {
                        let count = COUNT_KEYS
                            .iter()
                            .find_map(|k| o.get(*k).and_then(Value::as_f64))?;
                        let label = match (
                            o.get("lo").and_then(label_of),
                            o.get("hi").and_then(label_of),
                        ) {
                            (Some(lo), Some(hi)) if lo == hi => lo,
                            (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
                            _ => LABEL_KEYS
                                .iter()
                                .find_map(|k| o.get(*k).and_then(label_of))?,
                        };
                        Some((label, count))
                    }
                    _ => None,
                })
                .collect()
        }
        _ => None,
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_several_shapes() {
        let v = json!({
            "threads": 2, "ops": 1000, "by_kind": {"malloc": 500, "free": 500},
            "size_histogram": [{"lo": 16, "hi": 31, "count": 10}, {"lo": 32, "hi": 63, "count": 5}],
            "lifetimes": {"histogram": [[1, 4], [2, 9]]},
            "buckets": {"16": 3, "8": 1}
        });
        let p = Profile::read(&v);
        assert!(p.facts.contains(&("threads".into(), "2".into())));
        let names: Vec<&str> = p.histograms.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "buckets",
                "by_kind",
                "lifetimes.histogram",
                "size_histogram"
            ]
        );
        assert_eq!(
            p.histograms[0].1[0].0, "8",
            "numeric labels are ordered by value"
        );
        assert_eq!(p.histograms[3].1[0], ("16–31".to_owned(), 10.0));
    }
}

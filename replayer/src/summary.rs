//! The baseline rule shared by every summary of `replay` and `bench` (the tables themselves are the ones of
//! `hakmem report`, in `reports::terminal`).

/// Picks the baseline: the requested one, else `system` if measured (as `hakmem report` does), else the
/// first configuration.
pub fn pick_baseline(configs: &[String], requested: Option<&str>) -> Option<String> {
    if let Some(r) = requested {
        return Some(r.to_string());
    }
    if configs.iter().any(|c| c == "system") {
        return Some("system".into());
    }
    configs.first().cloned()
}

//! Validated value parsers for every numeric command-line option, one place for all subcommands.
//!
//! Each parser is a `fn(&str) -> Result<T, String>` for clap's `value_parser`, so a bad value is rejected
//! while the command line is parsed — before any file is written or child started — with clap's
//! `error: invalid value 'V' for '--OPTION <N>': <why>` and exit status 2. The bounds are the ones the
//! code can honour on one machine (memory for generated workloads, the slot table of the live benchmark,
//! `Instant + Duration` for timeouts); each constant below says why it is what it is.
//!
//! Accepted spellings: plain integers, `_` separators (`1_000_000`) and integral scientific notation
//! (`1e6`); NaN, infinities, fractions where an integer is wanted, negative numbers and empty strings are
//! refused with the valid range in the message.
//!
//! Invariant: no parser panics, whatever the input (`tests::no_input_panics`).

use std::time::Duration;

/// Steps of a generated workload (`gen … --iters`, `demo --iters`): the generator holds the encoded
/// workload in memory (~3 bytes per op, and the vector doubling on the way), so 10^9 steps (~3 GiB) is
/// kept well inside one machine of this project's size.
pub const MAX_GEN_STEPS: u64 = 1_000_000_000;

/// Steps of a live benchmark (`bench … --iters`): nothing is stored per step, so the bound is time
/// (10^12 steps is hours at any allocator's speed); `--timeout` still applies.
pub const MAX_BENCH_STEPS: u64 = 1_000_000_000_000;

/// Working-set slots (`--ws`): the live benchmark holds one pointer per slot (2^28 slots = 2 GiB).
pub const MAX_WS: u64 = 1 << 28;

/// Largest block size (`--min`, `--max`, `--ack-size`): 1 GiB. Larger blocks make a benchmark of the
/// system's page mapping, not of an allocator, and a few of them exhaust memory.
pub const MAX_BLOCK: u64 = 1 << 30;

/// Threads of a generated workload (`gen threads --threads`, producers + consumers): one OS thread each.
pub const MAX_THREADS: u64 = 4096;

/// Repeats per configuration (`--repeats`): each is a child process.
pub const MAX_REPEATS: u64 = 10_000;

/// Children at once (`--jobs`).
pub const MAX_JOBS: u64 = 4096;

/// Longest per-child timeout (`--timeout`): 7 days, far below where `Instant + Duration` overflows.
pub const MAX_TIMEOUT_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// Items per producer (`gen producer-consumer --items`): each item and its ack take a shared slot, and
/// slots are 32-bit (producers × items × 2 < 2^32 is checked as well).
pub const MAX_ITEMS: u64 = 1 << 31;

/// Queue depth (`--depth`): the live benchmark's ring holds one word per item (2^24 = 128 MiB).
pub const MAX_DEPTH: u64 = 1 << 24;

/// Lines of the demo's sort input (`demo --sort-lines`): ~60 bytes per line on disk.
pub const MAX_SORT_LINES: u64 = 10_000_000;

/// Log-inversion window of `compile` in microseconds: one hour.
pub const MAX_INVERSION_WINDOW_US: u64 = 3_600_000_000;

/// Parses an unsigned integer in `[min, max]`; `what` ends the message ("steps", "slots").
pub fn integer(s: &str, min: u64, max: u64, what: &str) -> Result<u64, String> {
    let t = s.trim();
    let range = || {
        if max == u64::MAX {
            format!("{min} or more")
        } else {
            format!("{min}..={max}")
        }
    };
    if t.is_empty() {
        return Err(format!(
            "empty; expected a whole number of {what} ({})",
            range()
        ));
    }
    let plain: String = t.chars().filter(|&c| c != '_').collect();
    let v = match plain.parse::<u64>() {
        Ok(v) => v,
        Err(_) if !plain.is_empty() && plain.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(format!("`{t}` is too large: {what} must be at most {max}"));
        }
        Err(_) => {
            // `1e6`, `2.5e3`: accepted when integral; anything else says what was expected.
            let f: f64 = plain.parse().map_err(|_| {
                format!("`{t}` is not a whole number; expected {what} ({})", range())
            })?;
            if !f.is_finite() || f.fract() != 0.0 {
                return Err(format!(
                    "`{t}` is not a whole number; expected {what} ({})",
                    range()
                ));
            }
            if f < 0.0 {
                return Err(format!("`{t}` is negative; expected {what} ({})", range()));
            }
            // 2^64 itself rounds to `u64::MAX as f64`: compare with it exclusively.
            if f >= u64::MAX as f64 || f > max as f64 {
                return Err(format!("`{t}` is too large: {what} must be at most {max}"));
            }
            f as u64
        }
    };
    if v < min {
        return Err(format!("`{t}` is too small: {what} must be at least {min}"));
    }
    if v > max {
        return Err(format!("`{t}` is too large: {what} must be at most {max}"));
    }
    Ok(v)
}

/// A positive number of seconds up to [`MAX_TIMEOUT_SECS`] (fractions allowed: `0.5`).
pub fn timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| format!("`{t}` is not a number of seconds"))?;
    if v.is_nan() || v <= 0.0 {
        return Err(format!(
            "`{t}`: the timeout must be a positive number of seconds"
        ));
    }
    if v > MAX_TIMEOUT_SECS {
        return Err(format!(
            "`{t}` seconds is too long: at most {MAX_TIMEOUT_SECS} (7 days)"
        ));
    }
    Duration::try_from_secs_f64(v).map_err(|e| format!("`{t}`: {e}"))
}

/// A fraction in `[0, 1]` (`gen threads --remote`).
pub fn fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| format!("`{t}` is not a number; expected a fraction in [0, 1]"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("`{t}` is not a fraction in [0, 1]"));
    }
    Ok(v)
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A PRNG seed: any 64-bit value.
pub fn seed(s: &str) -> Result<u64, String> {
    integer(s, 0, u64::MAX, "a seed")
}

/// Steps of a generated workload, 1..=[`MAX_GEN_STEPS`].
pub fn gen_steps(s: &str) -> Result<u64, String> {
    integer(s, 1, MAX_GEN_STEPS, "steps")
}

/// Steps of a live benchmark, 1..=[`MAX_BENCH_STEPS`].
pub fn bench_steps(s: &str) -> Result<u64, String> {
    integer(s, 1, MAX_BENCH_STEPS, "steps")
}

/// Working-set slots, 1..=[`MAX_WS`].
pub fn ws(s: &str) -> Result<u32, String> {
    integer(s, 1, MAX_WS, "slots").map(to_u32)
}

/// A block size in bytes, 0..=[`MAX_BLOCK`].
pub fn block_size(s: &str) -> Result<u64, String> {
    integer(s, 0, MAX_BLOCK, "bytes")
}

/// A block size in bytes as `u32` (the live benchmarks), 0..=[`MAX_BLOCK`].
pub fn block_size_u32(s: &str) -> Result<u32, String> {
    block_size(s).map(to_u32)
}

/// Threads, 1..=[`MAX_THREADS`].
pub fn threads(s: &str) -> Result<u32, String> {
    integer(s, 1, MAX_THREADS, "threads").map(to_u32)
}

/// Repeats, 1..=[`MAX_REPEATS`].
pub fn repeats(s: &str) -> Result<u32, String> {
    integer(s, 1, MAX_REPEATS, "repeats").map(to_u32)
}

/// Children at once, 1..=[`MAX_JOBS`].
pub fn jobs(s: &str) -> Result<usize, String> {
    integer(s, 1, MAX_JOBS, "jobs").map(|v| v as usize)
}

/// Latency sampling period: one call in N is timed, 0 = off.
pub fn latency_every(s: &str) -> Result<u32, String> {
    integer(s, 0, u32::MAX as u64, "the period (0 = off)").map(to_u32)
}

/// Items per producer, 1..=[`MAX_ITEMS`].
pub fn items(s: &str) -> Result<u64, String> {
    integer(s, 1, MAX_ITEMS, "items")
}

/// Queue depth, 1..=[`MAX_DEPTH`].
pub fn depth(s: &str) -> Result<u32, String> {
    integer(s, 1, MAX_DEPTH, "items in flight").map(to_u32)
}

/// Lines of the demo's sort input, 1..=[`MAX_SORT_LINES`].
pub fn sort_lines(s: &str) -> Result<u64, String> {
    integer(s, 1, MAX_SORT_LINES, "lines")
}

/// The log-inversion window of `compile`, 0..=[`MAX_INVERSION_WINDOW_US`] microseconds.
pub fn inversion_window_us(s: &str) -> Result<u64, String> {
    integer(s, 0, MAX_INVERSION_WINDOW_US, "microseconds")
}

/// The recorder's chunk size in KiB, 4..=1048576 (what `HAKMEM_RECORD_CHUNK_KB` accepts).
pub fn chunk_kb(s: &str) -> Result<u32, String> {
    integer(s, 4, 1_048_576, "KiB").map(to_u32)
}

/// Longest `--pace` wait before each replayed op: 10 ms (a workload of a million ops then takes hours).
pub const MAX_PACE_NS: u64 = 10_000_000;

/// `--pace`: nanoseconds of busy wait before each replayed op, or `off` (= 0).
pub fn pace(s: &str) -> Result<u32, String> {
    if s.trim() == "off" {
        return Ok(0);
    }
    integer(s, 0, MAX_PACE_NS, "nanoseconds per op (or `off`)").map(to_u32)
}

/// Largest `--walk` period: 2^31 allocations (a period longer than any thread's allocations walks never).
pub const MAX_WALK: u64 = 1 << 31;

/// `--walk N|off`: the youngest generation's walk period in allocations, at least 1; `off` = 0 = no walks
/// (a literal 0 is refused: it would mean a walk before every allocation's successor, which is not what
/// anyone asking for 0 means).
pub fn walk(s: &str) -> Result<u32, String> {
    if s.trim() == "off" {
        return Ok(0);
    }
    integer(s, 1, MAX_WALK, "allocations between walks (or `off`)").map(to_u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &[&str] = &[
        "",
        " ",
        "0",
        "-0",
        "-1",
        "1e100",
        "-1e100",
        "2e19",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "abc",
        "1.5",
        "0x10",
        "1e-300",
        "4294967295",
        "_",
        "1__0",
        "١٢",
    ];

    #[test]
    fn no_input_panics() {
        for s in NASTY {
            let _ = seed(s);
            let _ = gen_steps(s);
            let _ = bench_steps(s);
            let _ = ws(s);
            let _ = block_size(s);
            let _ = block_size_u32(s);
            let _ = threads(s);
            let _ = repeats(s);
            let _ = jobs(s);
            let _ = latency_every(s);
            let _ = items(s);
            let _ = depth(s);
            let _ = sort_lines(s);
            let _ = inversion_window_us(s);
            let _ = chunk_kb(s);
            let _ = timeout(s);
            let _ = fraction(s);
            let _ = pace(s);
            let _ = walk(s);
        }
    }

    #[test]
    fn walk_periods() {
        assert_eq!(walk("off"), Ok(0));
        assert_eq!(walk("700"), Ok(700));
        assert_eq!(walk("1e4"), Ok(10_000));
        for bad in ["0", "-1", "abc", "", "3e9", "1.5"] {
            let e = walk(bad).unwrap_err();
            assert!(e.contains("allocations between walks"), "{bad}: {e}");
        }
    }

    #[test]
    fn timeouts_that_overflowed_an_instant_are_refused() {
        for s in [
            "2e19",
            "1e19",
            "1e100",
            "18446744073709551615",
            "inf",
            "NaN",
            "0",
            "-1",
            "",
        ] {
            assert!(timeout(s).is_err(), "{s}");
        }
        assert_eq!(timeout("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("600"), Ok(Duration::from_secs(600)));
    }

    #[test]
    fn integers_accept_separators_and_integral_exponents_only() {
        assert_eq!(gen_steps("1_000_000"), Ok(1_000_000));
        assert_eq!(gen_steps("1e6"), Ok(1_000_000));
        assert!(gen_steps("1.5").is_err());
        assert!(
            gen_steps("0").unwrap_err().contains("at least 1"),
            "{:?}",
            gen_steps("0")
        );
        assert!(gen_steps("1e10").unwrap_err().contains("at most"));
        assert!(ws("4294967295").unwrap_err().contains("at most"));
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
        assert!(seed("18446744073709551616").is_err());
        assert!(seed("-1").unwrap_err().contains("negative") || seed("-1").is_err());
        assert!(block_size("18446744073709551615").is_err());
        assert_eq!(latency_every("0"), Ok(0));
        assert_eq!(
            (pace("off"), pace("0"), pace("250")),
            (Ok(0), Ok(0), Ok(250))
        );
        assert!(pace("1e8").unwrap_err().contains("at most 10000000"));
        assert!(pace("fast").is_err());
    }

    #[test]
    fn fractions_are_in_the_unit_interval() {
        assert_eq!(fraction("0.25"), Ok(0.25));
        for s in ["NaN", "-0.1", "1.5", "inf", "x", ""] {
            assert!(fraction(s).is_err(), "{s}");
        }
    }
}

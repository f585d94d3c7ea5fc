use std::path::Path;
use std::process::{Command, Output};

use crate::util::{compile_c, libhakmem, scratch};

/// Runs `cmd` twice — with the system allocator and with `LD_PRELOAD=libhakmem.so` — and returns both.
fn both(mut make: impl FnMut() -> Command) -> (Output, Output) {
    let lib = libhakmem();
    let sys = make()
        .env_remove("LD_PRELOAD")
        .output()
        .expect("program must be installed");
    let hk = make()
        .env("LD_PRELOAD", &lib)
        .output()
        .expect("program must be installed");
    (sys, hk)
}

fn assert_same(what: &str, sys: &Output, hk: &Output) {
    assert_eq!(
        sys.status.code(),
        hk.status.code(),
        "{what}: exit status differs (system {:?}, hakmem {:?}); hakmem stderr: {}",
        sys.status,
        hk.status,
        String::from_utf8_lossy(&hk.stderr)
    );
    assert!(
        sys.status.success(),
        "{what} failed under the system allocator: {}",
        String::from_utf8_lossy(&sys.stderr)
    );
    assert!(!sys.stdout.is_empty(), "{what} printed nothing");
    assert!(
        sys.stdout == hk.stdout,
        "{what}: output differs under libhakmem.so"
    );
}

fn numbers_file(dir: &Path, n: u64) -> std::path::PathBuf {
    let mut r = crate::util::Rng::new(n);
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(&format!(
            "{} line-{}\n",
            r.below(1_000_000_000),
            r.below(1000)
        ));
    }
    let p = dir.join("numbers.txt");
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn python_with_pymalloc_off_behaves_the_same() {
    let script = r#"
import json, threading, collections, re
d = [{"k": i, "v": str(i) * (i % 50), "l": list(range(i % 30))} for i in range(60000)]
s = json.dumps(d, sort_keys=True)
c = collections.Counter(len(x["v"]) for x in json.loads(s))
out = []
def work(n):
    out.append(sum(len(re.findall(r"\d+", str(list(range(n, n + 3000))))) for _ in range(20)))
ts = [threading.Thread(target=work, args=(i * 1000,)) for i in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(len(s), sorted(c.items())[:5], sorted(out))
"#;
    let (sys, hk) = both(|| {
        let mut c = Command::new("python3");
        c.args(["-c", script]).env("PYTHONMALLOC", "malloc");
        c
    });
    assert_same("python3", &sys, &hk);
}

#[test]
fn parallel_sort_behaves_the_same() {
    let dir = scratch("sort");
    let input = numbers_file(&dir, 300_000);
    let (sys, hk) = both(|| {
        let mut c = Command::new("sort");
        c.args(["--parallel=2", "-S", "8M", "-n"]).arg(&input);
        c
    });
    assert_same("sort --parallel=2", &sys, &hk);
}

#[test]
fn sqlite_script_behaves_the_same() {
    let script = "create table t(a integer primary key, b text, c real);
with recursive n(x) as (select 1 union all select x + 1 from n where x < 60000)
insert into t select x, printf('row-%d-%s', x, hex(x * 7)), x * 1.5 from n;
create index tb on t(b);
select count(*), sum(c), max(length(b)) from t;
select b from t where a % 9973 = 0 order by b desc;
select substr(b, 1, 6) as k, count(*) from t group by k order by k;";
    let (sys, hk) = both(|| {
        let mut c = Command::new("sqlite3");
        c.args([":memory:", script]);
        c
    });
    assert_same("sqlite3", &sys, &hk);
}

#[test]
fn git_init_add_commit_log_behave_the_same() {
    let lib = libhakmem();
    let mut outs = Vec::new();
    for preload in [false, true] {
        let dir = scratch(if preload { "git-hk" } else { "git-sys" });
        for i in 0..200 {
            std::fs::write(
                dir.join(format!("f{i}.txt")),
                format!("file {i}\n").repeat(i + 1),
            )
            .unwrap();
        }
        let git = |args: &[&str]| {
            let mut c = Command::new("git");
            c.current_dir(&dir)
                .args(args)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
                .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("HOME", &dir);
            if preload {
                c.env("LD_PRELOAD", &lib);
            } else {
                c.env_remove("LD_PRELOAD");
            }
            let o = c.output().expect("git must be installed");
            assert!(
                o.status.success(),
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            o.stdout
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "first"]);
        git(&["gc", "-q"]);
        let mut out = git(&["log", "--format=%H %s", "--stat"]);
        out.extend(git(&["ls-tree", "-r", "HEAD"]));
        outs.push(out);
    }
    assert!(!outs[0].is_empty());
    assert!(outs[0] == outs[1], "git output differs under libhakmem.so");
}

#[test]
fn perl_behaves_the_same() {
    let script = r#"my %h; for my $i (1..200000) { $h{"k$i"} = [$i, "v" x ($i % 40)]; }
my @k = sort { $h{$a}[0] <=> $h{$b}[0] } grep { /7/ } keys %h;
my $s = join(",", map { length($h{$_}[1]) } @k[0..50]);
my $t = 0; $t += length($_) for values %h; print scalar(@k), " $s ", scalar(keys %h), "\n";"#;
    let (sys, hk) = both(|| {
        let mut c = Command::new("perl");
        c.args(["-e", script]);
        c
    });
    assert_same("perl", &sys, &hk);
}

#[test]
fn gcc_compiles_the_same_object() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/api.c");
    let mut objs = Vec::new();
    let lib = libhakmem();
    for preload in [false, true] {
        let out = scratch(if preload { "gcc-hk" } else { "gcc-sys" }).join("api.o");
        let mut c = Command::new("gcc");
        c.args(["-O2", "-c", "-o"]).arg(&out).arg(&src);
        if preload {
            c.env("LD_PRELOAD", &lib);
        } else {
            c.env_remove("LD_PRELOAD");
        }
        let o = c.output().expect("gcc must be installed");
        assert!(
            o.status.success(),
            "gcc failed (preload {preload}): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        objs.push(std::fs::read(&out).unwrap());
    }
    assert!(objs[0].len() > 1000);
    assert!(
        objs[0] == objs[1],
        "gcc produced a different object under libhakmem.so"
    );
}

#[test]
fn xz_two_threads_compresses_the_same() {
    let dir = scratch("xz");
    let input = numbers_file(&dir, 200_000);
    let (sys, hk) = both(|| {
        let mut c = Command::new("xz");
        c.args(["-T2", "-3", "--block-size=1MiB", "-c"]).arg(&input);
        c
    });
    assert_same("xz -T2", &sys, &hk);
}

fn run_api(mode: &str, env: &[(&str, &str)]) -> Output {
    // One directory per mode and environment: tests run in parallel, and a program being rewritten while
    // another test runs it fails with "Text file busy".
    let tag: String = env.iter().map(|(k, v)| format!("-{k}{v}")).collect();
    let dir = scratch(&format!("api-{mode}{tag}"));
    let exe = compile_c("api", &dir);
    let mut c = Command::new(&exe);
    c.arg(mode).env("LD_PRELOAD", libhakmem());
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).ends_with("ok\n"),
        "api {mode} under libhakmem.so: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn c_api_follows_glibc_semantics() {
    run_api("api", &[]);
}

/// Every check level serves the whole C API; level 2 pads every block, `malloc(0)` included (the malloc fast
/// path once handed level 2 an unpadded block for size 0).
#[test]
fn c_api_follows_glibc_semantics_at_every_check_level() {
    for level in ["0", "2"] {
        run_api("api", &[("HAKMEM_CHECK", level)]);
    }
}

#[test]
fn fork_leaves_the_child_a_working_heap() {
    run_api("fork", &[]);
}

#[test]
fn thread_churn_in_c_reuses_abandoned_superslabs() {
    run_api("churn", &[]);
}

fn rss_line(o: &Output) -> (i64, i64) {
    let s = String::from_utf8_lossy(&o.stdout);
    let line = s.lines().find(|l| l.starts_with("rss ")).expect("rss line");
    let f: Vec<i64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (f[1], f[2])
}

#[test]
fn rss_falls_after_freeing_everything() {
    for mode in ["rss", "threads-rss"] {
        let o = run_api(mode, &[]);
        let (peak, after) = rss_line(&o);
        assert!(
            peak > 150_000,
            "{mode}: peak RSS {peak} KiB: the program did not allocate"
        );
        assert!(
            after < peak / 5,
            "{mode}: RSS stayed at {after} KiB after freeing (peak {peak} KiB)"
        );
    }
}

#[test]
fn stats_print_at_exit_and_bad_knobs_warn_once() {
    let o = run_api(
        "api",
        &[("HAKMEM_STATS", "1"), ("HAKMEM_TINY_REFILL_BATCH", "999")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("hakmem: unified_cache.hits_c0 "),
        "no statistics at exit: {err}"
    );
    assert!(
        err.contains("hakmem: shared_pool.lock_acquisitions_c7 "),
        "{err}"
    );
    assert_eq!(
        err.matches("ignoring HAKMEM_TINY_REFILL_BATCH").count(),
        1,
        "{err}"
    );
}

#[test]
fn knobs_change_behaviour_without_breaking_it() {
    let o = run_api(
        "api",
        &[
            ("HAKMEM_STATS", "1"),
            ("HAKMEM_TINY_PAGE_BOX_CLASSES", "none"),
            ("HAKMEM_TINY_UNIFIED_C7", "4"),
            ("HAKMEM_TINY_REFILL_BATCH", "1"),
            ("HAKMEM_SS_PREFAULT", "1"),
            ("HAKMEM_MEASURE_UNIFIED_CACHE", "1"),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let get = |k: &str| -> u64 {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("hakmem: {k} ")))
            .unwrap_or_else(|| panic!("{k}: {err}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        get("warm_pool.scan_refills") > 0,
        "Page Box off but no Warm Pool scan refills"
    );
    assert_eq!(get("page_box.hits_c7"), 0);
    assert!(get("unified_cache.refill_cycles_c7") > 0);
    assert!(get("prefault.prefaulted_bytes") > 0);
    assert_eq!(get("unified_cache.capacity_c7"), 4);
}

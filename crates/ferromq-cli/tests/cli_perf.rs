//! `ferromq perf`: each tool run once with a small count, as the benchmarks run them. Each must
//! print libzmq's perf lines with figures above zero, print no progress bar when its output is
//! not a terminal, and work with libzmq's own perf program on the other side
//! (`bench/libzmq/perf.c`, built here against Debian's libzmq3-dev, which `scripts/test`
//! installs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_endpoint, wait_listening, Outcome, Running};

/// The longest any tool may run.
const LIMIT: Duration = Duration::from_secs(30);
const SIZE: &str = "64";
const COUNT: &str = "20000";
const ROUNDTRIPS: &str = "500";

/// One side of a benchmark: ferromq's tool or libzmq's.
#[derive(Clone, Copy, Debug)]
enum Tool {
    Ferromq,
    Libzmq,
}

impl Tool {
    fn spawn(self, args: &[&str]) -> Running {
        match self {
            Tool::Ferromq => {
                let mut all = vec!["perf"];
                all.extend_from_slice(args);
                common::spawn(&all)
            }
            Tool::Libzmq => common::spawn_program(&libzmq_perf(), args),
        }
    }
}

/// libzmq's perf program, compiled once per test run.
fn libzmq_perf() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/libzmq/perf.c");
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("libzmq-perf");
            let built = Command::new("cc")
                .args(["-O2", "-o"])
                .arg(&out)
                .arg(&source)
                .args(["-lzmq", "-lpthread"])
                .output()
                .unwrap_or_else(|e| panic!("cannot run cc to build libzmq's perf program: {e}"));
            assert!(
                built.status.success(),
                "cannot build {} (scripts/test installs libzmq3-dev): {}",
                source.display(),
                String::from_utf8_lossy(&built.stderr)
            );
            out
        })
        .clone()
}

/// The number on the line `{prefix}N {unit}`, which must be there and above zero.
fn figure(out: &Outcome, prefix: &str, unit: &str) -> f64 {
    let value = out
        .lines()
        .iter()
        .find_map(|l| l.strip_prefix(prefix)?.strip_suffix(unit))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "`{}` printed no `{prefix}N {unit}` line:\n{}",
                out.what, out.stdout
            )
        });
    assert!(value > 0.0, "`{}`: {prefix}{value} {unit}", out.what);
    value
}

/// A report's first two lines: the message size, then `count_line`; the tool exited 0.
fn check_heading(out: &Outcome, count_line: &str) {
    out.assert_code(0);
    let lines = out.lines();
    let size_line = format!("message size: {SIZE} [B]");
    assert_eq!(lines.first(), Some(&size_line.as_str()), "{}", out.what);
    assert_eq!(lines.get(1), Some(&count_line), "{}", out.what);
}

/// A throughput report, as libzmq's `local_thr` prints it.
fn check_throughput(out: &Outcome) {
    check_heading(out, &format!("message count: {COUNT}"));
    let msgs = figure(out, "mean throughput: ", " [msg/s]");
    let megabits = figure(out, "mean throughput: ", " [Mb/s]");
    let expected = msgs * 64.0 * 8.0 / 1e6;
    assert!(
        (megabits - expected).abs() <= expected * 0.01 + 0.01,
        "`{}`: {megabits} Mb/s for {msgs} msg/s of 64 B",
        out.what
    );
    assert!(
        !out.stderr.contains('\r'),
        "`{}` drew a progress bar into a pipe: {:?}",
        out.what,
        out.stderr
    );
}

/// A latency report, as libzmq's `remote_lat` prints it.
fn check_latency(out: &Outcome) {
    check_heading(out, &format!("roundtrip count: {ROUNDTRIPS}"));
    figure(out, "average latency: ", " [us]");
    assert!(!out.stderr.contains('\r'), "`{}`: a progress bar", out.what);
}

/// A unique ipc endpoint, and a way to wait until it is bound.
fn ipc_endpoint() -> (String, PathBuf) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("ferromq-cli-perf-{}-{n}.sock", std::process::id()));
    (format!("ipc://{}", path.display()), path)
}

fn wait_bound(endpoint: &str, ipc_path: Option<&Path>) {
    match ipc_path {
        None => wait_listening(endpoint, LIMIT),
        Some(path) => {
            let deadline = Instant::now() + LIMIT;
            while !path.exists() {
                assert!(Instant::now() < deadline, "nothing bound {endpoint}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// local-thr on one side, remote-thr on the other; returns the receiver's report.
fn throughput(receiver: Tool, sender: Tool, ipc: bool) -> Outcome {
    let (endpoint, path) = if ipc {
        let (e, p) = ipc_endpoint();
        (e, Some(p))
    } else {
        (free_endpoint(), None)
    };
    let local = receiver.spawn(&["local-thr", &endpoint, SIZE, COUNT]);
    wait_bound(&endpoint, path.as_deref());
    let remote = sender.spawn(&["remote-thr", &endpoint, SIZE, COUNT]);
    remote.finish(LIMIT).assert_code(0);
    let out = local.finish(LIMIT);
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
    out
}

/// local-lat on one side, remote-lat on the other; returns the measuring side's report.
fn latency(echo: Tool, measurer: Tool) -> Outcome {
    let endpoint = free_endpoint();
    let local = echo.spawn(&["local-lat", &endpoint, SIZE, ROUNDTRIPS]);
    wait_listening(&endpoint, LIMIT);
    let remote = measurer.spawn(&["remote-lat", &endpoint, SIZE, ROUNDTRIPS]);
    let out = remote.finish(LIMIT);
    local.finish(LIMIT).assert_code(0);
    out
}

#[test]
fn throughput_tools_over_tcp_and_ipc() {
    for ipc in [false, true] {
        check_throughput(&throughput(Tool::Ferromq, Tool::Ferromq, ipc));
    }
}

#[test]
fn latency_tools_over_tcp() {
    check_latency(&latency(Tool::Ferromq, Tool::Ferromq));
}

#[test]
fn inproc_tools() {
    let thr = common::spawn(&["perf", "inproc-thr", SIZE, COUNT]).finish(LIMIT);
    check_throughput(&thr);
    let lat = common::spawn(&["perf", "inproc-lat", SIZE, ROUNDTRIPS]).finish(LIMIT);
    check_latency(&lat);
}

#[test]
fn either_side_can_be_libzmqs_own_tool() {
    check_throughput(&throughput(Tool::Ferromq, Tool::Libzmq, false));
    check_throughput(&throughput(Tool::Libzmq, Tool::Ferromq, false));
    check_latency(&latency(Tool::Ferromq, Tool::Libzmq));
    check_latency(&latency(Tool::Libzmq, Tool::Ferromq));
}

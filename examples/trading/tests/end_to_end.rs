//! The trading example end to end: its own manifest (`system.toml`) run by the supervisor with
//! the short tick file, each part a real process, then checked from the recorder's file: every
//! order each strategy says it sent was answered (accepted + rejected = sent), every fill
//! belongs to an accepted order, every accepted order ended filled or expired, the positions
//! each strategy and the gateway report equal the sum of its fills, and the strategies' probes
//! provoked each kind of rejection.
//!
//! The test binary is its own supervisor: started again with `TRADING_TEST_ROLE=supervisor`,
//! it loads the manifest, points it at the short tick file, the binary cargo built and a
//! record file of its own, and runs it. The R strategy is checked when R and pbdZMQ are
//! installed, and its skip message is required when they are not.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROLE: &str = "TRADING_TEST_ROLE";
/// The whole run takes a few seconds; this only bounds a hang.
const RUN_LIMIT: Duration = Duration::from_secs(120);

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn role_entry() {
    if std::env::var(ROLE).as_deref() != Ok("supervisor") {
        return;
    }
    std::env::remove_var(ROLE);
    let record = std::env::var("TRADING_TEST_RECORD").expect("record path");
    let mut manifest =
        ferromq_system::Manifest::load(&example_dir().join("system.toml")).expect("manifest");
    for process in &mut manifest.processes {
        let env = &mut process.env;
        env.insert(
            "FERROMQ_TRADING_BIN".into(),
            env!("CARGO_BIN_EXE_ferromq-trading").into(),
        );
        env.insert("TRADING_MAX_SECS".into(), "60".into());
        match process.name.as_str() {
            "feed" => {
                env.insert("TRADING_TICKS".into(), "data/ticks-short.tsv".into());
                env.insert("TRADING_TICK_MS".into(), "8".into());
            }
            "recorder" => {
                env.insert("TRADING_RECORD".into(), record.clone());
            }
            _ => {}
        }
    }
    let code = match ferromq_system::run(manifest) {
        Ok(ending) => ending.exit_code() as i32,
        Err(e) => {
            eprintln!("supervisor failed: {e}");
            3
        }
    };
    std::process::exit(code);
}

fn r_available() -> bool {
    Command::new("sh")
        .args([
            "-c",
            "command -v Rscript && Rscript -e 'suppressMessages(library(pbdZMQ))'",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the system to its end; its exit code and every line it printed.
fn run_system(dir: &Path, record: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "role_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE, "supervisor")
        .env("TRADING_TEST_RECORD", record)
        .env("FERROMQ_RUNTIME_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|pipe| {
        let lines = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    })
    .collect();
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the system did not finish within {RUN_LIMIT:?}:\n{}",
                lines.lock().unwrap().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output = lines.lock().unwrap().join("\n");
    (status.code(), output)
}

/// What the record file says about one strategy.
#[derive(Default, Debug)]
struct Seen {
    orders: BTreeSet<String>,
    accepted: BTreeSet<String>,
    rejected: BTreeMap<String, String>,
    /// Filled order ids, each once, and the positions the fills add up to.
    filled: BTreeSet<String>,
    fill_positions: BTreeMap<String, i64>,
    expired: BTreeSet<String>,
    /// `sent accepted rejected fills expired` and positions, as the strategy reported them.
    summary: Option<(Vec<u64>, BTreeMap<String, i64>)>,
    gateway_positions: BTreeMap<String, i64>,
    pnl: bool,
}

fn nonzero(positions: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    positions
        .iter()
        .filter(|(_, &q)| q != 0)
        .map(|(i, &q)| (i.clone(), q))
        .collect()
}

fn read_record(path: &Path) -> BTreeMap<String, Seen> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "CLOSE" {
            continue;
        }
        let s = seen.entry(f[1].to_owned()).or_default();
        match f[0] {
            "ORDER" => assert!(s.orders.insert(f[2].into()), "order id twice: {line}"),
            "ACCEPTED" => assert!(s.accepted.insert(f[2].into()), "accepted twice: {line}"),
            "REJECTED" => {
                assert!(!s.accepted.contains(f[2]), "accepted and rejected: {line}");
                assert!(
                    s.rejected.insert(f[2].into(), f[3].into()).is_none(),
                    "{line}"
                );
            }
            "FILL" => {
                assert!(
                    s.accepted.contains(f[2]),
                    "a fill for an order not accepted: {line}"
                );
                assert!(s.filled.insert(f[2].into()), "filled twice: {line}");
                let sign = if f[4] == "BUY" { 1 } else { -1 };
                *s.fill_positions.entry(f[3].into()).or_default() +=
                    sign * f[5].parse::<i64>().unwrap();
            }
            "EXPIRED" => {
                assert!(
                    s.accepted.contains(f[2]),
                    "an expiry for an order not accepted: {line}"
                );
                assert!(!s.filled.contains(f[2]), "filled and expired: {line}");
                assert!(s.expired.insert(f[2].into()), "expired twice: {line}");
            }
            "SUMMARY" => {
                let counts = f[2..7].iter().map(|n| n.parse().unwrap()).collect();
                let positions = f[7..]
                    .chunks(2)
                    .map(|p| (p[0].to_owned(), p[1].parse().unwrap()))
                    .collect();
                s.summary = Some((counts, positions));
            }
            "POSITION" => {
                s.gateway_positions
                    .insert(f[2].into(), f[3].parse().unwrap());
            }
            "PNL" => s.pnl = true,
            other => panic!("an unknown record {other}: {line}"),
        }
    }
    seen
}

#[test]
fn every_order_is_accounted_for_and_fills_match_positions() {
    let r = r_available();
    let dir = std::env::temp_dir().join(format!("ferromq-trading-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("record.tsv");
    let started = Instant::now();
    let (code, output) = run_system(&dir, &record);
    eprintln!("the trading system ran in {:?}", started.elapsed());
    for line in output.lines() {
        if line.starts_with("recorder[0]|") || line.contains(": sent ") || line.contains("skipped")
        {
            eprintln!("{line}");
        }
    }
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("every process has exited"), "{output}");
    assert!(
        output.contains("recorder[0]| strategy "),
        "no P&L table:\n{output}"
    );

    let seen = read_record(&record);
    let mut expected = vec!["python", "rust"];
    if r {
        expected.push("r");
    } else {
        assert!(
            output.contains("strategy-r[0]| R strategy skipped"),
            "{output}"
        );
        eprintln!("R or pbdZMQ is not installed: the R strategy was skipped, as it said");
    }
    let names: Vec<&str> = seen.keys().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected, "{output}");

    for (name, s) in &seen {
        let (counts, positions) = s
            .summary
            .clone()
            .unwrap_or_else(|| panic!("{name}: no summary\n{output}"));
        let [sent, accepted, rejected, fills, expired] = counts[..] else {
            panic!("{name}: {counts:?}");
        };
        assert!(sent > 0, "{name} sent nothing\n{output}");
        assert_eq!(
            s.orders.len() as u64,
            sent,
            "{name}: orders the gateway saw"
        );
        assert_eq!(
            s.accepted.len() as u64 + s.rejected.len() as u64,
            sent,
            "{name}: answered"
        );
        assert_eq!(
            (s.accepted.len() as u64, s.rejected.len() as u64),
            (accepted, rejected),
            "{name}"
        );
        assert_eq!(
            (s.filled.len() as u64, s.expired.len() as u64),
            (fills, expired),
            "{name}"
        );
        assert_eq!(
            fills + expired,
            accepted,
            "{name}: every accepted order ended"
        );
        assert_eq!(
            nonzero(&positions),
            nonzero(&s.fill_positions),
            "{name}: its positions"
        );
        assert_eq!(
            nonzero(&s.gateway_positions),
            nonzero(&s.fill_positions),
            "{name}: the gateway's"
        );
        assert!(fills > 0, "{name} got no fill\n{output}");
        let reasons: BTreeSet<&str> = s.rejected.values().map(String::as_str).collect();
        for reason in ["price-band", "position", "rate"] {
            assert!(
                reasons.contains(reason),
                "{name}: no {reason} rejection: {reasons:?}"
            );
        }
        assert!(s.pnl, "{name}: no P&L");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

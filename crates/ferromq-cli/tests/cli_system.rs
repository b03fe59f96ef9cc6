//! `ferromq run`, `ps` and `lookup`: a system whose process registers with the directory from a
//! shell script (with `ferromq send`, as any language could with plain frames), found by `ps`
//! and `lookup` through the state file, and stopped by SIGINT with nothing left running.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

const LIMIT: Duration = Duration::from_secs(20);

/// Runs `ferromq args...` with the test's runtime directory, waiting for it to exit.
fn ferromq(runtime: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("FERROMQ_RUNTIME_DIR", runtime)
        .env_remove("FERROMQ_DIRECTORY")
        .output()
        .expect("run ferromq")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ferromq-cli-system-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let dir = PathBuf::from(
        dir.to_string_lossy()
            .replace([' ', '{', '}', ':', ','], "_"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_ps_lookup_and_an_orderly_stop() {
    let dir = scratch();
    let manifest = dir.join("demo.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"
[supervisor]
stop_timeout_ms = 500

[directory]
ttl_ms = 60000

[[process]]
name = "greeter"
command = "sh"
args = ["-c", '"$FERROMQ_BIN" send --type DEALER --connect "$FERROMQ_DIRECTORY" --multipart --linger 5000 REGISTER "$FERROMQ_OWNER" greeting tcp://127.0.0.1:5999 && echo registered && exec sleep 60']
env = {{ FERROMQ_BIN = {BIN:?} }}

[[process]]
name = "sleeper"
command = "sleep"
args = ["60"]
instances = 2
after = ["greeter"]
ready = "start"
"#
        ),
    )
    .unwrap();
    let mut system = Command::new(BIN)
        .args(["run", manifest.to_str().unwrap()])
        .env("FERROMQ_RUNTIME_DIR", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // ps finds the system by its state file; every instance becomes ready.
    let deadline = Instant::now() + LIMIT;
    let table = loop {
        let out = ferromq(&dir, &["ps"]);
        let table = text(&out.stdout);
        if out.status.success() && table.lines().filter(|l| l.contains(" ready ")).count() == 3 {
            break table;
        }
        if Instant::now() > deadline {
            let _ = system.kill();
            panic!("not all ready: {table}{}", text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "system demo");
    assert!(lines[1].starts_with("NAME"), "{table}");
    assert!(
        lines[2].starts_with("greeter ") && lines[2].contains(" ready "),
        "{table}"
    );
    let pids: Vec<u32> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
        .collect();

    let events = text(&ferromq(&dir, &["ps", "--events"]).stdout);
    let kinds: Vec<&str> = events
        .lines()
        .map(|l| l.split_once('\t').expect("time, tab, event").1)
        .collect();
    assert_eq!(
        kinds[0],
        format!("greeter[0] started (pid {})", pids[0]),
        "{events}"
    );
    assert_eq!(kinds[1], "greeter[0] ready", "{events}");
    assert_eq!(
        kinds.iter().filter(|k| k.ends_with(" ready")).count(),
        3,
        "{events}"
    );

    let found = ferromq(&dir, &["lookup", "greeting"]);
    assert!(found.status.success(), "{}", text(&found.stderr));
    assert_eq!(text(&found.stdout), "tcp://127.0.0.1:5999\n");
    let missing = ferromq(&dir, &["lookup", "nothing", "--wait", "100"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("no service named \"nothing\""));

    Command::new("kill")
        .args(["-INT", &system.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = system.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ferromq run did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = system.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("greeter[0]| registered"), "{stdout}");
    let order: Vec<usize> = [
        "sleeper[1] stopping: SIGTERM",
        "sleeper[0] stopping: SIGTERM",
        "greeter[0] stopping: stop message",
        "greeter[0] stopping: SIGTERM",
    ]
    .iter()
    .map(|s| {
        stderr
            .find(s)
            .unwrap_or_else(|| panic!("{s:?} missing:\n{stderr}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stderr}");
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{pid} is left"
        );
    }
    let after = ferromq(&dir, &["ps"]);
    assert_eq!(after.status.code(), Some(1));
    assert!(text(&after.stderr).contains("no system is running"));
    let _ = std::fs::remove_dir_all(&dir);
}

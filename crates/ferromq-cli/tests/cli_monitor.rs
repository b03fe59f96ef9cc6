//! `ferromq monitor`: one event a line, in libzmq's words, with endpoint and peer.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, BIN};

#[test]
fn monitor_prints_the_life_of_a_connection() {
    let port = free_port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let monitor = Command::new(BIN)
        .args([
            "monitor",
            "--type",
            "PULL",
            "--bind",
            &endpoint,
            "--count",
            "4",
            "--timeout",
            "10000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new(BIN)
        .args(["send", "--type", "PUSH", "--connect", &endpoint, "hello"])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = monitor.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "monitor exited with {}",
        output.status
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let names: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "listening",
            "accepted",
            "handshake_succeeded",
            "disconnected"
        ]
    );
    assert_eq!(lines[0], format!("listening {endpoint}"));
    let peer = lines[1].split(' ').nth(2).expect("the peer's address");
    assert!(peer.starts_with("tcp://127.0.0.1:"), "{}", lines[1]);
    assert!(lines[2].ends_with(peer), "{}", lines[2]);
    assert!(
        lines[3].contains("(the peer closed the connection)"),
        "{}",
        lines[3]
    );
}

#[test]
fn monitor_times_out_with_status_1() {
    let output = Command::new(BIN)
        .args([
            "monitor",
            "--type",
            "PULL",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "2",
            "--timeout",
            "300",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().count(),
        1,
        "only listening"
    );
}

//! The readiness fd driven by a foreign event loop: Python's `selectors`, through the
//! `fd_selectors` example program (which `cargo test` builds beside the tests).

use std::process::Command;

#[test]
fn pythons_selectors_drive_a_socket_through_its_readiness_fd() {
    let test = std::env::current_exe().unwrap();
    let example = test
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/fd_selectors");
    assert!(example.exists(), "{} was not built", example.display());
    let mut command = Command::new(&example);
    if let Ok(python) = std::env::var("FERROMQ_PYTHON") {
        command.env("FERROMQ_PYTHON", python);
    }
    let output = command.arg("30").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let received: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("received "))
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("received message {i}")).collect();
    assert_eq!(received, expected);
    let summary = stdout.lines().last().unwrap();
    let wakeups: usize = summary.split_whitespace().nth(5).unwrap().parse().unwrap();
    // "Readable" means "look again": a new fd and a peer's arrival wake it too. A fd that was
    // never lowered would spin through thousands of wake-ups.
    assert!((1..=60).contains(&wakeups), "{summary}");
}

//! `ferromq proxy`: a streamer between `ferromq send` and `ferromq recv`, the capture socket,
//! stopping on SIGTERM and SIGINT with status 0, and one-line usage errors. Every child process
//! is killed if it outlives its time limit.

mod common;

use std::time::{Duration, Instant};

use common::{assert_usage_error_line, free_endpoint, spawn, wait_listening, Outcome, Running};

/// The longest any child may run.
const LIMIT: Duration = Duration::from_secs(15);
/// How soon the proxy must exit after a signal.
const PROMPTLY: Duration = Duration::from_secs(3);

fn run(args: &[&str]) -> Outcome {
    spawn(args).finish_within(LIMIT)
}

/// Stops the proxy with `signal` and checks that it exits 0, promptly and quietly.
fn stop(proxy: Running, signal: &str) {
    let asked = Instant::now();
    proxy.signal(signal);
    let out = proxy.finish_within(PROMPTLY);
    out.assert_code(0);
    assert!(asked.elapsed() < PROMPTLY);
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
}

#[test]
fn a_streamer_passes_messages_from_send_to_recv_and_stops_on_sigterm() {
    let front = free_endpoint();
    let back = free_endpoint();
    let proxy = spawn(&[
        "proxy",
        "--frontend",
        "PULL",
        "--frontend-bind",
        &front,
        "--backend",
        "push",
        "--backend-bind",
        &back,
    ]);
    wait_listening(&front, LIMIT);
    wait_listening(&back, LIMIT);
    let receiver = spawn(&[
        "recv",
        "--type",
        "PULL",
        "--connect",
        &back,
        "--count",
        "3",
        "--timeout",
        "10000",
    ]);
    run(&[
        "send",
        "--type",
        "PUSH",
        "--connect",
        &front,
        "one",
        "two",
        "three",
    ])
    .assert_code(0);
    let received = receiver.finish_within(LIMIT);
    received.assert_code(0);
    assert_eq!(received.lines(), ["one", "two", "three"]);
    stop(proxy, "TERM");
}

#[test]
fn the_capture_socket_publishes_copies_and_sigint_stops_the_proxy() {
    let front = free_endpoint();
    let back = free_endpoint();
    let capture = free_endpoint();
    let proxy = spawn(&[
        "proxy",
        "--frontend",
        "PULL",
        "--frontend-bind",
        &front,
        "--backend",
        "PUSH",
        "--backend-bind",
        &back,
        "--capture",
        &capture,
    ]);
    wait_listening(&front, LIMIT);
    wait_listening(&back, LIMIT);
    wait_listening(&capture, LIMIT);
    let receiver = spawn(&[
        "recv",
        "--type",
        "PULL",
        "--connect",
        &back,
        "--count",
        "6",
        "--timeout",
        "10000",
    ]);
    // A subscriber only sees what is published after it has joined: the spaced-out messages
    // give it time, and it needs only the later ones.
    let listener = spawn(&[
        "recv",
        "--type",
        "SUB",
        "--connect",
        &capture,
        "--count",
        "3",
        "--timeout",
        "10000",
    ]);
    let sent = ["m1", "m2", "m3", "m4", "m5", "m6"];
    let mut send = vec![
        "send",
        "--type",
        "PUSH",
        "--connect",
        &front,
        "--interval",
        "150",
    ];
    send.extend_from_slice(&sent);
    run(&send).assert_code(0);
    let received = receiver.finish_within(LIMIT);
    received.assert_code(0);
    assert_eq!(received.lines(), sent);
    let copies = listener.finish_within(LIMIT);
    copies.assert_code(0);
    let lines = copies.lines();
    let start = sent
        .iter()
        .position(|m| Some(m) == lines.first())
        .unwrap_or_else(|| panic!("copies of what was sent: {lines:?}"));
    assert_eq!(lines, sent[start..start + 3], "copies, in order");
    stop(proxy, "INT");
}

// ---- bad arguments -------------------------------------------------------------------------

/// The command must fail with status 2 and one line on stderr containing each of `names`.
fn assert_usage_error(args: &[&str], names: &[&str]) {
    assert_usage_error_line(&run(args), names);
}

#[test]
fn bad_arguments_exit_2_with_one_line_naming_the_argument() {
    let ep = free_endpoint();
    let ep2 = free_endpoint();
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULL",
            "--frontend-bind",
            &ep,
            "--backend",
            "PUSH",
        ],
        &["--backend"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULLEY",
            "--frontend-bind",
            &ep,
            "--backend",
            "PUSH",
            "--backend-bind",
            &ep2,
        ],
        &["--frontend", "PULLEY"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULL",
            "--frontend-bind",
            "tcp//nowhere",
            "--backend",
            "PUSH",
            "--backend-bind",
            &ep2,
        ],
        &["--frontend-bind", "tcp//nowhere"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "PULL",
            "--frontend-bind",
            &ep,
            "--backend",
            "PUSH",
            "--backend-connect",
            "tcp://*:1",
        ],
        &["--backend-connect"],
    );
    assert_usage_error(
        &[
            "proxy",
            "--frontend",
            "ROUTER",
            "--frontend-bind",
            &ep,
            "--backend",
            "DEALER",
            "--backend-bind",
            &ep2,
            "--capture",
            "bogus",
        ],
        &["--capture", "bogus"],
    );
    assert_usage_error(
        &["proxy", "--frontend", "PULL", "--frontend-bind", &ep],
        &["--backend"],
    );
    assert_usage_error(
        &["proxy", "--frontend-bind", &ep, "--backend", "PUSH"],
        &["--frontend"],
    );
}

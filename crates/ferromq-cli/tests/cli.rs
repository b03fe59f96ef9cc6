//! The `ferromq` binary: argument errors, `send` and `recv` over tcp, output formats,
//! timeouts and subscriptions. Every child process is killed if it outlives its time limit.

mod common;

use std::time::Duration;

use common::{
    assert_usage_error_line, free_endpoint, spawn, spawn_with_stdin, wait_listening, Outcome,
};

/// The longest any child may run.
const LIMIT: Duration = Duration::from_secs(10);

fn run(args: &[&str], stdin: Option<&str>) -> Outcome {
    spawn_with_stdin(args, stdin).finish(LIMIT)
}

/// Runs `recv`, waits until it listens, then runs `send` against it; both must exit 0.
fn transfer(recv_args: &[&str], send_args: &[&str], stdin: Option<&str>) -> Outcome {
    let endpoint = free_endpoint();
    let mut recv = vec![
        "recv",
        "--type",
        "PULL",
        "--bind",
        &endpoint,
        "--timeout",
        "8000",
    ];
    recv.extend_from_slice(recv_args);
    let mut send = vec!["send", "--type", "PUSH", "--connect", &endpoint];
    send.extend_from_slice(send_args);
    let receiver = spawn(&recv);
    wait_listening(&endpoint, LIMIT);
    let sent = run(&send, stdin);
    sent.assert_code(0);
    let received = receiver.finish(LIMIT);
    received.assert_code(0);
    received
}

// ---- bad arguments -------------------------------------------------------------------------

/// The command must fail with status 2 and one line on stderr containing each of `names`.
fn assert_usage_error(args: &[&str], names: &[&str]) {
    let out = run(args, None);
    assert_usage_error_line(&out, names);
    assert!(
        out.stdout.is_empty(),
        "`{}` printed on stdout: {}",
        out.what,
        out.stdout
    );
}

#[test]
fn an_unknown_socket_type_is_a_usage_error() {
    let ep = free_endpoint();
    assert_usage_error(
        &["recv", "--type", "FOO", "--bind", &ep],
        &["--type", "FOO"],
    );
    assert_usage_error(
        &["send", "--type", "ROUTERX", "--connect", &ep, "m"],
        &["--type", "ROUTERX"],
    );
}

#[test]
fn a_missing_endpoint_is_a_usage_error() {
    assert_usage_error(&["recv", "--type", "PULL"], &["--bind", "--connect"]);
    assert_usage_error(&["send", "--type", "PUSH", "m"], &["--bind", "--connect"]);
}

#[test]
fn a_malformed_endpoint_is_a_usage_error() {
    assert_usage_error(
        &["recv", "--type", "PULL", "--bind", "tcp://127.0.0.1"],
        &["--bind", "tcp://127.0.0.1"],
    );
    assert_usage_error(
        &["send", "--type", "PUSH", "--connect", "nowhere:5555", "m"],
        &["--connect", "nowhere:5555"],
    );
}

#[test]
fn subscribe_on_a_pull_is_a_usage_error() {
    let ep = free_endpoint();
    assert_usage_error(
        &["recv", "--type", "PULL", "--bind", &ep, "--subscribe", "a"],
        &["--subscribe"],
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let ep = free_endpoint();
    assert_usage_error(
        &["recv", "--type", "PULL", "--bind", &ep, "--frobnicate"],
        &["--frobnicate"],
    );
    assert_usage_error(
        &[
            "send",
            "--type",
            "PUSH",
            "--connect",
            &ep,
            "--frobnicate",
            "m",
        ],
        &["--frobnicate"],
    );
}

// ---- send and recv -------------------------------------------------------------------------

#[test]
fn recv_prints_what_send_sends() {
    let out = transfer(&["--count", "3"], &["a", "b", "c"], None);
    assert_eq!(out.stdout, "a\nb\nc\n", "stderr: {}", out.stderr);
}

#[test]
fn multipart_prints_one_line_of_tab_separated_frames() {
    let out = transfer(
        &["--count", "1"],
        &["--multipart", "first", "second", "third"],
        None,
    );
    assert_eq!(out.stdout, "first\tsecond\tthird\n");
}

#[test]
fn stdin_lines_are_sent_when_no_message_is_given() {
    let out = transfer(
        &["--count", "3"],
        &[],
        Some("line one\nsecond line\nthird\n"),
    );
    assert_eq!(
        out.lines(),
        ["line one", "second line", "third"],
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn hex_json_and_text_formats() {
    let hex = transfer(
        &["--count", "1", "--format", "hex"],
        &["--multipart", "hi", "", "A B"],
        None,
    );
    assert_eq!(hex.stdout, "6869\t\t412042\n");

    let json = transfer(
        &["--count", "1", "--format", "json"],
        &[
            "--multipart",
            "say \"hi\"",
            "back\\slash",
            "tab\there",
            "ünï",
            "",
        ],
        None,
    );
    assert_eq!(
        json.stdout,
        concat!(r#"["say \"hi\"","back\\slash","tab\there","ünï",""]"#, "\n")
    );

    let text = transfer(
        &["--count", "1"],
        &["--multipart", "plain", "tab\there"],
        None,
    );
    assert_eq!(text.stdout, "plain\t0x7461620968657265\n");
}

#[test]
fn recv_times_out_without_a_sender() {
    let endpoint = free_endpoint();
    let out = run(
        &[
            "recv",
            "--type",
            "PULL",
            "--bind",
            &endpoint,
            "--timeout",
            "300",
            "--count",
            "1",
        ],
        None,
    );
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
    assert!(
        out.elapsed >= Duration::from_millis(300) && out.elapsed < Duration::from_secs(3),
        "--timeout 300, exited after {:?}",
        out.elapsed
    );
    assert!(
        out.stderr.contains("timed out"),
        "stderr should say it timed out: {}",
        out.stderr
    );
}

#[test]
fn sub_receives_only_its_prefixes() {
    let endpoint = free_endpoint();
    let receiver = spawn(&[
        "recv",
        "--type",
        "SUB",
        "--connect",
        &endpoint,
        "--subscribe",
        "a",
        "--subscribe",
        "c",
        "--count",
        "4",
    ]);
    let messages: Vec<String> = (0..20)
        .flat_map(|i| [format!("a{i}"), format!("b{i}"), format!("c{i}")])
        .collect();
    let mut args = vec![
        "send",
        "--type",
        "PUB",
        "--bind",
        &endpoint,
        "--interval",
        "40",
    ];
    args.extend(messages.iter().map(String::as_str));
    let sender = spawn(&args);
    let out = receiver.finish(LIMIT);
    out.assert_code(0);
    let sent = sender.finish(LIMIT);
    sent.assert_code(0);
    let lines = out.lines();
    assert_eq!(lines.len(), 4, "stdout: {}", out.stdout);
    let wanted: Vec<&str> = messages
        .iter()
        .map(String::as_str)
        .filter(|m| !m.starts_with('b'))
        .collect();
    let start = wanted
        .iter()
        .position(|m| *m == lines[0])
        .unwrap_or_else(|| panic!("received {lines:?}, which was not subscribed to"));
    assert_eq!(
        lines,
        &wanted[start..start + 4],
        "a SUB subscribed to a and c should get every a and c message from the first on, in order"
    );
}

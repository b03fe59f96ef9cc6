//! The `ferromq` binary in request-reply: `send --type REQ` prints each reply, `recv --echo`
//! answers as REP or ROUTER, and the errors and exit codes around them. Every child process is
//! killed if it outlives its time limit.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{free_port, spawn};

/// The longest any child may run.
const LIMIT: Duration = Duration::from_secs(20);

/// A unique ipc endpoint; its socket file is removed on drop.
struct Ipc(std::path::PathBuf);

impl Ipc {
    fn new(tag: &str) -> Ipc {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::path::PathBuf::from(format!(
            "/tmp/ferromq-cli-reqrep-{tag}-{}-{n}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Ipc(path)
    }

    fn endpoint(&self) -> String {
        format!("ipc://{}", self.0.display())
    }
}

impl Drop for Ipc {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn send_req_prints_each_reply_of_recv_rep_echo() {
    let bind = format!("tcp://127.0.0.1:{}", free_port());
    let server = spawn(&[
        "recv",
        "--type",
        "REP",
        "--bind",
        &bind,
        "--echo",
        "--count",
        "2",
        "--timeout",
        "15000",
    ]);
    let client = spawn(&[
        "send",
        "--type",
        "REQ",
        "--connect",
        &bind,
        "a",
        "b",
        "--timeout",
        "5000",
    ]);
    let client = client.finish(LIMIT);
    client.assert_code(0);
    assert_eq!(client.stdout, "a\nb\n", "REQ prints each reply on its line");
    let server = server.finish(LIMIT);
    server.assert_code(0);
    assert_eq!(
        server.stdout, "a\nb\n",
        "REP prints each request it answers"
    );
    assert_eq!(server.stderr, "", "no complaints from REP");
}

#[test]
fn recv_router_echo_shows_the_id_the_delimiter_and_the_body_in_hex() {
    let ipc = Ipc::new("router");
    let endpoint = ipc.endpoint();
    let server = spawn(&[
        "recv",
        "--type",
        "ROUTER",
        "--bind",
        &endpoint,
        "--echo",
        "--format",
        "hex",
        "--count",
        "1",
        "--timeout",
        "15000",
    ]);
    let client = spawn(&[
        "send",
        "--type",
        "REQ",
        "--connect",
        &endpoint,
        "hello",
        "--timeout",
        "5000",
    ]);
    let client = client.finish(LIMIT);
    client.assert_code(0);
    assert_eq!(
        client.stdout, "hello\n",
        "the ROUTER's echo reached the REQ as its reply"
    );
    let server = server.finish(LIMIT);
    server.assert_code(0);
    let lines: Vec<&str> = server.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one message: {:?}", server.stdout);
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 3, "id, empty delimiter, body: {:?}", lines[0]);
    let id = fields[0];
    assert!(
        id.len() == 10 && id.starts_with("00") && id.chars().all(|c| c.is_ascii_hexdigit()),
        "a generated 5-byte routing id in hex, starting with 00: {id:?}"
    );
    assert_eq!(fields[1], "", "the delimiter is an empty frame");
    assert_eq!(fields[2], "68656c6c6f", "the body in hex");
}

#[test]
fn recv_rep_without_echo_is_a_usage_error() {
    let bind = format!("tcp://127.0.0.1:{}", free_port());
    let outcome = spawn(&["recv", "--type", "REP", "--bind", &bind]).finish(LIMIT);
    outcome.assert_code(2);
    assert_eq!(outcome.stdout, "", "nothing on stdout");
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line of error: {:?}", outcome.stderr);
    assert!(
        lines[0].starts_with("ferromq: ") && lines[0].contains("--echo"),
        "the error names the missing --echo: {:?}",
        lines[0]
    );
    assert!(
        outcome.elapsed < Duration::from_secs(5),
        "a usage error is immediate, took {:?}",
        outcome.elapsed
    );
}

#[test]
fn send_req_to_nothing_gives_up_after_its_timeout() {
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let outcome = spawn(&[
        "send",
        "--type",
        "REQ",
        "--connect",
        &endpoint,
        "anyone?",
        "--timeout",
        "300",
    ])
    .finish(Duration::from_secs(10));
    outcome.assert_code(1);
    assert_eq!(outcome.stdout, "", "no reply printed");
    assert!(
        outcome.stderr.contains("no reply") && outcome.stderr.contains("300 ms"),
        "the error says that no reply came within the timeout: {:?}",
        outcome.stderr
    );
    assert!(
        outcome.elapsed >= Duration::from_millis(300) && outcome.elapsed < Duration::from_secs(5),
        "exited after {:?}, the timeout is 300 ms",
        outcome.elapsed
    );
}

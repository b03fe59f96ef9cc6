//! `ferromq keygen` and the `--curve-*` and `--plain-*` flags of `send`, `recv` and `monitor`:
//! round trips between separate processes, refused peers, and one-line usage errors. Every
//! child process is killed if it outlives its time limit.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_usage_error_line, free_endpoint, spawn, wait_listening, Outcome};
use ferromq::{curve_public, z85, CurvePublicKey, CurveSecretKey};

/// The longest any child may run.
const LIMIT: Duration = Duration::from_secs(15);

fn run(args: &[&str]) -> Outcome {
    spawn(args).finish(LIMIT)
}

/// A directory of key files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "ferromq-cli-security-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    /// Writes `contents` to `name` in the directory; returns `@PATH`, as the flags take it.
    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("a key file");
        format!("@{}", path.display())
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A key pair from `ferromq keygen`: its whole output, and the two keys.
struct KeyPair {
    output: String,
    public: String,
    secret: String,
}

fn keygen() -> KeyPair {
    let out = run(&["keygen"]);
    out.assert_code(0);
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "keygen printed: {}", out.stdout);
    let public = lines[0]
        .strip_prefix("public: ")
        .unwrap_or_else(|| panic!("the first line is `public: KEY`: {}", lines[0]));
    let secret = lines[1]
        .strip_prefix("secret: ")
        .unwrap_or_else(|| panic!("the second line is `secret: KEY`: {}", lines[1]));
    KeyPair {
        public: public.to_string(),
        secret: secret.to_string(),
        output: out.stdout.clone(),
    }
}

/// The command must fail with status 2 and one line on stderr containing each of `names`.
fn assert_usage_error(args: &[&str], names: &[&str]) {
    let out = run(args);
    assert_usage_error_line(&out, names);
    assert!(
        out.stdout.is_empty(),
        "`{}` printed: {}",
        out.what,
        out.stdout
    );
}

// ---- keygen --------------------------------------------------------------------------------

#[test]
fn keygen_prints_a_labelled_z85_key_pair() {
    let pair = keygen();
    for key in [&pair.public, &pair.secret] {
        assert_eq!(key.len(), 40, "{key:?}");
        let bytes = z85::decode(key).unwrap_or_else(|e| panic!("{key:?} is not Z85: {e}"));
        assert_eq!(bytes.len(), 32);
    }
    let secret = CurveSecretKey::from_z85(&pair.secret).unwrap();
    assert_eq!(
        curve_public(&secret),
        CurvePublicKey::from_z85(&pair.public).unwrap(),
        "the public key is the secret key's"
    );
    let other = keygen();
    assert_ne!(pair.secret, other.secret, "each run makes a new pair");
}

// ---- CURVE ---------------------------------------------------------------------------------

/// Starts a CURVE server `recv` with `server`'s key file, waits until it listens, then sends
/// `messages` from a client that believes the server's public key is `server_public`.
fn curve_transfer(
    dir: &TempDir,
    server: &KeyPair,
    server_public: &str,
    recv_extra: &[&str],
    messages: &[&str],
) -> Outcome {
    let endpoint = free_endpoint();
    let server_file = dir.file("server.key", &server.output);
    let client = keygen();
    // The client's secret alone on one line: the other form `@FILE` reads.
    let client_secret = dir.file("client.secret", &format!("{}\n", client.secret));
    let mut recv = vec![
        "recv",
        "--type",
        "PULL",
        "--bind",
        &endpoint,
        "--curve-server",
        "--curve-secretkey",
        &server_file,
    ];
    recv.extend_from_slice(recv_extra);
    let receiver = spawn(&recv);
    wait_listening(&endpoint, LIMIT);
    let mut send = vec![
        "send",
        "--type",
        "PUSH",
        "--connect",
        &endpoint,
        "--curve-serverkey",
        server_public,
        "--curve-publickey",
        &client.public,
        "--curve-secretkey",
        &client_secret,
        "--linger",
        "3000",
    ];
    send.extend_from_slice(messages);
    let sender = spawn(&send);
    let received = receiver.finish(LIMIT);
    sender.finish(LIMIT);
    received
}

#[test]
fn curve_round_trip_delivers_the_messages() {
    let dir = TempDir::new("curve-ok");
    let server = keygen();
    let out = curve_transfer(
        &dir,
        &server,
        &server.public,
        &["--count", "2", "--timeout", "10000"],
        &["hello", "world"],
    );
    out.assert_code(0);
    assert_eq!(out.lines(), ["hello", "world"]);
}

#[test]
fn curve_with_a_wrong_server_key_delivers_nothing() {
    let dir = TempDir::new("curve-wrong");
    let server = keygen();
    let impostor = keygen();
    let out = curve_transfer(
        &dir,
        &server,
        &impostor.public,
        &["--count", "1", "--timeout", "2000"],
        &["hello"],
    );
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "received: {}", out.stdout);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn curve_server_refuses_a_client_without_curve() {
    let dir = TempDir::new("curve-null");
    let server = keygen();
    let server_file = dir.file("server.key", &server.output);
    let endpoint = free_endpoint();
    let receiver = spawn(&[
        "recv",
        "--type",
        "PULL",
        "--bind",
        &endpoint,
        "--curve-server",
        "--curve-secretkey",
        &server_file,
        "--count",
        "1",
        "--timeout",
        "2000",
    ]);
    wait_listening(&endpoint, LIMIT);
    let sender = spawn(&[
        "send",
        "--type",
        "PUSH",
        "--connect",
        &endpoint,
        "--linger",
        "1500",
        "hello",
    ]);
    let out = receiver.finish(LIMIT);
    sender.finish(LIMIT);
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "received: {}", out.stdout);
}

#[test]
fn monitor_shows_a_curve_handshake_succeeding() {
    let dir = TempDir::new("curve-monitor");
    let server = keygen();
    let server_file = dir.file("server.key", &server.output);
    let client = keygen();
    let client_file = dir.file("client.key", &client.output);
    let endpoint = free_endpoint();
    let mut monitor = spawn(&[
        "monitor",
        "--type",
        "PULL",
        "--bind",
        &endpoint,
        "--curve-server",
        "--curve-secretkey",
        &server_file,
        "--count",
        "3",
        "--timeout",
        "10000",
    ]);
    let first = monitor.next_line(LIMIT);
    assert_eq!(first, format!("listening {endpoint}"));
    let sender = spawn(&[
        "send",
        "--type",
        "PUSH",
        "--connect",
        &endpoint,
        "--curve-serverkey",
        &server.public,
        "--curve-publickey",
        &client_file,
        "--curve-secretkey",
        &client_file,
        "--linger",
        "1000",
        "hello",
    ]);
    let out = monitor.finish(LIMIT);
    sender.finish(LIMIT);
    out.assert_code(0);
    let names: Vec<&str> = out
        .lines()
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["listening", "accepted", "handshake_succeeded"],
        "{}",
        out.stdout
    );
}

// ---- PLAIN ---------------------------------------------------------------------------------

/// Starts a PLAIN server `recv` that lets in alice (password "open sesame"), then `send` with
/// `send_extra` flags.
fn plain_transfer(recv_extra: &[&str], send_extra: &[&str]) -> Outcome {
    let endpoint = free_endpoint();
    let mut recv = vec![
        "recv",
        "--type",
        "PULL",
        "--bind",
        &endpoint,
        "--plain-server",
        "--plain-user",
        "alice:open sesame",
    ];
    recv.extend_from_slice(recv_extra);
    let receiver = spawn(&recv);
    wait_listening(&endpoint, LIMIT);
    let mut send = vec![
        "send",
        "--type",
        "PUSH",
        "--connect",
        &endpoint,
        "--linger",
        "3000",
    ];
    send.extend_from_slice(send_extra);
    let sender = spawn(&send);
    let received = receiver.finish(LIMIT);
    sender.finish(LIMIT);
    received
}

#[test]
fn plain_round_trip_delivers_the_messages() {
    let out = plain_transfer(
        &["--count", "2", "--timeout", "10000"],
        &[
            "--plain-username",
            "alice",
            "--plain-password",
            "open sesame",
            "hello",
            "world",
        ],
    );
    out.assert_code(0);
    assert_eq!(out.lines(), ["hello", "world"]);
}

#[test]
fn plain_server_refuses_a_wrong_password() {
    let out = plain_transfer(
        &["--count", "1", "--timeout", "2000"],
        &[
            "--plain-username",
            "alice",
            "--plain-password",
            "guess",
            "hello",
        ],
    );
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "received: {}", out.stdout);
}

#[test]
fn plain_server_refuses_a_client_without_credentials() {
    let out = plain_transfer(&["--count", "1", "--timeout", "2000"], &["hello"]);
    out.assert_code(1);
    assert!(out.stdout.is_empty(), "received: {}", out.stdout);
}

// ---- usage errors --------------------------------------------------------------------------

#[test]
fn contradictory_security_flags_are_usage_errors() {
    let pair = keygen();
    let other = keygen();
    let (public, secret) = (pair.public.as_str(), pair.secret.as_str());
    let ep = "tcp://127.0.0.1:*";
    let recv = ["recv", "--type", "PULL", "--bind", ep];
    let send = ["send", "--type", "PUSH", "--connect", "tcp://127.0.0.1:9"];
    let monitor = ["monitor", "--type", "PULL", "--bind", ep];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--curve-server"],
            vec!["--curve-server", "--curve-secretkey"],
        ),
        (
            vec!["--curve-secretkey", secret],
            vec!["--curve-secretkey", "--curve-serverkey"],
        ),
        (
            vec!["--curve-publickey", public],
            vec!["--curve-publickey", "--curve-serverkey"],
        ),
        (
            vec!["--curve-serverkey", public],
            vec!["--curve-serverkey", "--curve-secretkey"],
        ),
        (
            vec![
                "--curve-server",
                "--curve-secretkey",
                secret,
                "--curve-serverkey",
                public,
            ],
            vec!["--curve-server", "--curve-serverkey"],
        ),
        (
            vec!["--plain-server", "--plain-username", "alice"],
            vec!["--plain-server", "--plain-username"],
        ),
        (
            vec!["--plain-server", "--plain-password", "pw"],
            vec!["--plain-server", "--plain-password"],
        ),
        (
            vec!["--plain-password", "pw"],
            vec!["--plain-password", "--plain-username"],
        ),
        (
            vec!["--plain-server"],
            vec!["--plain-server", "--plain-user"],
        ),
        (
            vec!["--plain-user", "a:b"],
            vec!["--plain-user", "--plain-server"],
        ),
        (
            vec!["--plain-server", "--plain-user", "no-colon"],
            vec!["--plain-user", "NAME:PASSWORD"],
        ),
        (
            vec![
                "--curve-serverkey",
                public,
                "--curve-secretkey",
                secret,
                "--plain-username",
                "alice",
            ],
            vec!["--curve-serverkey", "--plain-username"],
        ),
        (
            vec!["--curve-server", "--plain-server"],
            vec!["--curve-server", "--plain-server"],
        ),
        (
            vec![
                "--curve-serverkey",
                public,
                "--curve-secretkey",
                secret,
                "--curve-publickey",
                &other.public,
            ],
            vec!["--curve-publickey", "--curve-secretkey"],
        ),
    ];
    for (flags, names) in &cases {
        for command in [&recv[..], &send[..], &monitor[..]] {
            let args: Vec<&str> = command.iter().chain(flags).copied().collect();
            assert_usage_error(&args, names);
        }
    }
}

#[test]
fn a_malformed_key_is_a_usage_error_naming_its_flag() {
    let dir = TempDir::new("bad-keys");
    let pair = keygen();
    let (public, secret) = (pair.public.as_str(), pair.secret.as_str());
    let send = ["send", "--type", "PUSH", "--connect", "tcp://127.0.0.1:9"];
    let short = &public[..39];
    let not_z85 = "~".repeat(40);
    let missing = format!("@{}", dir.path().join("missing.key").display());
    let only_secret = dir.file("only-secret.key", &format!("secret: {secret}\n"));
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--curve-serverkey", short, "--curve-secretkey", secret],
            vec!["--curve-serverkey", "40", "39"],
        ),
        (
            vec!["--curve-serverkey", public, "--curve-secretkey", &not_z85],
            vec!["--curve-secretkey", "Z85"],
        ),
        (
            vec!["--curve-serverkey", public, "--curve-secretkey", &missing],
            vec!["--curve-secretkey", "missing.key"],
        ),
        (
            vec![
                "--curve-serverkey",
                &only_secret,
                "--curve-secretkey",
                secret,
            ],
            vec!["--curve-serverkey", "public:"],
        ),
        (
            vec!["--curve-serverkey", public, "--curve-secretkey", ""],
            vec!["--curve-secretkey", "40"],
        ),
    ];
    for (flags, names) in &cases {
        let args: Vec<&str> = send.iter().chain(flags).copied().collect();
        assert_usage_error(&args, names);
    }
    // A malformed secret key is not repeated on the terminal.
    let leaky = &secret[..39];
    let out = run(&[
        &send[..],
        &["--curve-serverkey", public, "--curve-secretkey", leaky],
    ]
    .concat());
    out.assert_code(2);
    assert!(!out.stderr.contains(leaky), "{}", out.stderr);
}

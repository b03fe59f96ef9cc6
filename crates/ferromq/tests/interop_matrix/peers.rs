//! The foreign peers of the matrix: how to find or build each one, how to start it, and what
//! it cannot do. Every peer speaks the line protocol of `interop/python/zmq_peer.py`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cases::{Case, Direction};
use crate::common::{self, Peer, Transport};

/// One implementation of ZeroMQ to test against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pyzmq,
    Jeromq,
    Libzmq,
    Czmq,
    Pbdzmq,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Pyzmq,
        Kind::Jeromq,
        Kind::Libzmq,
        Kind::Czmq,
        Kind::Pbdzmq,
    ];

    /// The name in the table, and in `FERROMQ_INTEROP_PEERS`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pyzmq => "pyzmq",
            Kind::Jeromq => "jeromq",
            Kind::Libzmq => "libzmq",
            Kind::Czmq => "czmq",
            Kind::Pbdzmq => "pbdzmq",
        }
    }

    /// Why this peer cannot play `case` over `transport` in `direction`, if it cannot.
    pub fn unsupported(
        self,
        case: Case,
        transport: Transport,
        direction: Direction,
    ) -> Option<&'static str> {
        let peer_is_plain_req_server =
            case == Case::Plain && !direction.ferro_first && !direction.ferro_binds;
        match self {
            Kind::Jeromq if matches!(transport, Transport::Ipc) => Some(
                "JeroMQ 0.3 emulates ipc:// with tcp on the loopback, not a Unix domain socket",
            ),
            Kind::Jeromq if matches!(case, Case::Curve) => {
                Some("JeroMQ 0.3 (a port of libzmq 3.2) has no CURVE")
            }
            Kind::Jeromq if matches!(case, Case::Plain) => {
                Some("JeroMQ 0.3 (a port of libzmq 3.2) has no PLAIN")
            }
            Kind::Pyzmq | Kind::Libzmq | Kind::Czmq | Kind::Pbdzmq if peer_is_plain_req_server => {
                Some(
                    "libzmq's REQ as a PLAIN server drops the connection when the reply comes \
                     (its REQ refuses the ZAP User-Id it is handed first); it does the same to \
                     a libzmq REP",
                )
            }
            _ => None,
        }
    }

    /// Finds the peer's software (building the C peers); the error says what is missing and
    /// how to install it.
    pub fn launcher(self, build_dir: &Path) -> Result<Launcher, String> {
        let interop = common::workspace_root().join("interop");
        match self {
            Kind::Pyzmq => {
                let python = std::panic::catch_unwind(common::pyzmq_python)
                    .map_err(|e| crate::panic_text(e.as_ref()))?;
                Ok(Launcher::new(python, [interop.join("python/zmq_peer.py")]))
            }
            Kind::Jeromq => {
                let jar = std::env::var_os("FERROMQ_JEROMQ_JAR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/usr/share/java/jeromq.jar"));
                if !jar.is_file() {
                    return Err(format!(
                        "no JeroMQ at {} (apt-get install libjeromq-java, or set \
                         FERROMQ_JEROMQ_JAR)",
                        jar.display()
                    ));
                }
                probe(
                    "java",
                    &["-version"],
                    "apt-get install default-jre-headless",
                )?;
                Ok(Launcher::new(
                    "java".into(),
                    [PathBuf::from("-cp"), jar, interop.join("java/ZmqPeer.java")],
                ))
            }
            Kind::Libzmq => compile(
                &interop.join("c/zmq_peer.c"),
                &build_dir.join("zmq_peer"),
                &["-lzmq", "-lpthread"],
                "apt-get install libzmq3-dev",
            ),
            Kind::Czmq => compile(
                &interop.join("c/czmq_peer.c"),
                &build_dir.join("czmq_peer"),
                &["-lczmq", "-lzmq"],
                "apt-get install libczmq-dev",
            ),
            Kind::Pbdzmq => {
                probe(
                    "Rscript",
                    &["-e", "library(pbdZMQ)"],
                    "apt-get install r-cran-pbdzmq",
                )?;
                Ok(Launcher::new(
                    "Rscript".into(),
                    [interop.join("r/zmq_peer.R")],
                ))
            }
        }
    }
}

/// A command line that starts one peer process.
#[derive(Clone, Debug)]
pub struct Launcher {
    program: PathBuf,
    args: Vec<PathBuf>,
}

impl Launcher {
    fn new(program: PathBuf, args: impl IntoIterator<Item = PathBuf>) -> Launcher {
        Launcher {
            program,
            args: args.into_iter().collect(),
        }
    }

    /// The command that starts the peer; arguments added to it are command lines to run.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        command
    }

    pub fn spawn(&self, name: &str) -> Peer {
        Peer::spawn(name, self.command())
    }
}

/// Runs a command that must succeed for a peer to be usable.
fn probe(program: &str, args: &[&str], install: &str) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e} ({install})"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{program} {}` failed: {} ({install})",
        args.join(" "),
        last_line(&output.stderr)
    ))
}

/// Compiles one C peer with the system's `cc`.
fn compile(source: &Path, output: &Path, libs: &[&str], install: &str) -> Result<Launcher, String> {
    let result = Command::new("cc")
        .args(["-O1", "-Wall", "-o"])
        .arg(output)
        .arg(source)
        .args(libs)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cc: {e} (apt-get install gcc)"))?;
    if !result.status.success() {
        return Err(format!(
            "cannot compile {}: {} ({install})",
            source.file_name().unwrap_or_default().to_string_lossy(),
            first_error(&result.stderr)
        ));
    }
    Ok(Launcher::new(output.to_path_buf(), []))
}

/// The compiler's first error (a missing header names the package to install).
fn first_error(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    match text.lines().find(|l| l.contains("error")) {
        Some(line) => line.trim().to_string(),
        None => last_line(text.as_bytes()),
    }
}

fn last_line(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

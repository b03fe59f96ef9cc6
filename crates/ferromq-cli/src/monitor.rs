//! `ferromq monitor`: open a socket and print what happens to its connections.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ferromq::{Context, ErrorKind};

use crate::deadline::Deadline;
use crate::socket_args::SocketArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    socket: SocketArgs,
    /// Exit 0 after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Exit 1 if --count events have not happened within MS milliseconds.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
}

/// Prints one event a line: its name in libzmq's words, the endpoint, the peer's address
/// when there is one, and the reason or value when there is one.
pub(crate) fn run(args: Args) -> ExitCode {
    let ctx = Context::new();
    let socket = match args.socket.create(&ctx) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let monitor = match socket.monitor() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ferromq: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(code) = args.socket.attach(&socket) {
        return code;
    }
    let deadline = Deadline::new(args.timeout);
    let mut stdout = std::io::stdout().lock();
    let mut seen = 0u64;
    while args.count.is_none_or(|n| seen < n) {
        let wait = match deadline.remaining(&format!("{seen} events")) {
            Ok(wait) => wait,
            Err(code) => return code,
        };
        let event = match monitor.recv_timeout(wait) {
            Ok(event) => event,
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => {
                eprintln!("ferromq: {e}");
                return ExitCode::from(1);
            }
        };
        seen += 1;
        let mut line = format!("{} {}", event.event.name(), event.endpoint);
        if !event.peer_address.is_empty() {
            line.push(' ');
            line.push_str(&event.peer_address);
        }
        if let Some(reason) = event.event.reason() {
            line.push_str(&format!(" ({reason})"));
        } else if event.event.value() != 0 {
            line.push_str(&format!(" ({})", event.event.value()));
        }
        if writeln!(stdout, "{line}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            return ExitCode::SUCCESS;
        }
    }
    let _ = socket.set_linger(Some(Duration::ZERO));
    ExitCode::SUCCESS
}

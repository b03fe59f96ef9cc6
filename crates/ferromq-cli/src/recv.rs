//! `ferromq recv`: print what arrives.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ferromq::{Context, ErrorKind, SocketType};

use crate::deadline::Deadline;
use crate::format::{render, Format};
use crate::socket_args::SocketArgs;
use crate::usage_error;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    socket: SocketArgs,
    /// Subscribe to messages starting with PREFIX (SUB only; repeatable; default: everything).
    #[arg(long, value_name = "PREFIX")]
    subscribe: Vec<String>,
    /// Exit 0 after this many messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Exit 1 if --count messages have not arrived within MS milliseconds.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
    /// How to print each message.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Send each message back as it came (a REP socket answers with the request; a ROUTER
    /// returns it to its sender).
    #[arg(long)]
    echo: bool,
}

pub(crate) fn run(args: Args) -> ExitCode {
    if !args.subscribe.is_empty() && args.socket.socket_type != SocketType::Sub {
        return usage_error("--subscribe: only a SUB socket subscribes");
    }
    if args.socket.socket_type == SocketType::Rep && !args.echo {
        return usage_error("--type REP needs --echo: a REP socket must answer every request");
    }
    let ctx = Context::new();
    let socket = match args.socket.open(&ctx) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if args.socket.socket_type == SocketType::Sub {
        let prefixes = if args.subscribe.is_empty() {
            vec![String::new()]
        } else {
            args.subscribe.clone()
        };
        for prefix in prefixes {
            if let Err(e) = socket.subscribe(prefix.as_bytes()) {
                return usage_error(format!("--subscribe: {e}"));
            }
        }
    }
    let deadline = Deadline::new(args.timeout);
    let mut stdout = std::io::stdout().lock();
    let mut received = 0u64;
    while args.count.is_none_or(|n| received < n) {
        let wait = match deadline.remaining(&format!("{received} messages")) {
            Ok(wait) => wait,
            Err(code) => return code,
        };
        let _ = socket.set_rcvtimeo(wait);
        match socket.recv() {
            Ok(msg) => {
                received += 1;
                if writeln!(stdout, "{}", render(&msg, args.format))
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    return ExitCode::SUCCESS;
                }
                if args.echo {
                    if let Err(e) = socket.send(msg) {
                        eprintln!("ferromq: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => {
                eprintln!("ferromq: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let _ = socket.set_linger(Some(Duration::ZERO));
    ExitCode::SUCCESS
}
